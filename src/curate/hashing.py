"""Stable hashes of Arrow string columns: XXH64 of each value's UTF-8 bytes.

Anything persisted or compared across runs (ids, splits, sampling) must use a hash that
never changes between library versions; ``pl.Expr.hash`` does not promise that. Values equal
``xxhash.xxh64_intdigest(utf8_bytes, seed)`` (pinned in tests/test_hashing.py). The loop runs in
the compiled kernels (``curate.dedup._native``, their own XXH64) over the zero-copy Arrow
buffers, with the GIL released: no per-document Python.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from curate.dedup import _native


def _string_buffers(values: pl.Series | pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int64) and bytes (uint8) of a string column, as zero-copy numpy views where possible."""
    arr = values.cast(pl.String).to_arrow() if isinstance(values, pl.Series) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_string(arr.type) or pa.types.is_binary(arr.type) or pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
        arr = arr.cast(pa.large_binary())
    if arr.null_count:
        arr = arr.fill_null(b"")
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    return offsets, data


class StringArgs:
    """A string column as the compiled kernels take it (``strings`` and ``buffers``, their first two
    arguments), and its length. A polars string column without nulls is passed as its own views
    and data buffers (Arrow's string_view layout, zero-copy: the kernels read the text where
    polars holds it); anything else as the int64 offsets and bytes of ``_string_buffers`` (for a
    polars column, an Arrow copy of all its text: 9 of them in a `curate dedup` of 126 MB, 0.05-0.07
    CPU s and ~270 MB of fresh pages). Keep the object while the kernel runs: it holds the
    buffers the views point into."""

    __slots__ = ("strings", "buffers", "n", "_hold")

    def __init__(self, values: pl.Series | pa.Array | pa.ChunkedArray) -> None:
        arr = _views_of(values) if isinstance(values, pl.Series) else None
        if arr is None:
            offsets, data = _string_buffers(values)
            self.strings, self.buffers = np.ascontiguousarray(offsets, dtype=np.int64), np.ascontiguousarray(data, dtype=np.uint8)
            self.n = max(len(offsets) - 1, 0)
            self._hold: object = None
            return
        views = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[16 * arr.offset : 16 * (arr.offset + len(arr))]
        data = arr.buffers()[2:]
        self.strings = views
        self.buffers = (
            np.array([b.address for b in data], dtype=np.uint64),
            np.array([b.size for b in data], dtype=np.int64),
        )
        self.n = len(arr)
        self._hold = arr


def _views_of(values: pl.Series) -> pa.StringViewArray | None:
    """``values``' own string views as an Arrow array (no copy), or None when it is not a string
    column without nulls."""
    if values.dtype != pl.String or values.null_count() or not len(values):
        return None
    arr = values.to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks != 1:
            return None
        arr = arr.chunk(0)
    return arr if pa.types.is_string_view(arr.type) else None


def hash_strings(values: pl.Series | pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """XXH64 of each string's UTF-8 bytes (nulls hash like the empty string)."""
    column = StringArgs(values)
    out = np.empty(column.n, dtype=np.uint64)
    if column.n > 0:
        _native.hash_strings(column.strings, column.buffers, seed & 0xFFFFFFFFFFFFFFFF, out)
    return out


def hash_collapsed(
    values: pl.Series | pa.Array | pa.ChunkedArray, flags: np.ndarray, seeds: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Two XXH64s of each string with its whitespace collapsed, without building the new strings:
    equal to ``hash_strings`` of ``re.sub(r"\\s+", " ", s).strip()`` (whitespace as Python's ``re``
    defines ``\\s``: ``flags & 2`` per code point, from ``curate.dedup.minhash.char_tables``)."""
    column = StringArgs(values)
    n = column.n
    out1, out2 = np.empty(n, dtype=np.uint64), np.empty(n, dtype=np.uint64)
    if n:
        mask = 0xFFFFFFFFFFFFFFFF
        _native.hash_collapsed(column.strings, column.buffers, flags, seeds[0] & mask, seeds[1] & mask, out1, out2)
    return out1, out2


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Map uint64 hashes to floats in [0, 1) using the top 53 bits (exact in float64)."""
    return (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from a seed and labels (stage index, purpose), stable across runs."""
    return xxhash.xxh64_intdigest("\x1f".join(str(p) for p in parts).encode())
