"""Format readers: raw files -> Arrow tables of records plus the line (or row) each came from.

Readers only parse. Records that cannot be parsed at all (bad JSON, invalid UTF-8, not an
object, a malformed CSV row) come back as ``BadRecord``s so ingest can reject them with file
and line; every other check happens once, vectorised, in ``curate.ingest``.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from curate.errors import InputError
from curate.io.discovery import InputFile, ReadTask

CHUNK_BYTES = 32 * 1024 * 1024
_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 13, 32]] = True


@dataclass
class BadRecord:
    """A record that could not be parsed: where it was, why, and its raw text (nothing is lost)."""

    line: int
    reason: str
    detail: str
    raw: str


@dataclass
class RawChunk:
    """Parsed records of one chunk of one file, with the 1-based line (or row) of each."""

    file: InputFile
    table: pa.Table
    lines: np.ndarray
    bad: list[BadRecord] = field(default_factory=list)
    unit: str = "line"


def read_task(task: ReadTask, text_field: str, rows_per_chunk: int) -> Iterator[RawChunk]:
    """All chunks of a read task, in file order."""
    for f in task.files:
        if f.format == "jsonl":
            yield from _read_jsonl(f, task, text_field, rows_per_chunk)
        elif f.format == "parquet":
            yield from _read_parquet(f, text_field, rows_per_chunk)
        elif f.format in ("csv", "tsv"):
            yield from _read_csv(f, text_field)
        elif f.format == "txt":
            pass
        else:  # pragma: no cover - discovery only yields known formats
            raise InputError(f"{f.relpath}: unsupported format {f.format!r}")
    txt = [f for f in task.files if f.format == "txt"]
    if txt:
        yield from _read_txt(txt, rows_per_chunk)


# ---------------------------------------------------------------- JSON Lines


def _open_stream(f: InputFile, start: int, end: int | None) -> io.RawIOBase | io.BufferedIOBase:
    if f.compression == "gzip":
        return gzip.open(f.path, "rb")  # type: ignore[return-value]
    if f.compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(f.path, "rb"), read_across_frames=True)  # noqa: SIM115
    fh = open(f.path, "rb")  # noqa: SIM115
    fh.seek(start)
    return fh


def _line_chunks(stream: io.RawIOBase | io.BufferedIOBase, limit: int | None) -> Iterator[bytes]:
    """Blocks of about CHUNK_BYTES that end at a newline (the last one may not)."""
    remaining = limit
    tail = b""
    while True:
        want = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
        block = stream.read(want) if want > 0 else b""
        if remaining is not None:
            remaining -= len(block)
        if not block:
            if tail:
                yield tail
            return
        data = tail + block
        cut = data.rfind(b"\n")
        if cut < 0:
            tail = data
            continue
        yield data[: cut + 1]
        tail = data[cut + 1 :]


def _read_jsonl(f: InputFile, task: ReadTask, text_field: str, rows_per_chunk: int) -> Iterator[RawChunk]:
    limit = None if f.compression else (task.end if task.end is not None else f.size) - task.start
    line = task.first_line if not f.compression else 1
    with _open_stream(f, task.start, task.end) as stream:
        for chunk in _line_chunks(stream, limit):
            yield from _parse_jsonl_chunk(f, chunk, line, text_field, rows_per_chunk)
            line += chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)


def _line_bounds(chunk: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end and non-blank flag of every line in a chunk.

    Newlines are found vectorised; only lines that are empty or start with whitespace (rare
    in JSON Lines) are looked at one by one to see whether they hold anything.
    """
    buf = np.frombuffer(chunk, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    ends = nl if chunk.endswith(b"\n") else np.append(nl, len(buf))
    starts = np.concatenate(([0], nl + 1))[: len(ends)]
    nonblank = np.ones(len(ends), dtype=bool)
    if len(buf):
        first = buf[np.minimum(starts, len(buf) - 1)]
        for i in np.flatnonzero((ends == starts) | _WS[first]).tolist():
            nonblank[i] = bool(chunk[starts[i] : ends[i]].strip())
    return starts, ends, nonblank


def _parse_jsonl_chunk(
    f: InputFile, chunk: bytes, first_line: int, text_field: str, rows_per_chunk: int
) -> Iterator[RawChunk]:
    starts, ends, nonblank = _line_bounds(chunk)
    lines = first_line + np.flatnonzero(nonblank)
    table = _fast_jsonl(chunk, len(lines))
    if table is None:
        table, lines, bad = _slow_jsonl(chunk, starts, ends, nonblank, first_line, text_field)
    else:
        bad = []
    for off in range(0, max(table.num_rows, 1), rows_per_chunk):
        yield RawChunk(
            f,
            table.slice(off, max(0, min(rows_per_chunk, table.num_rows - off))),
            lines[off : off + rows_per_chunk],
            bad if off == 0 else [],
        )


def _fast_jsonl(chunk: bytes, expected_rows: int) -> pa.Table | None:
    """pyarrow's multithreaded parser, used only when the whole chunk is valid UTF-8 and parses."""
    try:
        chunk.decode("utf-8")  # pyarrow silently replaces invalid UTF-8; we must reject it
        table = pajson.read_json(
            io.BytesIO(chunk),
            read_options=pajson.ReadOptions(block_size=max(1 << 20, min(len(chunk), 16 << 20))),
        )
    except (UnicodeDecodeError, pa.ArrowInvalid):
        return None
    return table if table.num_rows == expected_rows else None


def _slow_jsonl(
    chunk: bytes, starts: np.ndarray, ends: np.ndarray, nonblank: np.ndarray, first_line: int, text_field: str
) -> tuple[pa.Table, np.ndarray, list[BadRecord]]:
    """Line by line, for chunks holding a malformed record: find which lines are bad and why."""
    records: list[dict] = []
    lines: list[int] = []
    bad: list[BadRecord] = []
    for i in np.flatnonzero(nonblank).tolist():
        raw = chunk[starts[i] : ends[i]]
        line = first_line + i
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as uerr:
                bad.append(BadRecord(line, "invalid_utf8", f"invalid UTF-8 at byte {uerr.start}", _lossy(raw)))
                continue
            bad.append(BadRecord(line, "invalid_json", str(err).split("\n")[0], _lossy(raw)))
            continue
        if not isinstance(obj, dict):
            bad.append(BadRecord(line, "not_an_object", f"expected a JSON object, got {type(obj).__name__}", _lossy(raw)))
            continue
        text = obj.get(text_field)
        if text is not None and not isinstance(text, str):
            bad.append(BadRecord(line, "invalid_text_type", f"{text_field!r} is a {type(text).__name__}, not a string", _lossy(raw)))
            continue
        records.append(obj)
        lines.append(line)
    return table_from_records(records), np.asarray(lines, dtype=np.int64), bad


def _lossy(raw: bytes, limit: int = 1_000_000) -> str:
    return raw[:limit].decode("utf-8", errors="replace").rstrip("\r")


def table_from_records(records: list[dict]) -> pa.Table:
    """Records -> table; a field with mixed types across records becomes JSON text, not an error."""
    if not records:
        return pa.table({})
    try:
        return pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r))
    columns = {}
    for name in names:
        values = [r.get(name) for r in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array(
                [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values],
                type=pa.string(),
            )
    return pa.table(columns)


# ---------------------------------------------------------------- Parquet, CSV, txt


def _read_parquet(f: InputFile, text_field: str, rows_per_chunk: int) -> Iterator[RawChunk]:
    try:
        pf = pq.ParquetFile(f.path)
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"{f.relpath}: not a readable Parquet file: {err}") from None
    row = 1
    for batch in pf.iter_batches(batch_size=rows_per_chunk):
        table = pa.Table.from_batches([batch])
        yield RawChunk(f, table, np.arange(row, row + table.num_rows, dtype=np.int64), unit="row")
        row += table.num_rows
    if pf.metadata.num_rows == 0:
        yield RawChunk(f, pf.schema_arrow.empty_table(), np.zeros(0, np.int64), unit="row")


