"""Plan-time checks of columns and their types, before any data is read.

The planner keeps a schema, ``{column: polars type or None}`` (None: the column exists, its type
is unknown): the input's, from file headers (:func:`probe_input_schema`), then after each stage
the columns it declares (``Stage.added_schema``). :func:`check_stage_columns` checks one stage
against the schema of its input: every column the stage reads exists, and where types are known,
rules compare columns with values of their type and ``keep: highest:COL`` names a number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import ConfigError
from curate.io import store
from curate.io.discovery import CURATED, ReadTask, open_binary, open_native
from curate.stages.base import CORE_COLUMNS, Stage

Schema = dict[str, pl.DataType | None]

MAX_PROBED_FILES = 50
"""Distinct files whose headers are read (the rest are taken to look like them)."""

_RESERVED = ("id", "text", "source")
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def _json_type(value: Any) -> pl.DataType | None:
    """The polars type ingest gives a JSON value's column; None when it cannot be told from one value."""
    if isinstance(value, bool):
        return pl.Boolean()
    if isinstance(value, int):
        return pl.Int64() if -(2**63) <= value < 2**63 else pl.Float64()
    if isinstance(value, float):
        return pl.Float64()
    if isinstance(value, str):
        # pyarrow's JSON reader turns ISO dates and timestamps into timestamps
        return None if _DATE_LIKE.fullmatch(value) else pl.String()
    return None  # null, lists and objects: the type depends on other records


def _arrow_schema(schema: pa.Schema) -> Schema:
    # not schema.empty_table(): it imports pandas (~0.5 s of every command's start-up)
    frame = pl.from_arrow(pa.Table.from_batches([], schema=schema))
    assert isinstance(frame, pl.DataFrame)
    return dict(frame.schema)


def _file_schema(path: str, fmt: str, compression: str | None) -> Schema | None:
    """Columns of one input file as read (before ingest renames), from its header only."""
    if fmt in ("parquet", CURATED):
        try:
            if store.is_remote(path):  # the footer only, through the store's random-access reader
                with open_native(path) as native:
                    return _arrow_schema(pq.read_schema(native))
            return _arrow_schema(pq.read_schema(path))
        except Exception:  # a damaged file: ingest rejects it with its reason, naming the file
            return None
    if fmt == "txt":
        return {"text": pl.String(), "path": pl.String()}
    if fmt in ("warc", "html"):
        from curate.io.web import HTML_FILE_COLUMNS, WARC_COLUMNS

        return dict.fromkeys(WARC_COLUMNS if fmt == "warc" else HTML_FILE_COLUMNS, pl.String())
    if fmt == "jsonl" and compression is None:
        try:
            return _first_record_schema(path)
        except OSError:  # unreadable: ingest rejects it as unreadable_file, naming it
            return None
    return None  # CSV/TSV, compressed JSON Lines: no cheap way to tell


def _first_record_schema(path: str) -> Schema:
    """Fields of the first non-blank record of a plain JSON Lines file (types of its values)."""
    with open_binary(path, 1 << 18) as fh:  # an object in a store: its first 256 KiB, more only for a longer record
        for raw in fh:
            if raw.strip():
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError:  # ingest rejects it; deep nesting lands here too
                    return {}
                return {str(k): _json_type(v) for k, v in obj.items()} if isinstance(obj, dict) else {}
    return {}


def _after_ingest(raw: Schema, fmt: str, source: Any | None) -> Schema:
    """What ingest makes of a file's columns: text/id/source fields become the core columns,
    other fields named like a core column become ``orig_<name>``; a curated shard is kept as is."""
    if fmt == CURATED:
        return dict(raw)
    text_field = "text" if fmt in ("txt", "warc", "html") or source is None else source.text_field
    id_field = getattr(source, "id_field", None) or ("id" if "id" in raw else None)
    fixed_source = getattr(source, "source", None)
    out: Schema = {}
    for name, dtype in raw.items():
        if name in (text_field, id_field) or (name == "source" and fixed_source is None):
            continue
        out[f"orig_{name}" if name in _RESERVED else name] = dtype
    return out


