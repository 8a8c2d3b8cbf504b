"""A compiled word tokenizer that follows spaCy's English rules, with per-token features.

datatrove (the reference for the Gopher and FineWeb definitions) splits English text into
words with spaCy's blank English tokenizer, and the word-based thresholds are sensitive to
how punctuation is split: a token made only of punctuation counts in the denominator of
the alphabetic-word ratio but not as a word. This module reproduces that tokenizer's
rules in one compiled pass over the batch's UTF-8 bytes (C, ``_native.c``; no per-document
Python): split on whitespace, peel prefix and suffix punctuation off each chunk, split infixes
(hyphens between letters, ``/``, ``:``, ``=`` before a letter, ``-`` between digits, ellipses),
keep URLs and e-mail addresses whole, split English contractions (``do n't``) and keep
common abbreviations (``e.g.``, ``Inc.``) and emoticons (``):``) whole.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from curate.hashing import _string_buffers
from curate.quality import _native

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
"""Gopher's stop words (Rae et al. 2021, A.1.1); matched case-sensitively, as in datatrove."""

# character classes (bit flags per code point; _native.c defines the same bits)
ALPHA, LOWER, UPPER, SPACE, DT_PUNCT, DIGIT = 1, 2, 4, 8, 16, 32
SP_PUNCT, QUOTE, ICON, CURRENCY, PREFIX_X, HYPHEN = 64, 128, 256, 512, 1024, 2048
UPUNCT, STERM = 4096, 8192  # Unicode punctuation (P*), sentence terminal
_N_CP = 0x30000  # code points above this are treated as letters

# spaCy's LIST_PUNCT, LIST_QUOTES and LIST_CURRENCY character sets (spacy/lang/char_classes.py)
_SP_PUNCT_CHARS = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
_QUOTE_CHARS = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉〈〉⟦⟧"
_CURRENCY_CHARS = "$£€¥฿₽﷼₴₠₡₢₣₤₥₦₧₨₩₪₫₭₮₯₰₱₲₳₵₶₷₸₹₺₻₼₾₿"
_PREFIX_EXTRA = "§%=—–"
_HYPHEN_CHARS = "-–—~"
# datatrove's PUNCTUATION string (a token of only these and sentence terminals is a symbol)
_DT_PUNCT_CHARS = (
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + "".join(map(chr, [*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)]))
)
# spaCy tokenizer exceptions that stay one token (a representative subset: abbreviations
# ending in a period and emoticons made of punctuation).
_SPECIALS = (
    "Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec. Mr. Mrs. Ms. Dr. Prof. "
    "Inc. Ltd. Co. co. Corp. Jr. St. Mt. Gen. Gov. Rep. Sen. Rev. Bros. Adm. vs. v.s. Ph.D. "
    "a.m. p.m. e.g. E.g. E.G. i.e. I.e. I.E. "
    + " ".join(f"{c}." for c in "abcdefghijklmnopqrstuvwxyzäöü")
    + " ): (: :) :( =) (= ;) 8) :/ =/ :] [: :| =| :> :* ._. ^_^ -_- :-) :-( ;-) :-/ :-] :-| (-: )-: "
    + "'' ’’ and/or"
).split()
# spaCy's apostrophe-less contractions, split into two tokens ("cannot" -> "can" "not")
_SPLITS = ["can|not", "Can|not", "we|d", "We|d", "i|d", "I|d", "i|m", "I|m", "i|ve", "I|ve", "do|nt", "Do|nt", "ca|nt", "Ca|nt", "wo|nt", "Wo|nt", "is|nt", "Is|nt", "does|nt", "Does|nt", "did|nt", "Did|nt", "was|nt", "Was|nt", "are|nt", "Are|nt", "were|nt", "Were|nt", "has|nt", "Has|nt", "have|nt", "Have|nt", "had|nt", "Had|nt", "could|nt", "Could|nt", "would|nt", "Would|nt", "should|nt", "Should|nt", "that|s", "That|s", "what|s", "What|s", "he|s", "He|s", "she|s", "She|s", "who|s", "Who|s", "there|s", "There|s", "you|re", "You|re", "they|re", "They|re", "you|ll", "You|ll", "it|ll", "It|ll", "gon|na", "Gon|na", "got|ta", "Got|ta", "he|d", "He|d", "it|d", "It|d", "you|d", "You|d", "they|d", "They|d", "we|ve", "We|ve", "you|ve", "You|ve", "they|ve", "They|ve"]
_UNITS = ["km", "m", "cm", "mm", "dm", "ha", "nm", "yd", "in", "ft", "kg", "g", "mg", "lb", "oz", "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T", "G", "M", "K", "%"]

_TABLE: np.ndarray | None = None


