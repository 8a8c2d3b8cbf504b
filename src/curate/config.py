"""The run configuration: pydantic models, YAML loading and one-line error messages."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from curate.errors import ConfigError
from curate.html.options import HtmlOptions
from curate.io.remote import url_scheme
from curate.reporting.gates import GatesConfig
from curate.stages import REGISTRY
from curate.stages.base import StageConfig

FORMATS = ("auto", "jsonl", "parquet", "csv", "tsv", "txt", "warc", "html")


def _local_or_store(path: str) -> str:
    """A local folder, or an object-store URL (``s3://bucket/prefix``): normalised, no credentials."""
    from curate.io import store

    if not store.is_remote(path):
        return path
    try:
        store.check_url(path, "path")
    except ConfigError as err:
        raise ValueError(str(err)) from None
    return store.normalise(path)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Strict):
    """One input source: files of one format sharing a text field and a source name."""

    paths: list[str] = Field(
        min_length=1, description="Files, folders or globs (`data/*.jsonl.gz`, `docs/**/*.txt`), local or in an object store "
        "(`s3://bucket/raw/`, `s3://bucket/raw/**/*.jsonl.zst`: read streamed)."
    )
    format: Literal["auto", "jsonl", "parquet", "csv", "tsv", "txt", "warc", "html"] = Field(
        "auto",
        description="Input format; `auto` picks it from each file's extension (`.warc`, `.warc.gz`, `.wet`: warc; "
        "`.html`, `.htm`: html, one page per file).",
    )
    text_field: str = Field("text", min_length=1, description="Field or column holding the text.")
    id_field: str | None = Field(
        None, description="Field holding a unique id; without it ids derive from origin and content."
    )
    source: str | None = Field(
        None,
        description="Value of the `source` column; default: the record's own `source` field, "
        "else the name of the first path.",
    )
    @field_validator("paths")
    @classmethod
    def _local_paths(cls, v: list[str]) -> list[str]:
        return [_local_or_store(p) for p in v]  # inputs may be in a store (read streamed, see io/discovery.py)

    html: HtmlOptions = Field(
        default_factory=HtmlOptions,
        description="How pages of WARC and HTML inputs become text (extractor, time and size caps).",
    )
    non_html: Literal["skip", "reject"] = Field(
        "skip",
        description="WARC responses that are not HTML (images, PDF): skip (counted as warc_skipped_non_html) "
        "or reject (`not_html`, in rejected/).",
    )


