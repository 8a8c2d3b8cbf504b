"""Batch MinHash signatures: tokenise, shingle, permute and take minima in one compiled kernel.

Normalisation (documented, and the same in both hash modes):

* ``shingle="word"``: every code point is lowercased with the Unicode *simple* case mapping
  (one code point to one code point; ``str.lower`` except that U+0130 maps to ``i``), tokens are
  maximal runs of word characters as Python's ``re`` defines ``\\w`` (letters, digits, ``_``).
  Everything else (spaces, punctuation, line breaks, markup symbols) only separates tokens, so
  re-wrapping or re-spacing a text cannot hide a copy. A shingle is ``ngram`` consecutive tokens
  joined by one space.
* ``shingle="char"``: lowercased as above, every run of whitespace becomes one space and leading
  and trailing whitespace is dropped; a shingle is ``ngram`` consecutive code points.
* A text with fewer than ``ngram`` units (tokens or characters) but at least one is one shingle:
  the whole normalised text. A text with no unit at all (empty, null, only punctuation) has no
  shingle; its signature is all ``0xFFFFFFFF`` (as datasketch's empty MinHash) and
  :func:`signatures` reports 0 shingles; the stage then matches it only with exact copies of
  its raw text.

Hash modes (signatures are ``uint32``, permutations ``a * h + b mod 2**32`` with odd ``a``, drawn
exactly like datasketch 2.0's default ``affine32`` scheme from ``numpy.random.RandomState(seed)``):

* ``"datasketch"``: the shingle hash is ``xxhash.xxh32_intdigest(shingle.encode("utf-8"))``,
  pre-mixed with the MurmurHash3 32-bit finaliser, so the signature equals
  ``datasketch.MinHash(num_perm, seed, hashfunc=lambda s: xxh32_intdigest(s.encode())).hashvalues``
  after ``update(shingle)`` for every shingle.
* ``"fast"`` (default): every token is hashed once, while it is lowercased (FNV-1a over its
  UTF-8 bytes plus a mixing round; XXH64 of each character in char mode), and a shingle's hash
  mixes its tokens' hashes with a multiply-rotate chain and the XXH64 avalanche (no per-shingle
  byte hashing); the permutation family is the same.

Memory: the kernel allocates per-batch scratch proportional to the largest document; nothing of
size (shingles x num_perm) is ever materialised.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import unicodedata
from pathlib import Path
from typing import Literal

import numba
import numpy as np
import polars as pl
import pyarrow as pa

from curate.hashing import _string_buffers, xxh64_range

HashMode = Literal["fast", "datasketch"]
ShingleMode = Literal["word", "char"]

EMPTY = np.uint32(0xFFFFFFFF)
_M32 = np.uint64(0xFFFFFFFF)
_X1 = np.uint64(2654435761)
_X2 = np.uint64(2246822519)
_X3 = np.uint64(3266489917)
_X4 = np.uint64(668265263)
_X5 = np.uint64(374761393)
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)

_WORD = np.uint8(1)
_SPACE = np.uint8(2)

_tables_lock = threading.Lock()
_tables: tuple[np.ndarray, np.ndarray] | None = None


def char_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per-code-point flags (1 = ``\\w``, 2 = whitespace) and simple lowercase map, built once.

    Built from Python's own ``re`` and ``str.lower`` over all code points, so the compiled
    tokeniser agrees with ``re.findall(r"\\w+", text.lower())``. Building takes ~0.7 s, so the
    result is cached per process and on disk beside numba's cache (keyed by the Python and
    Unicode versions); an unwritable package folder only costs the rebuild.
    """
    global _tables
    with _tables_lock:
        if _tables is None:
            cache = Path(__file__).parent / "__pycache__" / (
                f"chartables-py{sys.version_info[0]}{sys.version_info[1]}-u{unicodedata.unidata_version}.npz"
            )
            try:
                with np.load(cache) as z:
                    _tables = (z["flags"], z["lower"])
            except (OSError, KeyError, ValueError):
                _tables = _build_char_tables()
                try:
                    cache.parent.mkdir(exist_ok=True)
                    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
                    np.savez(tmp, flags=_tables[0], lower=_tables[1])
                    os.replace(tmp, cache)
                except OSError:
                    pass
        return _tables


