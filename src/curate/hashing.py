"""Stable hashes of Arrow string columns: XXH64 of each value's UTF-8 bytes.

Anything persisted or compared across runs (ids, splits, sampling) must use a hash that
never changes between library versions; ``pl.Expr.hash`` does not promise that. Values equal
``xxhash.xxh64_intdigest(utf8_bytes, seed)``. The loop is per document over zero-copy slices
of the Arrow data buffer (about 1 microsecond per document, no per-character work); the compiled
dedup kernels (``curate.dedup._native``) carry their own XXH64 for hashing inside their loops.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash


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


def hash_strings(values: pl.Series | pa.Array | pa.ChunkedArray, seed: int = 0) -> np.ndarray:
    """XXH64 of each string's UTF-8 bytes (nulls hash like the empty string)."""
    offsets, data = _string_buffers(values)
    n = len(offsets) - 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    seed &= 0xFFFFFFFFFFFFFFFF
    digest = xxhash.xxh64_intdigest
    view = memoryview(data)
    bounds = offsets.tolist()
    return np.fromiter(
        (digest(view[bounds[i] : bounds[i + 1]], seed) for i in range(n)), dtype=np.uint64, count=n
    )


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Map uint64 hashes to floats in [0, 1) using the top 53 bits (exact in float64)."""
    return (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from a seed and labels (stage index, purpose), stable across runs."""
    return xxhash.xxh64_intdigest("\x1f".join(str(p) for p in parts).encode())
