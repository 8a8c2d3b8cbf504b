"""A compiled word tokenizer that follows spaCy's English rules, with per-token features.

datatrove (the reference for the Gopher and FineWeb definitions) splits English text into
words with spaCy's blank English tokenizer, and the word-based thresholds are sensitive to
how punctuation is split: a token made only of punctuation counts in the denominator of
the alphabetic-word ratio but not as a word. This module reproduces that tokenizer's
rules in one numba pass over the batch's UTF-8 bytes (no per-document Python): split on
whitespace, peel prefix and suffix punctuation off each chunk, split infixes (hyphens
between letters, ``/``, ``:``, ``=`` before a letter, ``-`` between digits, ellipses),
keep URLs and e-mail addresses whole, split English contractions (``do n't``) and keep
common abbreviations (``e.g.``, ``Inc.``) and emoticons (``):``) whole.
"""

from __future__ import annotations

import numba
import numpy as np
import polars as pl

from curate.hashing import _string_buffers
from curate.jit import compiled

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
"""Gopher's stop words (Rae et al. 2021, A.1.1); matched case-sensitively, as in datatrove."""

# character classes (bit flags per code point)
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


@numba.njit(inline="always")
def _fnv(data: np.ndarray, a: int, b: int) -> np.int64:
    h = np.uint64(0xCBF29CE484222325)
    for i in range(a, b):
        h = (h ^ np.uint64(data[i])) * np.uint64(0x100000001B3)
    return np.int64(h >> np.uint64(1))


def _hash_bytes(s: str) -> int:
    h = 0xCBF29CE484222325
    for byte in s.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h >> 1


def _hash_set(keys: list[int], values: list[int] | None = None) -> np.ndarray:
    """An open-addressing table (2 x size int64: keys, values) for O(1) lookups in the kernel."""
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


@numba.njit(inline="always")
def _lookup(table: np.ndarray, v: np.int64) -> int:
    """The value stored for key ``v``, or 0."""
    mask = table.shape[1] - 1
    slot = v & mask
    while True:
        k = table[0, slot]
        if k == v:
            return table[1, slot]
        if k == -1:
            return 0
        slot = (slot + 1) & mask


@numba.njit(inline="always")
def _in_set(table: np.ndarray, v: np.int64) -> bool:
    return _lookup(table, v) != 0


@numba.njit(inline="always")
def _flag(table: np.ndarray, cp: int) -> int:
    return table[cp] if cp < table.shape[0] else ALPHA


@numba.njit(inline="always")
def _decode(data: np.ndarray, i: int) -> tuple[int, int]:
    b0 = int(data[i])
    if b0 < 0x80:
        return b0, 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (int(data[i + 1]) & 0x3F), 2
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | ((int(data[i + 1]) & 0x3F) << 6) | (int(data[i + 2]) & 0x3F), 3
    return (
        ((b0 & 0x07) << 18)
        | ((int(data[i + 1]) & 0x3F) << 12)
        | ((int(data[i + 2]) & 0x3F) << 6)
        | (int(data[i + 3]) & 0x3F)
    ), 4


@numba.njit(inline="always")
def _label_char(table: np.ndarray, c: int) -> bool:
    return (c < 0x80 and (_flag(table, c) & (ALPHA | DIGIT)) != 0) or (0xA1 <= c <= 0xFFFF)


