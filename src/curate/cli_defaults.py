"""Defaults of config fields shown in CLI help texts, precomputed so `curate` starts fast.

Every command's help says a flag's default (``_default`` in cli.py), read from the config model
so it cannot drift. Importing every stage module to read them cost each `curate` process over a
second before it did anything (augment, pii, graph... load numpy, polars and their tables). The
values live in ``cli_defaults.json`` beside this file instead; a missing entry falls back to
importing the model, and a test checks the file equals what the models say
(`python -m curate.cli_defaults` rewrites it; `make docs` runs it).
"""

from __future__ import annotations

import functools
import importlib
import json
from pathlib import Path
from typing import Any

FILE = Path(__file__).with_name("cli_defaults.json")


def from_model(model: str, field: str) -> Any:
    """A config model field's default, read from the model (imports its module)."""
    module, _, name = model.rpartition(".")
    info = getattr(importlib.import_module(module), name).model_fields[field]
    return info.get_default(call_default_factory=True)


@functools.cache
def _table() -> dict[str, Any]:
    try:
        return json.loads(FILE.read_text())
    except (OSError, ValueError):
        return {}


def lookup(model: str, field: str) -> Any:
    """The default from the shipped table, else from the model."""
    key = f"{model}:{field}"
    table = _table()
    return table[key] if key in table else from_model(model, field)


def used_by_cli() -> list[tuple[str, str]]:
    """(model, field) of every default the CLI's help texts show, read from cli.py's source."""
    import re

    source = Path(__file__).with_name("cli.py").read_text()
    names = dict(re.findall(r'^(_[A-Z0-9_]+) = "([\w.]+)"$', source, flags=re.M))
    calls = re.findall(r'_default(?:_csv)?\((_[A-Z0-9_]+|"[\w.]+"), "(\w+)"\)', source)
    out = {(names.get(m, m.strip('"')), f) for m, f in calls}
    return sorted(out)


def table() -> dict[str, Any]:
    """The table as the models define it now."""
    return {f"{m}:{f}": from_model(m, f) for m, f in used_by_cli()}


if __name__ == "__main__":
    FILE.write_text(json.dumps(table(), indent=1, sort_keys=True, default=str) + "\n")