def _build_char_tables() -> tuple[np.ndarray, np.ndarray]:
    n = 0x110000
    every = "".join(map(chr, range(n)))

    def codes(text: str) -> np.ndarray:
        return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)

    flags = np.zeros(n, dtype=np.uint8)
    flags[codes(re.sub(r"\W", "\0", every)) != 0] |= _WORD
    flags[codes(re.sub(r"\S", "\0", every)) != 0] |= _SPACE
    lowered = every.replace("\u0130", "i").lower()
    if len(lowered) != n:  # a Python whose lower() expands more than U+0130
        lowered = "".join(c if len(c) == 1 else c[0] for c in map(str.lower, every))
    return flags, codes(lowered).astype(np.int32)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) uint32 parameters, drawn exactly as datasketch 2.0 draws its affine32 ones."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a.astype(np.uint32), b.astype(np.uint32)


# ------------------------------------------------------------------ compiled helpers


@numba.njit(inline="always")
def _rotl32(x: np.uint64, r: int) -> np.uint64:
    return ((x << np.uint64(r)) | (x >> np.uint64(32 - r))) & _M32


@numba.njit(inline="always")
def _rd32(buf: np.ndarray, i: int) -> np.uint64:
    return (
        np.uint64(buf[i])
        | (np.uint64(buf[i + 1]) << np.uint64(8))
        | (np.uint64(buf[i + 2]) << np.uint64(16))
        | (np.uint64(buf[i + 3]) << np.uint64(24))
    )


@numba.njit(inline="always")
def _xround(acc: np.uint64, lane: np.uint64) -> np.uint64:
    acc = (acc + lane * _X2) & _M32
    return (_rotl32(acc, 13) * _X1) & _M32


@numba.njit(cache=True, nogil=True)
def xxh32_range(buf: np.ndarray, start: int, end: int, seed: np.uint64) -> np.uint64:
    """XXH32 of ``buf[start:end]`` (equals ``xxhash.xxh32_intdigest``)."""
    n = end - start
    i = start
    if n >= 16:
        v1 = (seed + _X1 + _X2) & _M32
        v2 = (seed + _X2) & _M32
        v3 = seed & _M32
        v4 = (seed - _X1) & _M32
        limit = end - 16
        while i <= limit:
            v1 = _xround(v1, _rd32(buf, i))
            v2 = _xround(v2, _rd32(buf, i + 4))
            v3 = _xround(v3, _rd32(buf, i + 8))
            v4 = _xround(v4, _rd32(buf, i + 12))
            i += 16
        h = (_rotl32(v1, 1) + _rotl32(v2, 7) + _rotl32(v3, 12) + _rotl32(v4, 18)) & _M32
    else:
        h = (seed + _X5) & _M32
    h = (h + np.uint64(n)) & _M32
    while i + 4 <= end:
        h = (h + _rd32(buf, i) * _X3) & _M32
        h = (_rotl32(h, 17) * _X4) & _M32
        i += 4
    while i < end:
        h = (h + np.uint64(buf[i]) * _X5) & _M32
        h = (_rotl32(h, 11) * _X1) & _M32
        i += 1
    h ^= h >> np.uint64(15)
    h = (h * _X2) & _M32
    h ^= h >> np.uint64(13)
    h = (h * _X3) & _M32
    h ^= h >> np.uint64(16)
    return h


_TOKEN_SEED = np.uint64(0xCBF29CE484222325)
_TOKEN_PRIME = np.uint64(0x100000001B3)


@numba.njit(inline="always")
def _token_final(h: np.uint64) -> np.uint64:
    # FNV-1a's low bits are weak; one xor-shift-multiply round spreads them before combining
    h ^= h >> np.uint64(32)
    h *= _P2
    h ^= h >> np.uint64(29)
    return h


@numba.njit(inline="always")
def _fmix32(h: np.uint64) -> np.uint64:
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & _M32
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & _M32
    h ^= h >> np.uint64(16)
    return h