@compiled
def _is_url(cps: np.ndarray, s: int, e: int, table: np.ndarray) -> bool:
    """spaCy's URL_MATCH, without a scheme: [user@]label.(label.)*tld[:port][/?#...]."""
    k = s
    for j in range(s, e):  # user info: up to the last '@' before any '/'
        if cps[j] == 0x2F:
            break
        if cps[j] == 0x40:
            k = j + 1
    n_labels = 0
    while True:
        a = k
        while k < e and (_label_char(table, cps[k]) or cps[k] == 0x5F or cps[k] == 0x2D):
            k += 1
        if k == a:
            return False
        if k < e and cps[k] == 0x2E:
            if not _label_char(table, cps[a]) or not _label_char(table, cps[k - 1]):
                return False
            n_labels += 1
            k += 1
            continue
        # the last part is the top-level domain: 2-63 lowercase letters
        if n_labels == 0 or k - a < 2 or k - a > 63:
            return False
        for j in range(a, k):
            if not _flag(table, cps[j]) & LOWER:
                return False
        break
    if k < e and cps[k] == 0x3A:
        j = k + 1
        while j < e and _flag(table, cps[j]) & DIGIT:
            j += 1
        if not 2 <= j - k - 1 <= 5:
            return False
        k = j
    return k == e or cps[k] == 0x2F or cps[k] == 0x3F or cps[k] == 0x23


