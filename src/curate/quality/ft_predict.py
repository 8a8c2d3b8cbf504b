"""fastText supervised models read from their file and run by curate's compiled kernel.

The kernel (``_ftpredict.c``) gives the `fasttext` module's answers bit for bit (labels and
float32 probabilities) at a fraction of its cost on whole documents: it works on Arrow string
buffers and caches each word's input rows instead of rebuilding every character n-gram of every
word as fastText's binding does. Models it does not cover (unsupervised, one-vs-all loss, a
quantized output matrix, an unknown file version) are reported by :func:`load_compiled` so the
caller falls back to the module.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.hashing import _string_buffers
from curate.quality import _ftpredict

_MAGIC = 793712314
_LOSS_HS, _LOSS_SOFTMAX = 1, 3
_MODEL_SUPERVISED = 3
_KSUB = 256


class UnsupportedModel(Exception):
    """A valid fastText model the compiled kernel does not run (the caller uses the module)."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("file ends early")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if count < 0 or self.pos + size > len(self.data):
            raise ValueError("file ends early")
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos).copy()
        self.pos += size
        return out

    def cstring(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ValueError("file ends early")
        out = self.data[self.pos : end]
        self.pos = end + 1
        return out


def _product_quantizer(r: _Reader) -> tuple[int, int, int, int, np.ndarray]:
    dim, nsubq, dsub, lastdsub = r.unpack("<4i")
    centroids = r.array("<f4", dim * _KSUB)
    return dim, nsubq, dsub, lastdsub, centroids


def _decode(codes: np.ndarray, pq: tuple[int, int, int, int, np.ndarray], norms: np.ndarray | None) -> np.ndarray:
    """Rows of a product-quantized matrix, each value ``norm * centroid`` as fastText adds it."""
    dim, nsubq, dsub, lastdsub, centroids = pq
    rows = np.empty((codes.shape[0], dim), dtype=np.float32)
    for m in range(nsubq):
        d = lastdsub if m == nsubq - 1 else dsub
        start = m * _KSUB * dsub
        table = centroids[start : start + _KSUB * d].reshape(_KSUB, d)
        block = table[codes[:, m]]
        if norms is not None:
            block = block * norms[:, None]
        rows[:, m * dsub : m * dsub + d] = block
    return rows


def _matrix(r: _Reader, quantized: bool) -> np.ndarray:
    if not quantized:
        m, n = r.unpack("<qq")
        return r.array("<f4", m * n).reshape(m, n)
    (qnorm,) = r.unpack("<?")
    m, n = r.unpack("<qq")
    (codesize,) = r.unpack("<i")
    codes = r.array("u1", codesize)
    pq = _product_quantizer(r)
    if pq[0] != n or pq[1] <= 0 or codesize != m * pq[1]:
        raise ValueError("quantized matrix does not match its quantizer")
    norms = None
    if qnorm:
        norm_codes = r.array("u1", m)
        npq = _product_quantizer(r)
        norms = npq[4][: _KSUB * npq[3]].reshape(_KSUB, npq[3])[norm_codes, 0]
    return _decode(codes.reshape(m, pq[1]), pq, norms)


def _hs_tree(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fastText's Huffman tree over the label counts (leaves first, then internal nodes)."""
    osz = len(counts)
    size = 2 * osz - 1
    left = np.full(size, -1, dtype=np.int32)
    right = np.full(size, -1, dtype=np.int32)
    count = [int(1e15)] * size
    count[:osz] = [int(c) for c in counts]
    leaf, node = osz - 1, osz
    for i in range(osz, size):
        mini = [0, 0]
        for j in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                mini[j] = leaf
                leaf -= 1
            else:
                mini[j] = node
                node += 1
        left[i], right[i] = mini
        count[i] = count[mini[0]] + count[mini[1]]
    return left, right


@dataclass
class CompiledFastText:
    """A supervised fastText model run by the compiled kernel."""

    labels: list[str]
    _handle: object
    _rows: np.ndarray  # held: the kernel reads it in place

    def _buffers(self, text: pl.Series, skip_blank: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        offsets, data = _string_buffers(text)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        want = text.is_not_null().to_numpy()
        if skip_blank:
            blank = np.zeros(len(offsets) - 1, dtype=np.uint8)
            _ftpredict.blank(data, offsets, blank)
            want &= blank == 0
        return data, offsets, want.astype(np.uint8)

    def predict_best(self, text: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """The best label's index (-1: null, blank as ``str.isspace`` says, or no input rows) and
        its float32 probability, as ``fasttext`` gives them for ``predict(line, k=1)``."""
        data, offsets, want = self._buffers(text, skip_blank=True)
        n = len(offsets) - 1
        lab = np.empty(n, dtype=np.int32)
        prob = np.empty(n, dtype=np.float32)
        _ftpredict.predict(self._handle, data, offsets, want, lab, prob, -1)
        return lab, prob

    def probability_of(self, text: pl.Series, label: str) -> np.ndarray:
        """P(label) per text as ``fasttext`` lists it for ``predict(line, k=every label)`` (0 when
        it does not list it; null text gives 0, blank text fastText's answer for an empty line)."""
        data, offsets, want = self._buffers(text, skip_blank=False)
        n = len(offsets) - 1
        lab = np.empty(n, dtype=np.int32)
        prob = np.empty(n, dtype=np.float32)
        _ftpredict.predict(self._handle, data, offsets, want, lab, prob, self.labels.index(label))
        return prob


def _cache_aligned(rows: np.ndarray) -> np.ndarray:
    """A copy starting on a 64-byte boundary: a 16-float row then sits in one cache line."""
    raw = np.empty(rows.size + 16, dtype=np.float32)
    start = (-raw.ctypes.data % 64) // 4
    out = raw[start : start + rows.size].reshape(rows.shape)
    out[...] = rows
    return out


def load_compiled(path: str | os.PathLike[str]) -> CompiledFastText:
    """Read a .bin/.ftz supervised model for the kernel.

    Raises ``UnsupportedModel`` for a model the kernel does not run and ``ValueError`` for a file
    that is not a readable fastText model.
    """
    r = _Reader(Path(path).read_bytes())
    magic, version = r.unpack("<ii")
    if magic != _MAGIC:
        raise ValueError("not a fastText model (bad magic number)")
    if version not in (11, 12):
        raise UnsupportedModel(f"fastText file version {version}")
    dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr_update = r.unpack("<12i")
    r.unpack("<d")
    if model != _MODEL_SUPERVISED:
        raise UnsupportedModel("not a supervised model")
    if loss not in (_LOSS_HS, _LOSS_SOFTMAX):
        raise UnsupportedModel(f"loss {loss} (hierarchical softmax and softmax are compiled)")
    if version == 11:
        maxn = 0  # fastText: old supervised models have no character n-grams
    size, nwords, nlabels = r.unpack("<iii")
    _ntokens, prune_size = r.unpack("<qq")
    words: list[bytes] = []
    types = np.empty(size, dtype=np.int8)
    counts = np.empty(size, dtype=np.int64)
    for i in range(size):
        words.append(r.cstring())
        counts[i], types[i] = r.unpack("<qb")
    if nwords + nlabels != size or not (types[:nwords] == 0).all() or not (types[nwords:] == 1).all():
        raise ValueError("dictionary entries out of order")
    pairs = r.array("<i4", 2 * max(prune_size, 0)).reshape(-1, 2)
    (quant_input,) = r.unpack("<?")
    rows = _matrix(r, quant_input)
    (qout,) = r.unpack("<?")
    if quant_input and qout:
        raise UnsupportedModel("quantized output matrix")
    out = _matrix(r, False)
    if rows.shape[1] != dim or out.shape[1] != dim or out.shape[0] != nlabels:
        raise ValueError("matrix shapes do not match the model's dimension and labels")
    if loss == _LOSS_HS:
        left, right = _hs_tree(counts[nwords:])
    else:
        left = right = np.zeros(0, dtype=np.int32)
    offsets = np.zeros(size + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(w) for w in words])
    rows = _cache_aligned(rows)
    handle = _ftpredict.model_new(
        dim,
        rows,
        nwords,
        np.frombuffer(b"".join(words), dtype=np.uint8),
        offsets,
        types,
        np.ascontiguousarray(pairs[:, 0]),
        np.ascontiguousarray(pairs[:, 1]),
        prune_size,
        minn,
        maxn,
        word_ngrams,
        bucket,
        0 if loss == _LOSS_SOFTMAX else 1,
        np.ascontiguousarray(out, dtype=np.float32),
        left,
        right,
    )
    labels = [w.decode("utf-8", "replace") for w in words[nwords:]]
    return CompiledFastText(labels=labels, _handle=handle, _rows=rows)
