"""The n-gram index of eval sets, and where its n-grams occur in documents.

An eval item contributes the hashes of its word n-grams (``n`` words; an item of fewer than ``n``
but at least ``min_words`` words contributes one gram, its whole text, so short questions can
still be found; shorter items are counted and skipped). Tokens are the MinHash word tokens:
runs of ``\\w`` characters, lowercased, so case, spacing, line breaks and punctuation never hide
a copy.

Memory: ``table`` (8 bytes per distinct gram, sorted), ``gram_ptr`` (8), and ``gram_items`` and
``gram_pos`` (4 + 4 per occurrence of a gram in an item) for coverage and attribution, and a
bitmap of about 16 bits per gram that rejects most windows of a document with one load. :attr:`EvalIndex.nbytes` reports the total.
The index is rebuilt from the eval files in each worker (``Stage.setup``): hashing 10,000 items
takes well under a second, less than reading a cached copy would save.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from curate.decontam.evalsets import EvalItems
from curate.dedup import _native
from curate.dedup.minhash import char_tables
from curate.hashing import _string_buffers


@dataclass
class Hits:
    """Occurrences of indexed grams: the document (row in the batch), the gram (row in the
    table) and the byte range of the occurrence in the document's UTF-8 text."""

    doc: np.ndarray
    gram: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass
class EvalIndex:
    names: list[str]
    """Eval set names, in config order."""
    table: np.ndarray
    """Distinct gram hashes (uint64), ascending."""
    gram_ptr: np.ndarray
    """Occurrences of gram ``g`` in items: ``gram_items[gram_ptr[g]:gram_ptr[g + 1]]`` (the item)
    and ``gram_pos[...]`` (its first word's position in the item)."""
    gram_items: np.ndarray
    gram_pos: np.ndarray
    item_set: np.ndarray
    """Eval set (index into ``names``) of every item (int16)."""
    item_words: np.ndarray
    """Words of every item (int32): the denominator of its coverage."""
    ngram: int
    item_ids: list[str]
    lengths: np.ndarray
    """Gram lengths in words that documents are scanned for (int32)."""
    bitmap: np.ndarray
    bits: int
    too_short: dict[str, int] = field(default_factory=dict)
    """Items of each set with fewer than ``min_words`` words (never matched)."""

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes + self.gram_ptr.nbytes + self.gram_items.nbytes + self.gram_pos.nbytes + self.bitmap.nbytes)

    def scan(self, texts: pl.Series) -> Hits:
        """Every occurrence of an indexed gram in ``texts`` (nulls have none), in document order."""
        offsets, data = _string_buffers(texts)
        empty = np.zeros(0, np.int64)
        if len(offsets) < 2 or not len(self.table):
            return Hits(empty, empty, empty, empty)
        flags, lower = char_tables()
        cols = _native.ngram_scan(
            np.ascontiguousarray(offsets, dtype=np.int64), data, flags, lower, self.lengths, self.table, self.bitmap, self.bits
        )
        doc, gram, start, end = (np.frombuffer(c, dtype=np.int64) for c in cols)
        return Hits(doc, gram, start, end)

    def items_of(self, grams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every occurrence in an item of each gram in ``grams``: (position in ``grams``, item,
        word position in the item) triples."""
        grams = np.asarray(grams, dtype=np.int64)
        lo, hi = self.gram_ptr[grams], self.gram_ptr[grams + 1]
        counts = hi - lo
        rows = np.repeat(np.arange(len(grams)), counts)
        first = np.cumsum(counts) - counts  # where each gram's occurrences start in the output
        at = np.repeat(lo - first, counts) + np.arange(int(counts.sum()))
        return rows, self.gram_items[at], self.gram_pos[at]

    def gram_words(self, items: np.ndarray) -> np.ndarray:
        """Words one gram of each item spans: ``ngram``, or the whole item when it is shorter."""
        return np.minimum(self.item_words[items], self.ngram)


def gram_hashes(texts: list[str], n: int, min_words: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, text index) of every gram of ``texts``, and each text's word count."""
    offsets, data = _string_buffers(pl.Series(texts, dtype=pl.String))
    flags, lower = char_tables()
    hashes, items, words = _native.ngram_items(
        np.ascontiguousarray(offsets, dtype=np.int64), data, flags, lower, int(n), int(min_words)
    )
    return np.frombuffer(hashes, np.uint64), np.frombuffer(items, np.int64), np.frombuffer(words, np.int64)


def build_index(sets: list[EvalItems], n: int, min_words: int) -> EvalIndex:
    """Hash every item's grams into one sorted table with gram -> items links."""
    texts = [t for s in sets for t in s.texts]
    item_set = np.repeat(np.arange(len(sets), dtype=np.int16), [len(s.texts) for s in sets])
    hashes, items, words = gram_hashes(texts, n, min_words) if texts else (np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    # word position of each gram in its item: grams come out of the kernel in order, item by item
    first = np.searchsorted(items, np.arange(len(texts)), side="left") if len(items) else np.zeros(len(texts), np.int64)
    pos = np.arange(len(items), dtype=np.int64) - first[items] if len(items) else np.zeros(0, np.int64)
    order = np.lexsort((pos, items, hashes))
    hashes, items, pos = hashes[order], items[order], pos[order]
    new_gram = np.ones(len(hashes), dtype=bool)
    new_gram[1:] = hashes[1:] != hashes[:-1]
    table = hashes[new_gram]
    gram_ptr = np.append(np.flatnonzero(new_gram), len(hashes)).astype(np.int64)
    short = words[(words >= min_words) & (words < n)]
    lengths = sorted({int(w) for w in short} | ({n} if (words >= n).any() else set()))
    bits = int(min(max(math.ceil(math.log2(max(len(table), 1) * 16)), 16), 36))
    bitmap = np.zeros(1 << (bits - 6), dtype=np.uint64)
    if len(table):
        slots = table >> np.uint64(64 - bits)
        np.bitwise_or.at(bitmap, (slots >> np.uint64(6)).astype(np.int64), np.uint64(1) << (slots & np.uint64(63)))
    too_short = {s.name: int(((words < min_words) & (item_set == i)).sum()) for i, s in enumerate(sets)}
    return EvalIndex(
        names=[s.name for s in sets],
        table=np.ascontiguousarray(table),
        gram_ptr=gram_ptr,
        gram_items=items.astype(np.int32),
        gram_pos=pos.astype(np.int32),
        item_set=item_set,
        item_words=words.astype(np.int32),
        ngram=int(n),
        item_ids=[i for s in sets for i in s.ids],
        lengths=np.array(lengths, dtype=np.int32),
        bitmap=bitmap,
        bits=bits,
        too_short=too_short,
    )
