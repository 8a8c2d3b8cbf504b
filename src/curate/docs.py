"""Config reference generated from the pydantic models, so the docs cannot drift from the code.

`curate stages` prints it; `python -m curate.docs > docs/config-reference.md` writes the file
(and a test checks the file is current).
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from curate.errors import ConfigError
from curate.stages import REGISTRY


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Annotated:
        return "stage"
    if origin in (list, tuple, set):
        return f"list[{', '.join(_type_name(a) for a in args)}]"
    if origin is dict:
        return f"map[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        return repr(field.default)
    if field.default_factory is not None:
        return "(computed)" if "lambda" in repr(field.default_factory) else "(see section)"
    return "required"


def _bounds(field: Any) -> str:
    parts = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("min_length", "min length")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {v}")
    return ", ".join(parts)


def model_table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> str:
    rows = ["| key | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        desc = (field.description or "").replace("|", "\\|")
        type_name = _type_name(field.annotation).replace("|", "\\|")
        rows.append(f"| `{name}` | {type_name} | {_default(field)} | {_bounds(field)} | {desc} |")
    return "\n".join(rows)


def _submodel(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The config model a field holds (directly, optional, or as a list: suffix ``[]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin = typing.get_origin(annotation)
    for arg in typing.get_args(annotation):
        found = _submodel(arg)
        if found is not None:
            return found[0], ("[]" if origin in (list, tuple) else "") + found[1]
    return None


def nested_sections(model: type[BaseModel], prefix: str) -> list[tuple[str, type[BaseModel]]]:
    """Every nested config section of ``model`` (``augment.llm``, ``augment.ops[]``), depth first."""
    out: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        found = _submodel(field.annotation)
        if found is None:
            continue
        sub, suffix = found
        path = f"{prefix}.{name}{suffix}"
        out.append((path, sub))
        out += nested_sections(sub, path)
    return out


def _nested_tables(model: type[BaseModel], prefix: str, heading: str) -> list[str]:
    out: list[str] = []
    for path, sub in nested_sections(model, prefix):
        doc = inspect.cleandoc(sub.__doc__ or "")
        out += [f"{heading} `{path}`", "", *([doc, ""] if doc else []), model_table(sub), ""]
    return out


def _sections() -> dict[str, type[BaseModel]]:
    from curate.config import (
        EngineConfig,
        GatesConfig,
        InputConfig,
        OutputConfig,
        RunConfig,
        SourceConfig,
        SplitConfig,
    )
    from curate.html.options import HtmlOptions

    return {
        "run": RunConfig,
        "input": InputConfig,
        "input.sources[]": SourceConfig,
        "input.sources[].html": HtmlOptions,
        "output": OutputConfig,
        "output.split": SplitConfig,
        "engine": EngineConfig,
        "gates": GatesConfig,
    }


def list_kinds() -> str:
    lines = ["Stage kinds (use `curate stages KIND` for their keys):", ""]
    for kind, cls in sorted(REGISTRY.items()):
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        lines.append(f"  {kind:<16} {summary}")
    lines += ["", "Config sections: " + ", ".join(_sections())]
    return "\n".join(lines)


def describe_kind(kind: str) -> str:
    sections = _sections()
    if kind in sections:
        return f"{kind}\n\n" + model_table(sections[kind])
    if kind not in REGISTRY:
        allowed = ", ".join(sorted([*REGISTRY, *sections]))
        raise ConfigError(f"unknown stage kind {kind!r}; allowed: {allowed}")
    cls = REGISTRY[kind]
    doc = inspect.cleandoc(cls.__doc__ or "")
    nested = _nested_tables(cls.Config, kind, "###")
    text = f"{kind}: {doc}\n\n" + model_table(cls.Config, skip=("kind",))
    return text + ("\n\n" + "\n".join(nested).rstrip() if nested else "")


def reference() -> str:
    """The whole config reference as Markdown."""
    out = [
        "# Config reference",
        "",
        "Generated from the config models by `python -m curate.docs`; do not edit by hand.",
        "",
    ]
    for name, model in _sections().items():
        out += [f"## `{name}`", "", (model.__doc__ or "").strip(), "", model_table(model), ""]
    out += ["## Stages", "", "Each entry of `stages:` is a mapping with a `kind` and that kind's keys.", ""]
    for kind, cls in sorted(REGISTRY.items()):
        out += [f"### `{kind}`", "", inspect.cleandoc(cls.__doc__ or ""), "", model_table(cls.Config, skip=("kind",)), ""]
        out += _nested_tables(cls.Config, kind, "####")
    return "\n".join(out)


if __name__ == "__main__":
    print(reference())
