"""Eval sets: files the user gives (JSON Lines, Parquet, CSV), read into (item id, text) pairs.

Nothing is ever downloaded. Every mistake in a file names the file and the line (JSON Lines,
CSV) or row (Parquet): a decontamination run that silently skipped half a benchmark would be
worse than one that stops.
"""

from __future__ import annotations

import csv
import gzip
import io
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import ConfigError

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz", ".jsonl.zst", ".jsonl.zstd")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class EvalItems:
    """One eval set: its name, and per item an id and the text whose n-grams are looked for."""

    name: str
    ids: list[str]
    texts: list[str]


def eval_format(path: str, declared: str = "auto") -> str:
    """The file's format: ``declared``, else from its suffix (clear error when unknown)."""
    if declared != "auto":
        return declared
    name = path.lower()
    for fmt, suffixes in (("jsonl", JSONL_SUFFIXES), ("csv", CSV_SUFFIXES), ("parquet", PARQUET_SUFFIXES)):
        if name.endswith(suffixes):
            return fmt
    raise ConfigError(
        f"eval file {path}: cannot tell its format from the name",
        hint="use .jsonl, .csv or .parquet (optionally .gz), or set `format` on the eval set",
    )


def template_fields(template: str) -> list[str]:
    """The field names a ``{field}`` template reads (an unsupported template is a config error)."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ConfigError(f"template {template!r}: {err}") from None
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name or not name.isidentifier() or spec or conv:
            raise ConfigError(
                f"template {template!r}: only plain {{field}} placeholders are allowed (got {{{name}}})"
            )
        names.append(name)
    if not names:
        raise ConfigError(f"template {template!r} names no field", hint="e.g. \"{question}\\n{answer}\"")
    return names


def _value_text(value: Any) -> str:
    """A field's value as text: lists (answer choices) one per line; null as nothing."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "\n".join(_value_text(v) for v in value)
    return str(value)


def _open_text(path: Path) -> io.TextIOBase:
    name = path.name.lower()
    if name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    if name.endswith((".zst", ".zstd")):
        import zstandard

        return io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(path.open("rb")), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    import orjson

    with _open_text(path) as fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as err:
                    raise ConfigError(f"eval file {path}:{lineno}: not valid JSON ({err})") from None
                if not isinstance(row, dict):
                    raise ConfigError(f"eval file {path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                yield lineno, row
        except UnicodeDecodeError as err:
            raise ConfigError(f"eval file {path}: not UTF-8 text ({err.reason} at byte {err.start} of a block)") from None


def _csv_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    delimiter = "\t" if path.name.lower().removesuffix(".gz").endswith(".tsv") else ","
    with _open_text(path) as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        try:
            for row in reader:
                if None in row:
                    raise ConfigError(f"eval file {path}:{reader.line_num}: more values than header columns")
                yield reader.line_num, row
        except csv.Error as err:
            raise ConfigError(f"eval file {path}:{reader.line_num}: {err}") from None
        except UnicodeDecodeError as err:
            raise ConfigError(f"eval file {path}: not UTF-8 text ({err.reason})") from None


def _parquet_rows(path: Path, columns: list[str]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise ConfigError(f"eval file {path}: not a readable Parquet file ({err})") from None
    present = pf.schema_arrow.names
    missing = [c for c in columns if c not in present]
    if missing:
        raise ConfigError(f"eval file {path}: no column {missing[0]!r}", hint=f"its columns: {', '.join(present)}")
    row_number = 0
    for batch in pf.iter_batches(columns=columns):
        for row in batch.to_pylist():
            row_number += 1
            yield row_number, row


def read_eval_set(
    name: str, path: str, fields: list[str], template: str | None = None, id_field: str | None = None, fmt: str = "auto"
) -> EvalItems:
    """Every item of one eval file: its text is ``template`` filled from the row, else ``fields``
    joined by newlines; its id is ``id_field``'s value, else its line (row) number."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"eval set {name!r}: file not found: {p}")
    needed = template_fields(template) if template else list(fields)
    columns = list(dict.fromkeys(needed + ([id_field] if id_field else [])))
    fmt = eval_format(path, fmt)
    rows = _jsonl_rows(p) if fmt == "jsonl" else _csv_rows(p) if fmt == "csv" else _parquet_rows(p, columns)
    where = "row" if fmt == "parquet" else "line"
    ids: list[str] = []
    texts: list[str] = []
    for line, row in rows:
        for col in columns:
            if col not in row:
                raise ConfigError(
                    f"eval file {p}:{line}: no field {col!r}" if where == "line" else f"eval file {p} row {line}: no field {col!r}",
                    hint=f"fields present: {', '.join(map(str, row))}",
                )
        values = {c: _value_text(row[c]) for c in needed}
        texts.append(template.format_map(values) if template else "\n".join(values[c] for c in needed))
        ids.append(_value_text(row[id_field]) if id_field else str(line))
    return EvalItems(name, ids, texts)
