"""Batch MinHash signatures: tokenise, shingle, permute and take minima in one compiled kernel
(``_native.c``, which releases the GIL).

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
* ``"fast"`` (default): every token is hashed once, from its lowercased UTF-8 bytes read 8 at a
  time (a multiply-rotate round per 8 bytes, seeded with the token's length, and a final
  xor-shift-multiply; XXH64 of each character in char mode), and a shingle's hash mixes its
  tokens' hashes with a multiply-rotate chain and the XXH64 avalanche (no per-shingle byte
  hashing); the permutation family is the same. ASCII text is classified and lowercased 16 bytes
  at a time (SSE2). These definitions are persisted in dedup indexes (``INDEX_VERSION``).

Memory: the kernel allocates per-batch scratch proportional to the largest document (about 32
bytes per byte of it); nothing of size (shingles x num_perm) is ever materialised.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa

from curate.dedup import _native
from curate.hashing import StringArgs

HashMode = Literal["fast", "datasketch"]
ShingleMode = Literal["word", "char"]

EMPTY = np.uint32(0xFFFFFFFF)

_WORD = np.uint8(1)
_SPACE = np.uint8(2)

_tables_lock = threading.Lock()
_tables: tuple[np.ndarray, np.ndarray] | None = None


def char_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per-code-point flags (1 = ``\\w``, 2 = whitespace) and simple lowercase map, built once.

    Built from Python's own ``re`` and ``str.lower`` over all code points, so the compiled
    tokeniser agrees with ``re.findall(r"\\w+", text.lower())``. Building takes ~0.7 s, so the
    result is cached per process and on disk in the package's ``__pycache__`` (keyed by the Python and
    Unicode versions); an unwritable package folder only costs the rebuild.
    """
    global _tables
    with _tables_lock:
        if _tables is None:
            from curate.unicode_cache import cached_tables

            def build() -> dict[str, np.ndarray]:
                flags, lower = _build_char_tables()
                return {"flags": flags, "lower": lower}

            tables = cached_tables(Path(__file__).parent, "chartables", ("flags", "lower"), build)
            _tables = (tables["flags"], tables["lower"])
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


def xxh32_range(buf: np.ndarray, start: int, end: int, seed: int = 0) -> int:
    """XXH32 of ``buf[start:end]`` as the compiled kernel computes it (equals ``xxhash.xxh32_intdigest``)."""
    return int(_native.xxh32(memoryview(np.ascontiguousarray(buf, dtype=np.uint8))[start:end], int(seed)))


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
    sig, counts, _ = _kernel(texts, num_perm, ngram, seed, shingle, hash, 0)
    return sig, counts


def sketches(
    texts: pl.Series | pa.Array | pa.ChunkedArray,
    num_perm: int = 128,
    ngram: int = 5,
    seed: int = 1,
    shingle: ShingleMode = "word",
    hash: HashMode = "fast",
    set_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray, pa.LargeBinaryArray]:
    """:func:`signatures` plus each document's shingle set, in the same compiled pass.

    The set is a binary value of little-endian uint32: a header (the number of distinct shingle
    hashes) and then the smallest ``min(header, set_size)`` of them, ascending. The hashes are the
    32-bit shingle hashes the permutations take (see the hash modes above), so two documents'
    sets give their Jaccard similarity exactly (up to 32-bit collisions: at most |A| x |B| / 2**32
    a pair, ~1e-5 for two 200-shingle documents) when neither holds more than ``set_size``
    distinct shingles, and a bottom-k estimate (k = ``set_size``) otherwise.
    """
    if set_size < 1:
        raise ValueError("set_size must be >= 1")
    sig, counts, sets = _kernel(texts, num_perm, ngram, seed, shingle, hash, set_size)
    assert sets is not None
    return sig, counts, sets


def _kernel(
    texts: pl.Series | pa.Array | pa.ChunkedArray, num_perm: int, ngram: int, seed: int,
    shingle: ShingleMode, hash: HashMode, set_size: int,
) -> tuple[np.ndarray, np.ndarray, pa.LargeBinaryArray | None]:
    """The compiled pass: signatures, shingle counts and, when ``set_size`` > 0, the sets."""
    column = StringArgs(texts)
    n = column.n
    out = np.empty((n, num_perm), dtype=np.uint32)
    counts = np.zeros(n, dtype=np.int32)
    if n == 0:
        return out, counts, pa.LargeBinaryArray.from_buffers(pa.large_binary(), 0, [None, pa.py_buffer(np.zeros(1, np.int64)), pa.py_buffer(b"")]) if set_size else None
    flags, lower = char_tables()
    a, b = permutations(num_perm, seed)
    sets = _native.signatures(
        column.strings, column.buffers, int(ngram), shingle == "char", hash == "datasketch", flags, lower, a, b, out, counts, int(set_size),
    )
    if sets is None:
        return out, counts, None
    data_bytes, set_off = sets
    byte_offsets = np.frombuffer(set_off, dtype=np.int64) * 4
    column = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(byte_offsets), pa.py_buffer(data_bytes)]
    )
    return out, counts, column


def shingle_set_jaccard(a: bytes, b: bytes) -> float:
    """The Jaccard similarity two shingle-set values of :func:`sketches` give (what verification
    compares with the threshold): exact for untruncated sets, else the bottom-k estimate."""
    sets = np.frombuffer(a + b, dtype=np.uint32)
    off = np.array([0, len(a) // 4, (len(a) + len(b)) // 4], dtype=np.int64)
    return float(_native.set_jaccard(sets, off, 0, 1))


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
