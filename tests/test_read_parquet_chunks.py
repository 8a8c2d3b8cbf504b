"""A Parquet input is read a slice of a row group at a time, yet cut into the same chunks (shards)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.engines.base import text_slices
from curate.io.discovery import InputFile
from curate.io.parquet_chunks import PARQUET_READ_BYTES, _chunks_of, _read_batch_rows, text_lengths
from curate.io.readers import RawChunk


def _write(path: Path, n: int, group: int) -> pq.ParquetFile:
    table = pa.table({"id": [f"d{i}" for i in range(n)], "text": [("w" * (i % 7)) + str(i) for i in range(n)]})
    pq.write_table(table, path, row_group_size=group)
    return pq.ParquetFile(path)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), group=st.integers(1, 120), chunk=st.integers(1, 90), batch=st.integers(1, 90))
def test_chunks_read_in_small_batches_are_those_of_one_batch_per_chunk(tmp_path_factory, n: int, group: int, chunk: int, batch: int) -> None:
    pf = _write(tmp_path_factory.mktemp("pq") / "a.parquet", n, group)
    expected = [pa.Table.from_batches([b]) for b in pf.iter_batches(batch_size=chunk)]
    got = list(_chunks_of(pf, chunk, batch))
    assert [t.num_rows for t in got] == [t.num_rows for t in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.equals(b)
        assert all(c.num_chunks == 1 for c in a.columns)  # one contiguous table, as before


def test_a_large_row_group_is_read_in_batches_of_bounded_bytes(tmp_path: Path) -> None:
    rows = 4_000
    table = pa.table({"text": [f"{i:05d}" + "x" * 20_000 for i in range(rows)]})  # 80 MB in one row group
    pq.write_table(table, tmp_path / "big.parquet", row_group_size=rows, compression="zstd")
    md = pq.ParquetFile(tmp_path / "big.parquet").metadata
    per_batch = _read_batch_rows(md, 50_000)
    assert per_batch < rows
    assert 1024 <= per_batch <= max(1024, PARQUET_READ_BYTES // 20_000)
    assert _read_batch_rows(md, 100) == 100  # never more than a chunk


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.one_of(st.none(), st.integers(0, 40)), min_size=1, max_size=200),
    group=st.integers(1, 120), chunk=st.integers(1, 90), batch=st.integers(1, 90), cap=st.integers(1, 120),
)
def test_pieces_cut_while_reading_are_those_cut_from_whole_chunks(
    tmp_path_factory, sizes: list[int | None], group: int, chunk: int, batch: int, cap: int
) -> None:
    """`input.shard_text_bytes`: a Parquet file is cut while it is read into the pieces that cutting
    each whole chunk gives (each within the cap, a longer document alone, nulls weighing nothing)."""
    texts = [None if k is None else "é" * (k // 2) + "x" * (k % 2) for k in sizes]
    path = tmp_path_factory.mktemp("pq") / "a.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.string())}), path, row_group_size=group)
    pf = pq.ParquetFile(path)
    f = InputFile(str(path), "a.parquet", "parquet", None, path.stat().st_size, 0)
    expected = []
    for b in pf.iter_batches(batch_size=chunk):
        whole = RawChunk(f, pa.Table.from_batches([b]), np.arange(b.num_rows), unit="row")
        expected += [p.table for p in text_slices(whole, "text", cap)]
    got = list(_chunks_of(pf, chunk, batch, "text", cap))
    assert [t.num_rows for t in got] == [t.num_rows for t in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.equals(b)
        lengths = [len(t.encode()) for t in a.column("text").to_pylist() if t is not None]
        assert sum(lengths) <= cap or a.num_rows == 1


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=40),
    kind=st.sampled_from([pa.string(), pa.large_string(), pa.binary(), pa.large_binary()]),
    cut=st.integers(0, 40), start=st.integers(0, 40),
)
def test_text_lengths_are_the_utf8_bytes_of_each_value(texts: list[str | None], kind: pa.DataType, cut: int, start: int) -> None:
    values = [None if t is None else (t.encode() if kind in (pa.binary(), pa.large_binary()) else t) for t in texts]
    array = pa.array(values, kind)
    chunked = pa.chunked_array([array[: min(cut, len(array))], array[min(cut, len(array)) :]], kind)
    want = [0 if t is None else len(t.encode()) for t in texts]
    assert text_lengths(chunked).tolist() == want
    assert text_lengths(array.slice(min(start, len(array)))).tolist() == want[min(start, len(array)) :]
