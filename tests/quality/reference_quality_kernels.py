"""The numba kernels that ``curate/quality/_native.c`` replaced, kept as plain Python references.

This is the code of ``words.py`` (tokenizer, per-token features, sentences) and ``heuristics.py``
(repetition counts) as it stood before the port to C, with the numba decorators removed and the
two 64-bit hashes (FNV-1a, the n-gram mix) written with Python integers, so it runs anywhere
without compiling anything. Slow (pure Python per character): for property tests on short texts.
The C kernels must give exactly the same tokens and counts (``test_words.py``,
``test_heuristics.py``); the port was also checked identical on all 44,597 documents of
``real_docs.parquet`` (benchmarks/RESULTS.md, "First-run start-up").
"""

from __future__ import annotations

import numpy as np

from curate.quality.words import (
    ALPHA,
    CURRENCY,
    DIGIT,
    DT_PUNCT,
    HYPHEN,
    ICON,
    LOWER,
    PREFIX_X,
    QUOTE,
    SP_PUNCT,
    SPACE,
    STERM,
    UPPER,
    UPUNCT,
)

_M64 = 0xFFFFFFFFFFFFFFFF


def _fnv(data: np.ndarray, a: int, b: int) -> int:
    h = 0xCBF29CE484222325
    for i in range(a, b):
        h = ((h ^ int(data[i])) * 0x100000001B3) & _M64
    return h >> 1


def _mix(a: int, b: int) -> int:
    a, b = int(a), int(b)
    a = (((a << 7) & _M64) | (a >> 57)) ^ b
    return (a * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & _M64


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


def _in_set(table: np.ndarray, v: np.int64) -> bool:
    return _lookup(table, v) != 0


def _flag(table: np.ndarray, cp: int) -> int:
    return table[cp] if cp < table.shape[0] else ALPHA


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


def _label_char(table: np.ndarray, c: int) -> bool:
    return (c < 0x80 and (_flag(table, c) & (ALPHA | DIGIT)) != 0) or (0xA1 <= c <= 0xFFFF)


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


def _table_size(m: int) -> int:
    size = 16
    while size < 2 * m:
        size *= 2
    return size


def _dup_elements(offsets: np.ndarray, hashes: np.ndarray, lengths: np.ndarray) -> tuple:
    """Per segment: how many elements repeat an earlier one, and their total length."""
    n = offsets.shape[0] - 1
    dup_n = np.zeros(n, dtype=np.int64)
    dup_c = np.zeros(n, dtype=np.int64)
    keys = np.empty(16, dtype=np.int64)
    used = np.zeros(16, dtype=np.bool_)
    for d in range(n):
        lo, hi = offsets[d], offsets[d + 1]
        if hi - lo < 2:
            continue
        size = _table_size(hi - lo)
        if keys.shape[0] < size:
            keys = np.empty(size, dtype=np.int64)
            used = np.zeros(size, dtype=np.bool_)
        used[:size] = False
        mask = size - 1
        for i in range(lo, hi):
            h = hashes[i]
            s = h & mask
            while used[s] and keys[s] != h:
                s = (s + 1) & (size - 1)
            if used[s]:
                dup_n[d] += 1
                dup_c[d] += lengths[i]
            else:
                used[s] = True
                keys[s] = h
    return dup_n, dup_c


def _ngram_repetition(offsets: np.ndarray, tok_hash: np.ndarray, tok_len: np.ndarray) -> tuple:
    """Gopher's n-gram repetition counts per document, from token hashes and lengths.

    ``top[k, d]``: characters of the most frequent (n=2,3,4)-gram (joined by spaces) times its
    count, the earliest first on ties (Counter.most_common). ``dup[k, d]``: characters of
    (n=5..10)-grams that repeat an earlier seen one, scanning left to right and jumping over a
    repeated n-gram (so repeats do not overlap), as in Rae et al. and datatrove.
    """
    n_docs = offsets.shape[0] - 1
    top = np.zeros((3, n_docs), dtype=np.int64)
    dup = np.zeros((6, n_docs), dtype=np.int64)
    cap = 16
    keys = np.empty(cap, dtype=np.uint64)
    used = np.zeros(cap, dtype=np.bool_)
    counts = np.zeros(cap, dtype=np.int64)
    first = np.zeros(cap, dtype=np.int64)
    for d in range(n_docs):
        lo, hi = offsets[d], offsets[d + 1]
        m = hi - lo
        if m < 2:
            continue
        size = _table_size(m)
        if cap < size:
            cap = size
            keys = np.empty(cap, dtype=np.uint64)
            used = np.zeros(cap, dtype=np.bool_)
            counts = np.zeros(cap, dtype=np.int64)
            first = np.zeros(cap, dtype=np.int64)
        mask = size - 1
        umask = np.uint64(mask)
        cum = np.zeros(m + 1, dtype=np.int64)
        for i in range(m):
            cum[i + 1] = cum[i] + tok_len[lo + i]
        gram = tok_hash[lo:hi].copy()  # gram[i]: hash of the n-gram starting at token i
        for n in range(2, 11):
            k = m - n + 1
            if k <= 0:
                break
            for i in range(k):
                gram[i] = _mix(gram[i], tok_hash[lo + i + n - 1])
            used[:size] = False
            if n <= 4:
                best_c = 0
                best_f = 0
                for i in range(k):
                    h = gram[i]
                    s = np.int64(h & umask)
                    while used[s] and keys[s] != h:
                        s = (s + 1) & mask
                    if used[s]:
                        counts[s] += 1
                    else:
                        used[s] = True
                        keys[s] = h
                        counts[s] = 1
                        first[s] = i
                    c = counts[s]
                    if c > best_c or (c == best_c and first[s] < best_f):
                        best_c = c
                        best_f = first[s]
                top[n - 2, d] = (cum[best_f + n] - cum[best_f] + n - 1) * best_c
            else:
                i = 0
                rep = 0
                while i < k:
                    h = gram[i]
                    s = np.int64(h & umask)
                    while used[s] and keys[s] != h:
                        s = (s + 1) & mask
                    if used[s]:
                        rep += cum[i + n] - cum[i]
                        i += n
                    else:
                        used[s] = True
                        keys[s] = h
                        i += 1
                dup[n - 5, d] = rep
    return top, dup


# ---------------------------------------------------------------- batch computation
