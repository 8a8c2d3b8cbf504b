"""XXH64 as a numba kernel, for compiled loops (MinHash) that hash inside the loop.

Equals ``xxhash.xxh64_intdigest``. Kept apart from ``curate.hashing`` so that ingest and
export never pay numba's import and cache-load time (about 2 s per worker process).
"""

from __future__ import annotations

import numba
import numpy as np

_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)


@numba.njit(inline="always")
def _rotl(x: np.uint64, r: int) -> np.uint64:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@numba.njit(inline="always")
def _read64(data: np.ndarray, i: int) -> np.uint64:
    v = np.uint64(0)
    for k in range(8):
        v |= np.uint64(data[i + k]) << np.uint64(8 * k)
    return v


@numba.njit(inline="always")
def _read32(data: np.ndarray, i: int) -> np.uint64:
    v = np.uint64(0)
    for k in range(4):
        v |= np.uint64(data[i + k]) << np.uint64(8 * k)
    return v


@numba.njit(inline="always")
def _round(acc: np.uint64, lane: np.uint64) -> np.uint64:
    acc = acc + lane * _P2
    acc = _rotl(acc, 31)
    return acc * _P1


@numba.njit(inline="always")
def _merge(acc: np.uint64, val: np.uint64) -> np.uint64:
    acc ^= _round(np.uint64(0), val)
    return acc * _P1 + _P4


@numba.njit(cache=True, nogil=True)
def xxh64_range(data: np.ndarray, start: int, end: int, seed: np.uint64) -> np.uint64:
    """XXH64 of ``data[start:end]`` (uint8 array)."""
    n = end - start
    i = start
    if n >= 32:
        v1 = seed + _P1 + _P2
        v2 = seed + _P2
        v3 = seed
        v4 = seed - _P1
        limit = end - 32
        while i <= limit:
            v1 = _round(v1, _read64(data, i))
            v2 = _round(v2, _read64(data, i + 8))
            v3 = _round(v3, _read64(data, i + 16))
            v4 = _round(v4, _read64(data, i + 24))
            i += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = seed + _P5
    h += np.uint64(n)
    while i + 8 <= end:
        h ^= _round(np.uint64(0), _read64(data, i))
        h = _rotl(h, 27) * _P1 + _P4
        i += 8
    if i + 4 <= end:
        h ^= _read32(data, i) * _P1
        h = _rotl(h, 23) * _P2 + _P3
        i += 4
    while i < end:
        h ^= np.uint64(data[i]) * _P5
        h = _rotl(h, 11) * _P1
        i += 1
    h ^= h >> np.uint64(33)
    h *= _P2
    h ^= h >> np.uint64(29)
    h *= _P3
    h ^= h >> np.uint64(32)
    return h


@numba.njit(cache=True, nogil=True)
def _xxh64_many(offsets: np.ndarray, data: np.ndarray, seed: np.uint64) -> np.ndarray:
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for r in range(n):
        out[r] = xxh64_range(data, offsets[r], offsets[r + 1], seed)
    return out


