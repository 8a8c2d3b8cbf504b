"""Export: the last stage's shards -> the dataset users load (Parquet or JSON Lines), split and carded.

Engine-agnostic pieces: the split assignment (a stable hash of the id), the re-sharding plan
(global row ranges per split, so output files do not depend on how many workers ran) and the
writing of one output file, plus the dataset card.
"""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from curate.config import OutputConfig
from curate.errors import ConfigError, StageError
from curate.hashing import derive_seed, hash_strings, unit_interval
from curate.io.shards import parquet_options, read_shard

SPLITS = ("train", "validation", "test")
ROW_GROUP = 64 * 1024
TOKEN_COLUMN = "token_count"
"""The column the ``tokens`` stage adds by default; export sums it per split and source."""


def split_codes(ids: pl.Series | pa.ChunkedArray, out: OutputConfig, seed: int) -> np.ndarray:
    """0 = train, 1 = validation, 2 = test; a document's split depends only on its id and the seed."""
    if not _has_split(out):  # every hash lands in [0, 1): all train, nothing to hash
        return np.zeros(len(ids), dtype=np.int8)
    u = unit_interval(hash_strings(ids, derive_seed(seed, "split")))
    codes = np.zeros(len(u), dtype=np.int8)
    codes[u < out.split.validation + out.split.test] = 2
    codes[u < out.split.validation] = 1
    return codes


def _has_split(out: OutputConfig) -> bool:
    return out.split.validation + out.split.test > 0


def active_splits(out: OutputConfig) -> list[str]:
    return [s for s, f in zip(SPLITS, (1.0, out.split.validation, out.split.test), strict=True) if f > 0]


def count_shard(path: str, out: OutputConfig, seed: int) -> dict[str, Any]:
    """Rows per split and per source in one input shard (reads only two small columns), and
    the sums of an exported integer ``token_count`` column per split and source, if it has one."""
    tokens = _has_token_column(path, out)
    frame = read_shard(path, columns=["id", "source", TOKEN_COLUMN] if tokens else ["id", "source"])
    codes = split_codes(frame["id"], out, seed)
    per_split = np.bincount(codes, minlength=3)
    source = frame["source"].fill_null("(none)")
    sources = source.value_counts()
    result: dict[str, Any] = {
        "splits": {SPLITS[i]: int(per_split[i]) for i in range(3)},
        "sources": {r["source"]: int(r["count"]) for r in sources.iter_rows(named=True)},
    }
    if tokens:
        n = frame[TOKEN_COLUMN].cast(pl.Int64).fill_null(0)
        by = pl.DataFrame({"split": codes, "source": source, "n": n})
        split_sums = dict(by.group_by("split").agg(pl.col("n").sum()).iter_rows())
        result["tokens"] = {
            "splits": {SPLITS[i]: int(split_sums.get(i, 0)) for i in range(3)},
            "sources": dict(by.group_by("source").agg(pl.col("n").sum()).sort("source").iter_rows()),
        }
    return result


def _has_token_column(path: str, out: OutputConfig) -> bool:
    if out.columns is not None and TOKEN_COLUMN not in out.columns:
        return False  # not exported: its sums would describe data the release does not hold
    try:
        field = pq.read_schema(path).field(TOKEN_COLUMN)
    except (KeyError, OSError, pa.ArrowException):
        return False  # absent; a missing or damaged shard fails in read_shard with its own message
    return pa.types.is_integer(field.type)


def token_totals(counts: list[dict[str, Any]], splits: list[str]) -> dict[str, Any] | None:
    """The shards' ``token_count`` sums per split and source (None if no shard has the column):
    the manifest's ``tokens`` block and the card's token columns."""
    found = [c["tokens"] for c in counts if "tokens" in c]
    if not found:
        return None
    per_split = {s: sum(int(t["splits"].get(s, 0)) for t in found) for s in splits}
    per_source: Counter[str] = Counter()
    for t in found:
        per_source.update({k: int(v) for k, v in t["sources"].items()})
    return {"column": TOKEN_COLUMN, "total": sum(per_split.values()), "splits": per_split, "sources": dict(sorted(per_source.items()))}


