"""Ingest's Parquet reading, cut into chunks: rows as ``iter_batches`` gives them, joined into
tables of ``rows_per_chunk`` rows (or less text), decoded a batch at a time.

Apart from ``readers`` because ``prefetch`` runs it before the rest of curate has loaded: this
module imports numpy and pyarrow only.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def parquet_chunks(path: str, rows_per_chunk: int, text_field: str = "text", text_bytes: int | None = None) -> Iterator[pa.Table]:
    """The tables ingest's Parquet reader hands on for a local file read with these settings
    (``chunks_in``); for ``prefetch``, which begins this read before ingest asks for it."""
    return chunks_in(pq.ParquetFile(path), rows_per_chunk, text_field, text_bytes)


def chunks_in(pf: pq.ParquetFile, rows_per_chunk: int, text_field: str, text_bytes: int | None) -> Iterator[pa.Table]:
    """``_chunks_of`` the file, cut by ``text_bytes`` of ``text_field`` if that is a string or binary column."""
    cut = None
    if text_bytes is not None and text_field in pf.schema_arrow.names:
        kind = pf.schema_arrow.field(text_field).type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            cut = text_field
    return _chunks_of(pf, rows_per_chunk, _read_batch_rows(pf.metadata, rows_per_chunk), cut, text_bytes)


PARQUET_READ_BYTES = 16 * 1024 * 1024
"""About how many bytes of decoded columns one Parquet read holds: a chunk of ``rows_per_chunk``
rows is read in batches of this size, so a large row group is never decoded at once (pyarrow
decodes a whole batch, with its growth buffers, before handing it on: 50,000 rows of a 1.3 kB/row
group held ~270 MiB in the reader; batches of ~16 MiB hold the chunk and one batch)."""


def _read_batch_rows(md: pq.FileMetaData, rows_per_chunk: int) -> int:
    """Rows per read batch: ``PARQUET_READ_BYTES`` of the file's decoded row size, at most a chunk."""
    size = sum(md.row_group(g).total_byte_size for g in range(md.num_row_groups))
    per_row = max(1, size // max(1, md.num_rows))
    return min(rows_per_chunk, max(1024, PARQUET_READ_BYTES // per_row))


def _chunks_of(
    pf: pq.ParquetFile, rows_per_chunk: int, batch_rows: int, text_field: str | None = None, text_bytes: int | None = None
) -> Iterator[pa.Table]:
    """The file's rows in tables of exactly ``rows_per_chunk`` rows (the last may hold fewer), the
    same rows ``iter_batches(batch_size=rows_per_chunk)`` gives, each one contiguous table, read
    in batches of ``batch_rows``. With ``text_field`` and ``text_bytes``, each such chunk comes in
    pieces: rows are added to a piece while its text stays within ``text_bytes`` (a longer row is a
    piece of its own)."""
    pending: list[pa.RecordBatch] = []
    have = 0  # rows of the current chunk handed on or pending
    held = 0  # rows pending
    size = 0  # text bytes pending
    for batch in pf.iter_batches(batch_size=batch_rows):
        ends = None if text_field is None else np.cumsum(text_lengths(batch.column(text_field)))
        at = 0  # rows of this batch taken
        while at < batch.num_rows:
            take = min(batch.num_rows - at, rows_per_chunk - have)
            full = have + take == rows_per_chunk
            if ends is not None and text_bytes is not None:
                before = int(ends[at - 1]) if at else 0
                fit = int(np.searchsorted(ends[at : at + take], before + text_bytes - size, side="right"))
                if fit < take:  # the piece is full before the chunk is (a row over the cap: alone)
                    take, full = (fit if fit or held else 1), True
            if take:
                pending.append(batch.slice(at, take))
                if ends is not None:
                    size += int(ends[at + take - 1]) - (int(ends[at - 1]) if at else 0)
                at += take
                have += take
                held += take
            if full:
                yield _joined(pending)
                pending, held, size = [], 0, 0
                if have == rows_per_chunk:
                    have = 0
    if held:
        yield _joined(pending)


def text_lengths(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Bytes of each value of a string or binary column, a null weighing nothing, read from its
    offsets (no compute kernel: pyarrow's ``to_numpy`` of a chunked array imports pandas)."""
    parts = [np.zeros(0, np.int64)]
    for a in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        n = len(a)
        if not n:
            continue
        wide = pa.types.is_large_string(a.type) or pa.types.is_large_binary(a.type)
        validity, offsets = a.buffers()[:2]
        ends = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32)[a.offset : a.offset + n + 1]
        lengths = np.diff(ends).astype(np.int64)
        if a.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            lengths[bits[a.offset : a.offset + n] == 0] = 0
        parts.append(lengths)
    return np.concatenate(parts)


def _joined(batches: list[pa.RecordBatch]) -> pa.Table:
    if len(batches) == 1:
        return pa.Table.from_batches(batches)
    table = pa.Table.from_batches(batches).combine_chunks()
    batches.clear()  # the caller's list: its batches are freed once the table holds their copy
    return table