def char_table() -> np.ndarray:
    """Flags for every code point below 0x30000, built once per process with polars regexes."""
    global _TABLE
    if _TABLE is None:
        cps = np.arange(_N_CP)
        chars = pl.Series([chr(c) if not 0xD800 <= c < 0xE000 else "a" for c in cps.tolist()])
        f = pl.DataFrame({"c": chars}).select(
            pl.col("c").str.contains(r"^\p{L}$").alias("alpha"),
            pl.col("c").str.contains(r"^\p{Ll}$").alias("lower"),
            pl.col("c").str.contains(r"^\p{Lu}$").alias("upper"),
            pl.col("c").str.contains(r"^\s$").alias("space"),
            pl.col("c").str.contains(r"^\p{So}$").alias("icon"),
            pl.col("c").str.contains(r"^[\p{Sentence_Terminal}\x{17D6}\x{17D9}\x{17DA}]$").alias("term"),
            pl.col("c").str.contains(r"^\p{P}$").alias("upunct"),
        )
        t = np.zeros(_N_CP, dtype=np.int32)
        for name, bit in (("alpha", ALPHA), ("lower", LOWER), ("upper", UPPER), ("space", SPACE), ("icon", ICON)):
            t[f[name].to_numpy()] |= bit
        t[f["term"].to_numpy()] |= DT_PUNCT | STERM
        t[f["upunct"].to_numpy()] |= UPUNCT
        t[0x30:0x3A] |= DIGIT
        for chars, bit in (
            (_DT_PUNCT_CHARS, DT_PUNCT),
            (_SP_PUNCT_CHARS, SP_PUNCT),
            (_QUOTE_CHARS, QUOTE),
            (_CURRENCY_CHARS, CURRENCY),
            (_PREFIX_EXTRA, PREFIX_X),
            (_HYPHEN_CHARS, HYPHEN),
        ):
            for ch in chars:
                t[ord(ch)] |= bit
        _TABLE = t
    return _TABLE


def _hash_bytes(s: str) -> int:
    h = 0xCBF29CE484222325
    for byte in s.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h >> 1


def _hash_set(keys: list[int], values: list[int] | None = None) -> np.ndarray:
    """An open-addressing table (2 x size int64: keys, then values; -1 marks an empty key) for
    O(1) lookups in the kernel; ``size`` is a power of two, at least 4x the keys."""
    size = 1 << max(6, (4 * len(keys) - 1).bit_length())
    table = np.zeros((2, size), dtype=np.int64)
    table[0, :] = -1
    for j, k in enumerate(keys):
        slot = k & (size - 1)
        while table[0, slot] != -1 and table[0, slot] != k:
            slot = (slot + 1) & (size - 1)
        table[0, slot] = k
        table[1, slot] = values[j] if values is not None else 1
    return table


_SPECIAL_HASHES = _hash_set(sorted({_hash_bytes(s) for s in _SPECIALS}))
_SPLIT_TABLE = _hash_set(
    [_hash_bytes(w.replace("|", "")) for w in _SPLITS], [len(w.split("|")[0].encode()) for w in _SPLITS]
)
_STOP_TABLE = _hash_set([_hash_bytes(w) for w in STOP_WORDS], [1 << i for i in range(len(STOP_WORDS))])
_UNIT_HASHES = _hash_set(sorted({_hash_bytes(s) for s in _UNITS}))


def sentence_counts(text: pl.Series) -> np.ndarray:
    """Sentences per text, by spaCy's sentencizer rules over this module's tokens."""
    t = Tokens(text, features=False)
    out = np.empty(t.counts.shape[0], dtype=np.int64)
    _native.sentences(t.data, t.start, t.end, t.offsets, char_table(), out)
    return out


class Tokens:
    """The word tokens of a batch: per-token arrays, grouped by document through ``offsets``.

    Per document: ``counts`` (tokens), ``words`` (tokens with a non-punctuation character),
    ``word_chars``, ``alphas`` (tokens with a letter), ``stop_words`` (distinct stop words).
    """

    def __init__(self, text: pl.Series, features: bool = True) -> None:
        """``features=False`` finds the tokens only (``start``, ``end``, ``counts``, ``offsets``)."""
        offsets, data = _string_buffers(text)
        if offsets.shape[0] == 0:
            offsets = np.zeros(1, dtype=np.int64)
        self.data = data
        n_docs = offsets.shape[0] - 1
        lengths = np.diff(offsets)
        longest = int(lengths.max()) if n_docs else 0
        cap = max(int(lengths.sum()) // 5, longest + 2, 16)  # ~5.5 bytes per token in real text
        ts = np.empty(cap, dtype=np.int64)
        te = np.empty(cap, dtype=np.int64)
        counts = np.zeros(n_docs, dtype=np.int64)
        d = 0
        nt = 0
        while True:
            d_next = _native.tokenize(
                data, offsets, char_table(), _SPECIAL_HASHES, _UNIT_HASHES, _SPLIT_TABLE,
                d, nt, ts, te, counts,
            )
            nt += int(counts[d:d_next].sum())
            d = d_next
            if d >= n_docs:
                break
            ts = np.concatenate([ts, np.empty_like(ts)])
            te = np.concatenate([te, np.empty_like(te)])
        ts, te = ts[:nt], te[:nt]
        self.start, self.end, self.counts = ts, te, counts
        self.offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=self.offsets[1:])
        if not features:
            return
        n_tok, n = nt, counts.shape[0]
        self.nchars, self.hash = np.empty(n_tok, np.int64), np.empty(n_tok, np.int64)
        self.words, self.word_chars = np.empty(n, np.int64), np.empty(n, np.int64)
        self.alphas, stops = np.empty(n, np.int64), np.empty(n, np.int64)
        _native.features(
            data, ts, te, self.offsets, char_table(), _STOP_TABLE,
            self.nchars, self.hash, self.words, self.word_chars, self.alphas, stops,
        )
        self.stop_words = np.zeros(counts.shape[0], dtype=np.int64)
        for i in range(len(STOP_WORDS)):
            self.stop_words += (stops >> i) & 1

    def strings(self) -> list[str]:
        """The tokens as Python strings (for tests and debugging only)."""
        return [bytes(self.data[a:b]).decode() for a, b in zip(self.start, self.end, strict=True)]


def tokenize(text: str) -> list[str]:
    """The word tokens of one text (for tests and debugging)."""
    return Tokens(pl.Series([text], dtype=pl.String)).strings()