@compiled
def _tokenize(
    data: np.ndarray,
    offsets: np.ndarray,
    table: np.ndarray,
    specials: np.ndarray,
    units: np.ndarray,
    splits: np.ndarray,
    d0: int,
    nt0: int,
    ts: np.ndarray,
    te: np.ndarray,
    counts: np.ndarray,
    scratch: np.ndarray,
) -> int:
    """Token byte ranges into ``ts``/``te`` for documents from ``d0`` on, while they surely fit.

    Returns the first document not processed. Arrays are never reallocated here (numba is
    much slower with arrays rebound inside loops); the caller grows them and calls again.
    ``scratch`` is (6, longest document + 1).
    """
    n_docs = offsets.shape[0] - 1
    cps = scratch[0]
    pos = scratch[1]
    pre_a = scratch[2]
    pre_b = scratch[3]
    suf_a = scratch[4]
    suf_b = scratch[5]
    nt = nt0
    for d in range(d0, n_docs):
        i = offsets[d]
        end = offsets[d + 1]
        if nt + (end - i) + 1 > ts.shape[0]:
            return d
        start_nt = nt
        while i < end:
            cp, nb = _decode(data, i)
            if _flag(table, cp) & SPACE:
                i += nb
                continue
            m = 0
            j = i
            simple = True  # only ASCII letters and digits: one token, no affix rules apply
            while j < end:
                cp, nb = _decode(data, j)
                fl = _flag(table, cp)
                if fl & SPACE:
                    break
                if cp >= 0x80 or not fl & (ALPHA | DIGIT):
                    simple = False
                cps[m] = cp
                pos[m] = j
                m += 1
                j += nb
            pos[m] = j
            i = j
            if simple and m > 1 and _flag(table, cps[m - 1]) & ALPHA:
                for k in range(m - 1):  # a unit glued to a number (10km) takes the slow path
                    if _flag(table, cps[k]) & DIGIT:
                        simple = False
                        break
            if simple:
                cut_bytes = _lookup(splits, _fnv(data, pos[0], pos[m])) if m <= 8 else 0
                ts[nt] = pos[0]
                if cut_bytes > 0:
                    te[nt] = pos[0] + cut_bytes
                    nt += 1
                    ts[nt] = pos[0] + cut_bytes
                te[nt] = pos[m]
                nt += 1
                continue
            # ---- prefixes and suffixes
            s, e = 0, m
            npre, nsuf = 0, 0
            while s < e:
                if _in_set(specials, _fnv(data, pos[s], pos[e])):
                    break
                changed = False
                c = cps[s]
                fl = _flag(table, c)
                plen = 0
                if c == 0x2E and s + 1 < e and cps[s + 1] == 0x2E:
                    plen = 2
                    while s + plen < e and cps[s + plen] == 0x2E:
                        plen += 1
                elif fl & (SP_PUNCT | QUOTE | CURRENCY | ICON | PREFIX_X) or c == 0x2B and not (s + 1 < e and _flag(table, cps[s + 1]) & DIGIT):
                    plen = 1
                if plen > 0 and s + plen < e:
                    pre_a[npre] = s
                    pre_b[npre] = s + plen
                    npre += 1
                    s += plen
                    changed = True
                    if _in_set(specials, _fnv(data, pos[s], pos[e])):
                        break
                elif plen > 0:  # the whole rest is one prefix token
                    pre_a[npre] = s
                    pre_b[npre] = e
                    npre += 1
                    s = e
                    break
                # suffix
                slen = 0
                c = cps[e - 1]
                fl = _flag(table, c)
                prev = cps[e - 2] if e - 2 >= s else -1
                pfl = _flag(table, prev) if prev >= 0 else 0
                if c == 0x2E and prev == 0x2E:
                    slen = 2
                    while e - slen - 1 >= s and cps[e - slen - 1] == 0x2E:
                        slen += 1
                elif fl & (SP_PUNCT | QUOTE | ICON) or c == 0x2014 or c == 0x2013:
                    slen = 1
                elif (c == 0x73 or c == 0x53) and (prev == 0x27 or prev == 0x2019) and e - 2 > s:
                    slen = 2
                elif c == 0x2B and pfl & DIGIT or fl & CURRENCY and pfl & DIGIT or c == 0x2E and prev >= 0 and (
                    pfl & (DIGIT | LOWER | SP_PUNCT | QUOTE)
                    or prev == 0x25 or prev == 0xB2 or prev == 0x2D or prev == 0x2B
                    or (e - 3 >= s and pfl & UPPER and _flag(table, cps[e - 3]) & UPPER)
                ):
                    slen = 1
                elif fl & ALPHA and c < 0x80:
                    # a unit glued to a number: 10km, 64K
                    k = e - 1
                    while k > s and cps[k - 1] < 0x80 and _flag(table, cps[k - 1]) & ALPHA:
                        k -= 1
                    if k > s and _flag(table, cps[k - 1]) & DIGIT and _in_set(
                        units, _fnv(data, pos[k], pos[e])
                    ):
                        slen = e - k
                elif c == 0x25 and pfl & DIGIT:
                    slen = 1
                if slen > 0 and e - slen > s:
                    suf_a[nsuf] = e - slen
                    suf_b[nsuf] = e
                    nsuf += 1
                    e -= slen
                    changed = True
                elif slen > 0 and not changed:
                    suf_a[nsuf] = s
                    suf_b[nsuf] = e
                    nsuf += 1
                    e = s
                    break
                if not changed:
                    break
            # ---- emit prefixes
            for k in range(npre):
                ts[nt] = pos[pre_a[k]]
                te[nt] = pos[pre_b[k]]
                nt += 1
            # ---- the core, with infixes
            if s < e:
                core_special = _in_set(specials, _fnv(data, pos[s], pos[e]))
                is_url = False
                for k in range(s, e - 2):
                    if cps[k] == 0x3A and cps[k + 1] == 0x2F and cps[k + 2] == 0x2F:
                        is_url = True
                        break
                core_hash = _fnv(data, pos[s], pos[e])
                cut_bytes = _lookup(splits, core_hash)
                if cut_bytes > 0:
                    ts[nt] = pos[s]
                    te[nt] = pos[s] + cut_bytes
                    ts[nt + 1] = pos[s] + cut_bytes
                    te[nt + 1] = pos[e]
                    nt += 2
                elif core_special or is_url or _is_url(cps, s, e, table):
                    ts[nt] = pos[s]
                    te[nt] = pos[e]
                    nt += 1
                else:
                    # English contractions: do|n't, we|'re, I|'m
                    cut = -1
                    if e - s >= 4 and (cps[e - 2] == 0x27 or cps[e - 2] == 0x2019) and (
                        cps[e - 1] == 0x74 or cps[e - 1] == 0x54
                    ) and (cps[e - 3] == 0x6E or cps[e - 3] == 0x4E) or e - s >= 4 and (cps[e - 3] == 0x27 or cps[e - 3] == 0x2019) and (
                        (cps[e - 2] == 0x72 and cps[e - 1] == 0x65)
                        or (cps[e - 2] == 0x76 and cps[e - 1] == 0x65)
                        or (cps[e - 2] == 0x6C and cps[e - 1] == 0x6C)
                    ):
                        cut = e - 3
                    elif e - s >= 3 and (cps[e - 2] == 0x27 or cps[e - 2] == 0x2019) and (
                        cps[e - 1] == 0x64 or cps[e - 1] == 0x6D
                    ):
                        cut = e - 2
                    if cut > s:
                        for k in range(s, cut):
                            if not _flag(table, cps[k]) & ALPHA:
                                cut = -1
                                break
                    if cut > s:
                        ts[nt] = pos[s]
                        te[nt] = pos[cut]
                        ts[nt + 1] = pos[cut]
                        te[nt + 1] = pos[e]
                        nt += 2
                    else:
                        piece = s
                        k = s
                        while k < e:
                            c = cps[k]
                            fl = _flag(table, c)
                            ilen = 0
                            if c == 0x2E and k + 1 < e and cps[k + 1] == 0x2E:
                                ilen = 2
                                while k + ilen < e and cps[k + ilen] == 0x2E:
                                    ilen += 1
                            elif c == 0x2026 or fl & ICON:
                                ilen = 1
                            elif k > s and k + 1 < e:
                                pf = _flag(table, cps[k - 1])
                                nf = _flag(table, cps[k + 1])
                                if (c == 0x2B or c == 0x2D or c == 0x2A or c == 0x5E) and pf & DIGIT and (
                                    nf & DIGIT or cps[k + 1] == 0x2D
                                ) or c == 0x2E and pf & (LOWER | QUOTE) and nf & (UPPER | QUOTE) or c == 0x2C and pf & ALPHA and nf & ALPHA:
                                    ilen = 1
                                elif fl & HYPHEN and pf & (ALPHA | DIGIT):
                                    h = 1
                                    while h <= 3 and k + h < e:
                                        if _flag(table, cps[k + h]) & ALPHA:
                                            ilen = h
                                            break
                                        if not (cps[k + h] == 0x2D or cps[k + h] == 0x2014):
                                            break
                                        h += 1
                                elif (
                                    c == 0x3A or c == 0x3C or c == 0x3E or c == 0x3D or c == 0x2F
                                ) and pf & (ALPHA | DIGIT) and nf & ALPHA:
                                    ilen = 1
                            if ilen > 0:
                                if k > piece:
                                    ts[nt] = pos[piece]
                                    te[nt] = pos[k]
                                    nt += 1
                                ts[nt] = pos[k]
                                te[nt] = pos[k + ilen]
                                nt += 1
                                k += ilen
                                piece = k
                            else:
                                k += 1
                        if piece < e:
                            ts[nt] = pos[piece]
                            te[nt] = pos[e]
                            nt += 1
            # ---- emit suffixes (collected from the end)
            for k in range(nsuf - 1, -1, -1):
                ts[nt] = pos[suf_a[k]]
                te[nt] = pos[suf_b[k]]
                nt += 1
        # merge adjacent short tokens that spell an emoticon exception, e.g. "):"
        w = start_nt
        r = start_nt
        while r < nt:
            if (
                r + 1 < nt
                and te[r] == ts[r + 1]
                and te[r + 1] - ts[r] <= 3
                and _in_set(specials, _fnv(data, ts[r], te[r + 1]))
            ):
                ts[w] = ts[r]
                te[w] = te[r + 1]
                r += 2
            else:
                ts[w] = ts[r]
                te[w] = te[r]
                r += 1
            w += 1
        nt = w
        counts[d] = nt - start_nt
    return n_docs