class InputConfig(_Strict):
    """Where the raw documents come from and how records are validated on the way in."""

    sources: list[SourceConfig] = Field(min_length=1, description="One or more input sources.")
    max_chars: int = Field(
        1_000_000, gt=0, description="Records with longer text are rejected (`text_too_long`)."
    )
    strict: bool = Field(
        False, description="Stop at the first malformed record (file and line) instead of rejecting it."
    )
    normalization: Literal["NFC", "NFKC", "none"] = Field(
        "NFC", description="Unicode normalisation applied to the text."
    )
    rows_per_shard: int = Field(
        50_000, gt=0, description="Upper bound on rows in each ingested Parquet shard."
    )
    bytes_per_shard: int = Field(
        128 * 1024 * 1024, gt=0, description="Target size of raw input per ingest task (bytes)."
    )
    shard_text_bytes: int | None = Field(
        None,
        gt=0,
        description="Upper bound on the text (UTF-8 bytes) of each ingested shard: `rows_per_shard` rows "
        "holding more are cut into shards of at most this much (a longer document is a shard of its own); "
        "a worker holds a few times its shard's text. None: shards bounded by rows only.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """Accept `input: {paths: ...}` (one source), `input: [{...}, ...]` and `paths: a.jsonl`."""
        if isinstance(data, list):
            data = {"sources": data}
        if isinstance(data, dict) and "paths" in data and "sources" not in data:
            source_keys = set(SourceConfig.model_fields)
            src = {k: v for k, v in data.items() if k in source_keys}
            rest = {k: v for k, v in data.items() if k not in source_keys}
            data = {"sources": [src], **rest}
        if isinstance(data, dict) and isinstance(data.get("sources"), list):
            data["sources"] = [
                {**s, "paths": [s["paths"]]} if isinstance(s, dict) and isinstance(s.get("paths"), str) else s
                for s in data["sources"]
            ]
        return data


class SplitConfig(_Strict):
    """Deterministic split by a stable hash of the id: the same document always lands in the same split."""

    validation: float = Field(0.0, ge=0.0, lt=1.0, description="Fraction of documents in validation.")
    test: float = Field(0.0, ge=0.0, lt=1.0, description="Fraction of documents in test.")

    @model_validator(mode="after")
    def _sum(self) -> SplitConfig:
        if self.validation + self.test >= 1.0:
            raise ValueError("validation + test must be below 1")
        return self


class OutputConfig(_Strict):
    """The exported dataset: format, shard size, split, columns and a dataset card."""

    path: str = Field(description="Output folder or object-store URL (`s3://bucket/out`; must be empty unless `overwrite: true`).")

    @field_validator("path")
    @classmethod
    def _local_path(cls, v: str) -> str:
        return _local_or_store(v)

    format: Literal["parquet", "jsonl"] = Field("parquet", description="Data file format.")
    compression: Literal["zstd", "snappy", "gzip", "none"] = Field(
        "zstd", description="Parquet codec, or for JSON Lines: gzip/zstd/none (zstd -> .jsonl.zst)."
    )
    rows_per_shard: int | None = Field(
        None, gt=0, description="Rows per output file; overrides `bytes_per_shard` when set."
    )
    bytes_per_shard: int = Field(
        256 * 1024 * 1024, gt=0, description="Target uncompressed bytes per output file."
    )
    split: SplitConfig = Field(default_factory=SplitConfig, description="Train/validation/test split.")
    columns: list[str] | None = Field(
        None, description="Columns to export, in order (default: all but scratch columns)."
    )
    overwrite: bool = Field(False, description="Replace a non-empty output folder.")
    card: bool = Field(True, description="Write a dataset card (README.md) beside the data.")
    rejected: bool = Field(
        True,
        description="Publish every step's rejected records in `_rejected/` beside the data (loaders skip "
        "`_` folders), so the release accounts for every input document on its own.",
    )


class EngineConfig(_Strict):
    """Which engine runs the plan and with how many workers."""

    kind: Literal["local", "ray"] = Field(
        "local", description="`local`: a process pool on this machine; `ray`: Ray tasks on a Ray cluster (`curate[ray]`)."
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="Worker processes (local), or CPUs for a Ray instance started in-process.",
    )
    address: str | None = Field(
        None,
        description="Ray cluster address (`auto`, `ray://host:10001`); default: RAY_ADDRESS, else a local Ray instance.",
    )


class RunConfig(_Strict):
    """A whole pipeline: input, stages, output, engine and seed."""

    input: InputConfig | None = Field(
        None, description="Raw inputs to ingest (omit to start from `workdir`'s ingested shards)."
    )
    workdir: str = Field(".curate/run", description="Folder or object-store URL for per-stage shards and manifests.")

    @field_validator("workdir")
    @classmethod
    def _local_workdir(cls, v: str) -> str:
        return _local_or_store(v)

    output: OutputConfig | None = Field(None, description="The exported dataset (omit to stop at the last stage).")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="Execution engine.")
    seed: int = Field(0, ge=0, description="Seed for every random choice (sampling, splits, augmentation).")
    stages: list[SerializeAsAny[StageConfig]] = Field(
        default_factory=list, description="Stages between ingest and export, in order."
    )
    gates: GatesConfig = Field(
        default_factory=GatesConfig, description="Limits the release must meet to be published (a failing gate: exit 1, nothing published)."
    )

    def fingerprint(self) -> str:
        """Hash of everything that determines the data (not where it is written, nor the gates)."""
        data = self.model_dump(mode="json", exclude={"workdir", "engine", "gates"})
        if data.get("output"):
            data["output"].pop("path", None)
            data["output"].pop("overwrite", None)
        return stable_digest(data)


def stable_digest(data: Any) -> str:
    """Short sha256 of canonical JSON."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ---------------------------------------------------------------- error messages


def _field_model(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class reached by following ``loc`` from ``model`` (for allowed-key hints)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    args = getattr(annotation, "__args__", None)
    if args:
        for arg in args:
            inner = _unwrap(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return annotation


def _dotted(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def format_validation_error(
    err: ValidationError, model: type[BaseModel], prefix: str = ""
) -> list[str]:
    """One line per error: ``dotted.path: what was wrong (allowed: ...)``."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _dotted(loc, prefix) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            parent = _field_model(model, loc[:-1])
            keys = list(parent.model_fields) if parent else []
            if parent is InputConfig:
                keys += list(SourceConfig.model_fields)
            allowed = ", ".join(keys)
            msg = "unknown key" + (f"; allowed keys: {allowed}" if allowed else "")
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        got = e.get("input")
        if e["type"] not in ("missing", "extra_forbidden") and isinstance(got, str | int | float | bool) and "credentials" not in msg:
            msg += f" (got {got!r})"  # never for a refused credential: the message would print it
        lines.append(f"{path}: {msg}")
    return lines


def parse_stage(raw: Any, index: int) -> tuple[StageConfig | None, list[str]]:
    """Validate one stage entry against its kind's model; return it or error lines."""
    where = f"stages[{index}]"
    if not isinstance(raw, dict):
        return None, [f"{where}: expected a mapping with a `kind` key (got {raw!r})"]
    kind = raw.get("kind")
    allowed = ", ".join(sorted(REGISTRY))
    if kind is None:
        return None, [f"{where}.kind: required key is missing; allowed kinds: {allowed}"]
    if kind not in REGISTRY:
        return None, [f"{where}.kind: unknown stage kind {kind!r}; allowed kinds: {allowed}"]
    model = REGISTRY[kind].Config
    try:
        return model.model_validate(raw), []
    except ValidationError as err:
        return None, format_validation_error(err, model, prefix=f"{where}.{kind}")


def parse_config(raw: Any, origin: str = "config") -> RunConfig:
    """Validate a mapping (parsed YAML) into a RunConfig, or raise ConfigError listing every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of keys (got {type(raw).__name__})")
    raw = dict(raw)
    stages_raw = raw.pop("stages", None) or []
    errors: list[str] = []
    cfg: RunConfig | None = None
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as err:
        errors.extend(format_validation_error(err, RunConfig))
    stages: list[StageConfig] = []
    if not isinstance(stages_raw, list):
        errors.append("stages: expected a list of stages")
    else:
        for i, item in enumerate(stages_raw):
            stage, errs = parse_stage(item, i)
            errors.extend(errs)
            if stage is not None:
                stages.append(stage)
    if errors or cfg is None:
        head = f"invalid configuration in {origin}:" if len(errors) > 1 else f"invalid configuration in {origin}: "
        if len(errors) == 1:
            raise ConfigError(head + errors[0], hint="run `curate stages` to see every key and its allowed values")
        raise ConfigError(
            head + "".join(f"\n  {e}" for e in errors),
            hint="run `curate stages` to see every key and its allowed values",
        )
    return cfg.model_copy(update={"stages": stages})


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML file (safe_load, duplicate keys refused) and validate it; relative paths resolve
    against its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}", hint="pass the path to a YAML file")
    import yaml  # here, not at the top: a single command reads no YAML (~10 ms of its start-up)

    from curate.config_yaml import UniqueKeyLoader

    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    if raw is None:
        raise ConfigError(f"{path}: the config file is empty", hint="see configs/example.yaml, or `curate stages` for every key")
    cfg = parse_config(raw, origin=str(path))
    return resolve_paths(cfg, path.parent)


def resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    """Make relative paths in the config relative to ``base`` (the config file's folder)."""

    def fix(p: str) -> str:
        return p if os.path.isabs(p) or url_scheme(p) not in (None, "file") else os.path.normpath(os.path.join(base, p))

    update: dict[str, Any] = {"workdir": fix(cfg.workdir)}
    if cfg.input is not None:
        sources = [s.model_copy(update={"paths": [fix(p) for p in s.paths]}) for s in cfg.input.sources]
        update["input"] = cfg.input.model_copy(update={"sources": sources})
    if cfg.output is not None:
        update["output"] = cfg.output.model_copy(update={"path": fix(cfg.output.path)})
    update["stages"] = [stage.with_paths(fix) for stage in cfg.stages]
    return cfg.model_copy(update=update)