@numba.njit(inline="always")
def _permute_min(h: np.uint32, a: np.ndarray, b: np.ndarray, row: np.ndarray) -> None:
    # uint32 wrap-around is the "mod 2**32" of the affine32 scheme. Branch-free min lets LLVM
    # vectorise over k (an `if v < row[k]` store runs ~8x slower).
    for k in range(a.shape[0]):
        row[k] = min(row[k], np.uint32(a[k] * h + b[k]))


@numba.njit(inline="always")
def _put_utf8(out: np.ndarray, j: int, cp: int) -> int:
    if cp < 0x80:
        out[j] = cp
        return j + 1
    if cp < 0x800:
        out[j] = 0xC0 | (cp >> 6)
        out[j + 1] = 0x80 | (cp & 0x3F)
        return j + 2
    if cp < 0x10000:
        out[j] = 0xE0 | (cp >> 12)
        out[j + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[j + 2] = 0x80 | (cp & 0x3F)
        return j + 3
    out[j] = 0xF0 | (cp >> 18)
    out[j + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[j + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[j + 3] = 0x80 | (cp & 0x3F)
    return j + 4


@numba.njit(cache=True, nogil=True)
def _normalise_units(
    data: np.ndarray,
    b0: int,
    b1: int,
    char_mode: bool,
    flags: np.ndarray,
    lower: np.ndarray,
    scratch: np.ndarray,
    ustart: np.ndarray,
    uend: np.ndarray,
    uhash: np.ndarray,
    ascii_word: np.ndarray,
) -> int:
    """Write the normalised text of ``data[b0:b1]`` to ``scratch``; unit (token/char) bounds out.

    In word mode each token's hash goes to ``uhash`` as its bytes are written (one
    multiply-xor per byte and a finaliser at the end of the token; no second pass).
    """
    i = b0
    j = 0
    nu = 0
    in_tok = False
    pending_space = False
    h = _TOKEN_SEED
    while i < b1:
        c = int(data[i])
        if c < 0x80 and not char_mode:
            # ASCII fast path for word tokens: most bytes of most corpora
            i += 1
            lc = ascii_word[c]  # the lowercase byte, or 0 for a separator: one lookup
            if lc != 0:
                if not in_tok:
                    ustart[nu] = j
                    in_tok = True
                    h = _TOKEN_SEED
                scratch[j] = lc
                j += 1
                h = (h ^ np.uint64(lc)) * _TOKEN_PRIME
            elif in_tok:
                uend[nu] = j
                uhash[nu] = _token_final(h)
                nu += 1
                in_tok = False
            continue
        if c < 0x80:
            cp = c
            i += 1
        elif c >= 0xF0 and i + 3 < b1:
            cp = ((c & 0x07) << 18) | ((int(data[i + 1]) & 0x3F) << 12)
            cp |= ((int(data[i + 2]) & 0x3F) << 6) | (int(data[i + 3]) & 0x3F)
            i += 4
        elif c >= 0xE0 and i + 2 < b1:
            cp = ((c & 0x0F) << 12) | ((int(data[i + 1]) & 0x3F) << 6) | (int(data[i + 2]) & 0x3F)
            i += 3
        elif c >= 0xC0 and i + 1 < b1:
            cp = ((c & 0x1F) << 6) | (int(data[i + 1]) & 0x3F)
            i += 2
        else:
            cp = 0xFFFD
            i += 1
        if cp >= 0x110000:
            cp = 0xFFFD
        f = flags[cp]
        if char_mode:
            if f & 2:
                pending_space = nu > 0
                continue
            if pending_space:
                ustart[nu] = j
                j = _put_utf8(scratch, j, 0x20)
                uend[nu] = j
                nu += 1
                pending_space = False
            ustart[nu] = j
            j = _put_utf8(scratch, j, int(lower[cp]))
            uend[nu] = j
            nu += 1
        elif f & 1:
            if not in_tok:
                ustart[nu] = j
                in_tok = True
                h = _TOKEN_SEED
            j0 = j
            j = _put_utf8(scratch, j, int(lower[cp]))
            for q in range(j0, j):
                h = (h ^ np.uint64(scratch[q])) * _TOKEN_PRIME
        elif in_tok:
            uend[nu] = j
            uhash[nu] = _token_final(h)
            nu += 1
            in_tok = False
    if in_tok:
        uend[nu] = j
        uhash[nu] = _token_final(h)
        nu += 1
    return nu


@numba.njit(cache=True, nogil=True)
def _signature_kernel(
    offsets: np.ndarray,
    data: np.ndarray,
    ngram: int,
    char_mode: bool,
    datasketch: bool,
    flags: np.ndarray,
    lower: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray,
    nshingles: np.ndarray,
) -> None:
    n_docs = offsets.shape[0] - 1
    max_len = 0
    for d in range(n_docs):
        max_len = max(max_len, offsets[d + 1] - offsets[d])
    # lowercasing may lengthen UTF-8 by half (2-byte -> 3-byte code points); char mode adds spaces
    scratch = np.empty(2 * max_len + 16, dtype=np.uint8)
    joined = np.empty(2 * max_len + 16, dtype=np.uint8)
    ustart = np.empty(max_len + 1, dtype=np.int64)
    uend = np.empty(max_len + 1, dtype=np.int64)
    uhash = np.empty(max_len + 1, dtype=np.uint64)
    ascii_word = np.zeros(128, dtype=np.uint8)
    for c in range(128):
        if flags[c] & 1:
            ascii_word[c] = lower[c]
    for d in range(n_docs):
        row = out[d]
        for k in range(row.shape[0]):
            row[k] = 0xFFFFFFFF
        nu = _normalise_units(
            data, offsets[d], offsets[d + 1], char_mode, flags, lower, scratch, ustart, uend, uhash, ascii_word
        )
        if nu == 0:
            nshingles[d] = 0
            continue
        width = min(ngram, nu)
        ns = nu - width + 1
        nshingles[d] = ns
        if datasketch:
            for s in range(ns):
                if char_mode:
                    h = xxh32_range(scratch, ustart[s], uend[s + width - 1], np.uint64(0))
                else:
                    j = 0
                    for t in range(s, s + width):
                        if t > s:
                            joined[j] = 0x20
                            j += 1
                        for q in range(ustart[t], uend[t]):
                            joined[j] = scratch[q]
                            j += 1
                    h = xxh32_range(joined, 0, j, np.uint64(0))
                _permute_min(np.uint32(_fmix32(h)), a, b, row)
        else:
            if char_mode:  # word mode hashed its tokens while normalising
                for t in range(nu):
                    uhash[t] = xxh64_range(scratch, ustart[t], uend[t], np.uint64(0))
            for s in range(ns):
                h = np.uint64(width)
                for t in range(s, s + width):
                    h = h * _P1 + uhash[t]
                    h = (h << np.uint64(31)) | (h >> np.uint64(33))
                h *= _P2
                h ^= h >> np.uint64(29)
                h *= _P1
                h ^= h >> np.uint64(32)
                _permute_min(np.uint32(h & _M32), a, b, row)


def signatures(
    texts: pl.Series | pa.Array | pa.ChunkedArray,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 1,
    shingle: ShingleMode = "word",
    hash: HashMode = "fast",
) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures (n, num_perm) uint32 and shingle counts (n,) int32 for a text column.

    Nulls behave like empty texts. Runs in one compiled pass over the Arrow UTF-8 buffer.
    """
    offsets, data = _string_buffers(texts)
    n = max(len(offsets) - 1, 0)
    out = np.empty((n, num_perm), dtype=np.uint32)
    counts = np.zeros(n, dtype=np.int32)
    if n == 0:
        return out, counts
    flags, lower = char_tables()
    a, b = permutations(num_perm, seed)
    _signature_kernel(
        offsets, data, int(ngram), shingle == "char", hash == "datasketch",
        flags, lower, a, b, out, counts,
    )
    return out, counts


def reference_shingles(text: str | None, ngram: int = 5, shingle: ShingleMode = "word") -> list[str]:
    """The shingle strings of one text, in plain Python: the documented normalisation, for tests."""
    if not text:
        return []
    low = "".join(c.lower()[0] if c.lower() else c for c in text)
    if shingle == "word":
        units = re.findall(r"\w+", low)
        sep = " "
    else:
        units = list(re.sub(r"\s+", " ", low).strip())
        sep = ""
    if not units:
        return []
    width = min(ngram, len(units))
    return [sep.join(units[i : i + width]) for i in range(len(units) - width + 1)]