def _merge(into: Schema, more: Mapping[str, pl.DataType | None]) -> None:
    """Union of columns; a column whose type differs between files gets None (unknown)."""
    for name, dtype in more.items():
        if name not in into:
            into[name] = dtype
        elif into[name] is not None and (dtype is None or into[name] != dtype):
            into[name] = None


def _check_named_fields(raw: Schema, source: Any, index: int, path: str) -> None:
    """A Parquet file's columns are exact: a text or id field the user named that it lacks (a
    typo, most likely) would reject every record with exit 0, so it is a config error naming the
    field and the columns. A file lacking the default `text` is bad input: its rows are rejected
    as ``missing_text``, naming the file's columns."""
    given = getattr(source, "model_fields_set", set())
    for key in ("text_field", "id_field"):
        name = getattr(source, key, None)
        if key in given and name and name not in raw:
            raise ConfigError(
                f"input.sources[{index}].{key}: no column {name!r} in {path} (columns: {', '.join(raw)})",
                hint=f"name one of its columns with --{key.replace('_', '-')} (or `{key}:` in the config)",
            )


def probe_input_schema(read_tasks: Sequence[ReadTask], sources: Sequence[Any] | None = None) -> Schema | None:
    """The columns ingest will produce and their types, from file headers only.

    ``sources`` (``cfg.input.sources``) says which fields become ``text``/``id``/``source``
    (by each task's ``source_index``); without it the defaults apply. Always has ``id``, ``text``
    and ``source`` (String). Parquet: its schema; JSON Lines (uncompressed): the first non-blank
    record, JSON types mapped to polars types (null, lists, objects and ISO dates: None); txt:
    ``path``. None when some input cannot tell cheaply (CSV, TSV, compressed JSON Lines, a
    damaged Parquet file): the planner then skips column checks, as it does today.
    """
    schema: Schema = {c: pl.String() for c in sorted(CORE_COLUMNS)}
    seen: set[str] = set()
    for task in read_tasks:
        f = task.files[0]
        if f.path in seen:
            continue
        seen.add(f.path)
        if len(seen) > MAX_PROBED_FILES:
            break
        raw = _file_schema(f.path, f.format, f.compression)
        if raw is None:
            return None
        source = sources[task.source_index] if sources is not None and task.source_index < len(sources) else None
        if f.format == "parquet" and source is not None:
            _check_named_fields(raw, source, task.source_index, f.path)
        mapped = _after_ingest(raw, f.format, source)
        core = {c: mapped.pop(c) for c in CORE_COLUMNS if c in mapped}  # curated shards carry them
        _merge(schema, mapped)
        for c, dtype in core.items():
            if dtype != pl.String:
                schema[c] = None
    return schema


def check_stage_columns(index: int, stage: Stage, schema: Mapping[str, pl.DataType | None]) -> None:
    """Check stage ``index`` (0-based, as in ``stages[0]``) against the schema of its input.

    Raises ConfigError, e.g. ``stages[3].filter.rules.r: column m is Int64, compared with a
    string``, ``stages[0].exact_dedup.keep: highest:nosuch: no such column; known columns: ...``,
    ``stages[2].filter.rules.hq: unknown column 'fasttext_hq' at position 1``, or for any other
    column the stage needs ``stages[1] (kind) needs column(s) ..., which no earlier step produces``.
    """
    where = f"stages[{index}].{stage.kind}"
    check = getattr(stage, "check_schema", None)
    if check is not None:
        check(schema, where)
    elif getattr(stage, "check_columns", None) is not None:
        stage.check_columns(set(schema))  # type: ignore[attr-defined]
    missing = stage.required_columns() - set(schema)
    if missing:
        raise ConfigError(
            f"stages[{index}] ({stage.kind}) needs column(s) {', '.join(sorted(missing))}, "
            f"which no earlier step produces; known columns: {', '.join(sorted(schema))}",
            hint="add the stage that produces them earlier in `stages`",
        )


def schema_after(stage: Stage, schema: Mapping[str, pl.DataType | None]) -> Schema:
    """The schema of the stage's output: its input's plus the columns it declares (their
    declared types replace earlier ones)."""
    return {**schema, **stage.added_schema()}