@compiled
def _features(
    data: np.ndarray,
    ts: np.ndarray,
    te: np.ndarray,
    offsets: np.ndarray,
    table: np.ndarray,
    stop_table: np.ndarray,
) -> tuple:
    """Per token: characters and a hash; per document: words, word characters, tokens with a
    letter, and a bit mask of the stop words present."""
    n = ts.shape[0]
    n_docs = offsets.shape[0] - 1
    nchars = np.empty(n, dtype=np.int64)
    hashes = np.empty(n, dtype=np.int64)
    words = np.zeros(n_docs, dtype=np.int64)
    word_chars = np.zeros(n_docs, dtype=np.int64)
    alphas = np.zeros(n_docs, dtype=np.int64)
    stops = np.zeros(n_docs, dtype=np.int64)
    for d in range(n_docs):
        for t in range(offsets[d], offsets[d + 1]):
            i = ts[t]
            c_n = 0
            is_word = False
            is_alpha = False
            while i < te[t]:
                cp, nb = _decode(data, i)
                fl = _flag(table, cp)
                if not fl & DT_PUNCT:
                    is_word = True
                if fl & ALPHA:
                    is_alpha = True
                c_n += 1
                i += nb
            h = _fnv(data, ts[t], te[t])
            nchars[t] = c_n
            hashes[t] = h
            if is_word:
                words[d] += 1
                word_chars[d] += c_n
            if is_alpha:
                alphas[d] += 1
            if c_n <= 4:
                bit = _lookup(stop_table, h)
                if bit:
                    stops[d] |= bit
    return nchars, hashes, words, word_chars, alphas, stops