def output_schema(parts: list[str], columns: list[str] | None) -> pa.Schema:
    """One schema for every output file: unified over shards, strings as plain `string`."""
    if not parts:
        base = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string())])
    else:
        base = pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")

    def plain(t: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_binary(t):
            return pa.binary()
        if pa.types.is_null(t):
            return pa.string()
        if pa.types.is_large_list(t) or pa.types.is_list(t):
            return pa.list_(plain(t.value_type))
        return t

    fields = [pa.field(f.name, plain(f.type)) for f in base if not f.name.startswith("__")]
    by_name = {f.name: f for f in fields}
    if columns:
        unknown = [c for c in columns if c not in by_name]
        if unknown:
            raise ConfigError(
                f"output.columns: unknown column(s) {', '.join(unknown)}; available: {', '.join(by_name)}"
            )
        fields = [by_name[c] for c in columns]
    return pa.schema(fields)


def rows_per_file(parts: list[str], out: OutputConfig) -> int:
    if out.rows_per_shard:
        return out.rows_per_shard
    rows = size = 0
    for p in parts:
        md = pq.read_metadata(p)
        rows += md.num_rows
        size += sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
    per_row = size / rows if rows else 1024
    return max(1, int(out.bytes_per_shard // max(per_row, 1)))


@dataclass(frozen=True)
class ExportFile:
    """One output file: the split rows [start, start+count) of each listed input shard."""

    split: str
    index: int
    segments: tuple[tuple[str, int, int], ...]


def plan_files(parts: list[str], counts: list[dict[str, int]], rows: int, splits: list[str]) -> list[ExportFile]:
    """Cut each split's rows, in shard order, into files of ``rows`` rows."""
    files: list[ExportFile] = []
    for split in splits:
        total = sum(c[split] for c in counts)
        n_files = max(1, math.ceil(total / rows)) if (total or split == "train") else 0
        bounds = np.cumsum([0] + [c[split] for c in counts])
        for j in range(n_files):
            lo, hi = j * rows, min((j + 1) * rows, total)
            segs = []
            for k, part in enumerate(parts):
                a, b = max(lo, bounds[k]), min(hi, bounds[k + 1])
                if a < b:
                    segs.append((part, int(a - bounds[k]), int(b - a)))
            files.append(ExportFile(split, j, tuple(segs)))
    return files


def file_name(f: ExportFile, n_files: int, out: OutputConfig) -> str:
    ext = "parquet" if out.format == "parquet" else {"gzip": "jsonl.gz", "zstd": "jsonl.zst"}.get(out.compression, "jsonl")
    return f"{f.split}/part-{f.index:05d}.{ext}"


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = []
    for fld in schema:
        if fld.name in table.column_names:
            columns.append(table.column(fld.name).cast(fld.type))
        else:
            columns.append(pa.nulls(table.num_rows, fld.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _read_table(path: str) -> pa.Table:
    """A shard as Arrow, read by pyarrow (no polars round trip); errors as ``read_shard`` words them."""
    try:
        # one thread: a worker has one core, and pyarrow's pool costs more CPU than it saves here;
        # ParquetFile, not read_table, which imports pyarrow.dataset and with it pandas (~0.3 s)
        with pq.ParquetFile(path) as pf:
            return pf.read(use_threads=False)
    except FileNotFoundError:
        raise StageError(f"{path}: a shard of an earlier step is missing", hint="rerun without --resume to recompute it") from None
    except (OSError, pa.ArrowException) as err:
        raise StageError(
            f"{path}: a shard of an earlier step is damaged ({type(err).__name__}: {str(err).splitlines()[0][:200]})",
            hint="rerun without --resume to recompute it",
        ) from None


def _pieces(f: ExportFile, schema: pa.Schema, out: OutputConfig, seed: int) -> Iterator[pa.Table]:
    """This file's rows, one input shard at a time (memory: one shard, not one output file)."""
    split_code = SPLITS.index(f.split)
    for part, start, count in f.segments:
        table = _read_table(part)
        if _has_split(out):
            mask = split_codes(table.column("id"), out, seed) == split_code
            table = table.filter(pl.Series(mask).to_arrow())
        yield _cast(table.slice(start, count), schema)


def write_file(f: ExportFile, name: str, folder: str, schema: pa.Schema, out: OutputConfig, seed: int) -> int:
    """Stream this file's rows into a temporary file, cast to the output schema, then rename."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    rows = 0
    if out.format == "parquet":
        with pq.ParquetWriter(tmp, schema, **parquet_options(schema, out.compression)) as writer:
            for table in _pieces(f, schema, out, seed):
                writer.write_table(table, row_group_size=ROW_GROUP)
                rows += table.num_rows
    else:
        with open(tmp, "wb") as raw, _compressed(raw, out.compression) as fh:
            for table in _pieces(f, schema, out, seed):
                pl.from_arrow(table).write_ndjson(fh)  # type: ignore[union-attr]
                rows += table.num_rows
    os.replace(tmp, path)
    return rows


@contextmanager
def _compressed(raw: Any, compression: str) -> Iterator[Any]:
    if compression == "gzip":
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as fh:
            yield fh
    elif compression == "zstd":
        import zstandard

        with zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False) as fh:
            yield fh
    else:
        yield raw


def type_literal(t: pa.DataType) -> str:
    """Python source that builds the Arrow type ``t`` (for the dataset card's loading snippet)."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"pa.list_({type_literal(t.value_type)})"
    if pa.types.is_struct(t):
        return "pa.struct([" + ", ".join(f"({f.name!r}, {type_literal(f.type)})" for f in t) + "])"
    names = {"string": "string", "large_string": "large_string", "double": "float64", "float": "float32", "bool": "bool_"}
    alias = str(t)
    return f"pa.{names.get(alias, alias)}()"


def schema_literal(schema: pa.Schema) -> str:
    return "pa.schema([" + ", ".join(f"({f.name!r}, {type_literal(f.type)})" for f in schema) + "])"


def _token_origin(steps: list[dict[str, Any]], column: str) -> str:
    """`` (cl100k_base, step 02_tokens)``: the last tokens step that wrote ``column``, if any."""
    for step in reversed(steps):
        config = step.get("config") or {}
        if step.get("stage") == "tokens" and config.get("column", TOKEN_COLUMN) == column:
            return f" ({config.get('tokenizer')}, step `{step.get('folder')}`)"
    return ""


def dataset_card(
    manifest: dict[str, Any], split_rows: dict[str, int], sources: Counter[str], config: dict[str, Any], out: OutputConfig,
    schema: pa.Schema | None = None,
) -> str:
    """README.md beside the data: what is in it, where it came from, what was removed and why."""
    lines = ["# Dataset card", "", f"Built by curate {manifest['versions']['curate']} on {manifest['finished_at']} (config hash `{manifest['config_hash']}`, seed {manifest['seed']}).", ""]
    tokens = manifest.get("tokens")
    if tokens:
        by_split, by_source = tokens["splits"], tokens["sources"]
        lines += ["## Contents", "", "| split | documents | tokens |", "| --- | ---: | ---: |"]
        lines += [f"| {s} | {n:,} | {by_split.get(s, 0):,} |" for s, n in split_rows.items()]
        lines += ["", f"Tokens: the sum of the `{tokens['column']}` column, {tokens['total']:,} in all{_token_origin(manifest['steps'], tokens['column'])}."]
    else:
        lines += ["## Contents", "", "| split | documents |", "| --- | ---: |"]
        lines += [f"| {s} | {n:,} |" for s, n in split_rows.items()]
    lines += ["", f"Format: {out.format} ({out.compression}), files under `<split>/part-NNNNN.*`.", ""]
    ordered = sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))
    if tokens:
        lines += ["## Sources", "", "| source | documents | tokens |", "| --- | ---: | ---: |"]
        lines += [f"| {s} | {n:,} | {by_source.get(s, 0):,} |" for s, n in ordered]
    else:
        lines += ["## Sources", "", "| source | documents |", "| --- | ---: |"]
        lines += [f"| {s} | {n:,} |" for s, n in ordered]
    lines += ["", "## What was removed and why", "", "| step | in | kept | rejected | reasons |", "| --- | ---: | ---: | ---: | --- |"]
    for step in manifest["steps"]:
        c = step["counts"]
        reasons = ", ".join(f"{k}: {v:,}" for k, v in c["rejected_by_reason"].items()) or "-"
        lines.append(f"| {step['stage']} | {c['docs_in']:,} | {c['docs_kept']:,} | {c['docs_rejected']:,} | {reasons} |")
    where = "in `_rejected/` beside the data (one file per step and shard)" if out.rejected else "in each step's `rejected/` folder of the run's workdir"
    lines += ["", f"Removed records are kept, with `reject_stage`, `reject_reason` and `reject_detail`, {where}.", ""]
    from curate.protection import card_lines

    lines += card_lines(manifest["steps"])
    if out.format == "parquet":
        lines += ["## Loading", "", "```python", "import pyarrow.dataset as ds", "train = ds.dataset('train', format='parquet').to_table()", "", "from datasets import load_dataset", "dataset = load_dataset('parquet', data_dir='.')  # one split per folder", "```", ""]
    else:
        # JSON carries no types: a column that is null throughout one file would be read as
        # another type there, so readers are given the schema
        lines += ["## Loading", "", "```python", "import pyarrow as pa", "import pyarrow.dataset as ds", ""]
        lines += [f"schema = {schema_literal(schema)}" if schema is not None else "schema = None"]
        lines += ["train = ds.dataset('train', format='json', schema=schema).to_table()", "", "from datasets import Features, load_dataset"]
        lines += ["dataset = load_dataset('json', data_dir='.', features=Features.from_arrow_schema(schema))  # one split per folder", "```", ""]
    import yaml  # only a release's card needs it

    lines += ["## Configuration", "", "```yaml", yaml.safe_dump(config, sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)