def _read_csv(f: InputFile, text_field: str) -> Iterator[RawChunk]:
    bad: list[BadRecord] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        line = row.number if row.number is not None else -1
        bad.append(BadRecord(line, "malformed_row", f"expected {row.expected_columns} columns, got {row.actual_columns}", row.text))
        return "skip"

    delimiter = "\t" if f.format == "tsv" else ","
    try:
        reader = pacsv.open_csv(
            pa.input_stream(f.path, compression=f.compression),
            read_options=pacsv.ReadOptions(block_size=CHUNK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={text_field: pa.binary()}),
        )
        row = 1
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield RawChunk(f, table, np.arange(row, row + table.num_rows, dtype=np.int64), list(bad), unit="row")
            bad.clear()
            row += table.num_rows
        if bad:
            yield RawChunk(f, pa.table({}), np.zeros(0, np.int64), list(bad), unit="line")
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise InputError(
            f"{f.relpath}: cannot read as {f.format.upper()}: {err}",
            hint="check the delimiter, the header row and the file's encoding (UTF-8)",
        ) from None


def _read_txt(files: list[InputFile], rows_per_chunk: int) -> Iterator[RawChunk]:
    for off in range(0, len(files), rows_per_chunk):
        group = files[off : off + rows_per_chunk]
        texts = []
        for f in group:
            with open(f.path, "rb") as fh:
                data = fh.read()
            if f.compression == "gzip":
                data = gzip.decompress(data)
            elif f.compression == "zstd":
                import zstandard

                data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
            texts.append(data)
        table = pa.table({"text": pa.array(texts, type=pa.binary()), "path": [f.relpath for f in group]})
        # one document per file: the "line" of each record is its position in the group
        yield RawChunk(group[0], table, np.ones(len(group), dtype=np.int64), unit="file")