@compiled
def _sentences(data: np.ndarray, ts: np.ndarray, te: np.ndarray, offsets: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Sentences per text as spaCy's ``sentencizer`` finds them: a new sentence starts at the
    first non-punctuation token after a sentence-final token ('.', '!', '?' and other
    terminals standing alone)."""
    n = offsets.shape[0] - 1
    out = np.zeros(n, dtype=np.int64)
    for d in range(n):
        if offsets[d + 1] == offsets[d]:
            continue
        count = 1
        seen = False
        for t in range(offsets[d], offsets[d + 1]):
            cp, nb = _decode(data, ts[t])
            single = ts[t] + nb == te[t]
            if single and _flag(table, cp) & STERM:
                seen = True
                continue
            if seen:
                punct = True
                i = ts[t]
                while i < te[t]:
                    cp, nb = _decode(data, i)
                    if not _flag(table, cp) & UPUNCT:
                        punct = False
                        break
                    i += nb
                if not punct:
                    count += 1
                    seen = False
        out[d] = count
    return out


def sentence_counts(text: pl.Series) -> np.ndarray:
    """Sentences per text, by spaCy's sentencizer rules over this module's tokens."""
    t = Tokens(text)
    return _sentences(t.data, t.start, t.end, t.offsets, char_table())


class Tokens:
    """The word tokens of a batch: per-token arrays, grouped by document through ``offsets``.

    Per document: ``counts`` (tokens), ``words`` (tokens with a non-punctuation character),
    ``word_chars``, ``alphas`` (tokens with a letter), ``stop_words`` (distinct stop words).
    """

    def __init__(self, text: pl.Series) -> None:
        offsets, data = _string_buffers(text)
        if offsets.shape[0] == 0:
            offsets = np.zeros(1, dtype=np.int64)
        self.data = data
        n_docs = offsets.shape[0] - 1
        lengths = np.diff(offsets)
        longest = int(lengths.max()) if n_docs else 0
        scratch = np.empty((6, longest + 2), dtype=np.int64)
        cap = max(int(lengths.sum()) // 5, longest + 2, 16)  # ~5.5 bytes per token in real text
        ts = np.empty(cap, dtype=np.int64)
        te = np.empty(cap, dtype=np.int64)
        counts = np.zeros(n_docs, dtype=np.int64)
        d = 0
        nt = 0
        while True:
            d_next = _tokenize(
                data, offsets, char_table(), _SPECIAL_HASHES, _UNIT_HASHES, _SPLIT_TABLE,
                d, nt, ts, te, counts, scratch,
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
        (self.nchars, self.hash, self.words, self.word_chars, self.alphas, stops) = _features(
            data, ts, te, self.offsets, char_table(), _STOP_TABLE
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
