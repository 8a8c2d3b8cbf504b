"""Hashed n-gram language models in fixed-size count tables (for learnability scores).

A model of order ``N`` over word ids (uint64) keeps:

* unigram counts in ``2**vocab_bits`` buckets (``id mod V``);
* for every order ``k = 2..N``, in tables of ``2**table_bits`` buckets: ``c(h, w)`` (the
  k-gram), ``c(h)`` (its k-1 word context followed by any word) and ``N1+(h)`` (how many
  distinct words followed the context), each keyed by a hash of the words.

Probabilities are interpolated absolute discounting (Ney et al. 1994; Kneser-Ney without the
continuation counts), discount ``d``::

    P_k(w | h) = (max(c(h, w) - d, 0) + d * N1+(h) * P_{k-1}(w | h')) / c(h)    if c(h) > 0
    P_k(w | h) = P_{k-1}(w | h')                                             otherwise

down to the unigram, which interpolates with the uniform distribution over the ``V`` buckets
(``P_0 = 1 / V``; the context of a unigram is the whole corpus: ``c = total``, ``N1+`` = buckets
seen). An empty model is uniform. (Add-one smoothing over ~10^6 buckets would spread most of the
mass over unseen words whenever the text is smaller than the vocabulary, as target samples are.)

where ``h'`` drops the context's oldest word. Without hash collisions this sums to 1 over the
words (tests check it on a tiny vocabulary); with them the tables are an approximation whose
error falls with ``table_bits``. The first words of a document use the contexts they have (the
first word its unigram probability): no padding symbol.

A batch of documents is flat word ids plus offsets; counting and scoring are one compiled loop
over the words each (``select/_native.c``, hashes defined there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from curate.hashing import hash_strings


def word_ids(texts: pl.Series, hash_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lowercased ``\\w+`` words of every text as ids: (offsets int64 of n+1, ids uint64, null mask).

    An id is the low 32 bits of the word's XXH64 with ``hash_seed`` (32 bits keep keys at 4 bytes
    per word; two words of a realistic vocabulary share an id with probability ~1e-4).
    """
    words = texts.str.to_lowercase().str.extract_all(r"\w+")
    null = words.is_null().to_numpy()
    lens = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    flat = words.explode().drop_nulls()
    ids = hash_strings(flat, hash_seed) & np.uint64(0xFFFFFFFF) if len(flat) else np.zeros(0, dtype=np.uint64)
    return offsets, ids.astype(np.uint64), null


def in_slices(fn, texts: pl.Series, *args: object, rows: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``fn(texts, *args) -> (offsets, flat, null)`` over slices of ``rows`` texts, joined: the
    lowercased word lists a slice makes are ~10x its text, so a shard never holds them all."""
    if len(texts) <= rows:
        return fn(texts, *args)
    parts = [fn(texts.slice(start, rows), *args) for start in range(0, len(texts), rows)]
    lens = np.concatenate([np.diff(p[0]) for p in parts])
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    return offsets, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def positions(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(document index, position inside the document) of every word of a flat batch."""
    lens = np.diff(offsets)
    doc = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    pos = np.arange(int(offsets[-1]), dtype=np.int64) - offsets[doc]
    return doc, pos


@dataclass
class NgramModel:
    """Count tables of one model; :meth:`add` counts documents, :meth:`log2_probs` scores them."""

    order: int = 3
    vocab_bits: int = 20
    table_bits: int = 21
    discount: float = 0.75
    total: int = 0
    unigrams: np.ndarray = field(init=False)
    joint: np.ndarray = field(init=False)
    context: np.ndarray = field(init=False)
    followers: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.order <= 6:
            raise ValueError(f"order {self.order}: must be 1..6")
        if not 0.0 < self.discount < 1.0:
            raise ValueError(f"discount {self.discount}: must be in (0, 1)")
        shape = (self.order - 1, 1 << self.table_bits)
        self.unigrams = np.zeros(1 << self.vocab_bits, dtype=np.int64)
        self.joint = np.zeros(shape, dtype=np.int64)
        self.context = np.zeros(shape, dtype=np.int64)
        self.followers = np.zeros(shape, dtype=np.int64)

    # ---------------------------------------------------------------- counting and scoring

    def _tables(self, ids: np.ndarray, offsets: np.ndarray) -> tuple:
        ids = np.ascontiguousarray(ids, dtype=np.uint64)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        return (ids, offsets, self.order, self.vocab_bits, self.table_bits, self.unigrams, self.joint, self.context, self.followers)

    def add(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        """Count every word and k-gram of a batch of documents (ids flat, ``offsets`` n+1).

        ``N1+(h)`` grows when a k-gram bucket is seen for the first time (in corpus order).
        """
        from curate.select._native import ngram_add

        ngram_add(*self._tables(ids, offsets))
        self.total += int(len(ids))

    def log2_probs(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """log2 P(word | its context) of every word of a batch (float64, flat like ``ids``)."""
        from curate.select._native import ngram_log2_probs

        out = np.empty(len(ids), dtype=np.float64)
        seen = float(np.count_nonzero(self.unigrams)) if self.total else 0.0
        ngram_log2_probs(*self._tables(ids, offsets), (self.discount, float(self.total), seen, out))
        return out

    def cross_entropy(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Per document: mean -log2 P over its words (bits per word; NaN for a document without words)."""
        n = len(offsets) - 1
        lens = np.diff(offsets).astype(np.float64)
        if not len(ids):
            return np.full(n, np.nan)
        doc, _ = positions(offsets)
        sums = np.bincount(doc, weights=-self.log2_probs(ids, offsets), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(lens > 0, sums / np.maximum(lens, 1.0), np.nan)


def fit_texts(texts: list[str], hash_seed: int, **settings: float) -> NgramModel:
    """A model counted over a list of texts (the target files of a learnability score)."""
    model = NgramModel(**settings)  # type: ignore[arg-type]
    step = 20_000
    for start in range(0, len(texts), step):
        offsets, ids, _ = word_ids(pl.Series(texts[start : start + step], dtype=pl.String), hash_seed)
        model.add(ids, offsets)
    return model
