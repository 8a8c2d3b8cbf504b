"""The numba kernel that ``curate/augment/_native.c`` replaced, kept as a plain Python reference.

``apply_op`` as it stood in ``curate/augment/_kernels.py`` before the port to C, with the numba
decorators removed and splitmix64 written with Python integers, so it runs without compiling
anything. Slow (pure Python per byte): for property tests on short texts; the C kernel must give
exactly the same bytes (``test_operators.py``).
"""

from __future__ import annotations

import numpy as np

_M64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_INV53 = 1.0 / 9007199254740992.0


def _next(s: int) -> tuple[int, int]:
    s = (int(s) + _GOLDEN) & _M64
    z = s
    z = ((z ^ (z >> 30)) * _C1) & _M64
    z = ((z ^ (z >> 27)) * _C2) & _M64
    return s, z ^ (z >> 31)


def _uniform(s: int) -> tuple[int, float]:
    s, z = _next(s)
    return s, float(z >> 11) * _INV53


def _pick(s: int, n: int) -> tuple[int, int]:
    s, z = _next(s)
    return s, int(z % int(n))


def _is_space(c: np.uint8) -> bool:
    return c == 32 or (c >= 9 and c <= 13)


def _letter(c: np.uint8) -> int:
    if c >= 97 and c <= 122:
        return int(c) - 97
    if c >= 65 and c <= 90:
        return int(c) - 65
    return -1


def _is_punct(c: np.uint8, marks: np.ndarray) -> bool:
    for m in marks:  # noqa: SIM110 - numba cannot compile any() over a generator
        if c == m:
            return True
    return False


def _unit_end(data: np.ndarray, i: int, b: int, sentence: bool) -> int:
    """End of the unit starting at non-space ``i``: a word, or a sentence (after . ! ? + space)."""
    j = i
    if not sentence:
        while j < b and not _is_space(data[j]):
            j += 1
        return j
    while j < b:
        c = data[j]
        if c == 10:
            return j
        j += 1
        if (c == 46 or c == 33 or c == 63) and (j >= b or _is_space(data[j])):
            return j
    return b


def _copy(data: np.ndarray, a: int, b: int, out: np.ndarray, o: int) -> int:
    for k in range(a, b):
        out[o] = data[k]
        o += 1
    return o


def apply_op(
    data: np.ndarray,
    offsets: np.ndarray,
    seeds: np.ndarray,
    rate: float,
    op: int,
    kinds: np.ndarray,
    keys: np.ndarray,
    key_counts: np.ndarray,
    ocr1: np.ndarray,
    marks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One operator over every document; returns the new bytes and offsets (starting at 0)."""
    n = offsets.size - 1
    total = offsets[n] - offsets[0]
    out = np.empty(2 * total + 1, dtype=np.uint8)
    out_off = np.empty(n + 1, dtype=np.int64)
    out_off[0] = 0
    o = 0
    for d in range(n):
        s = seeds[d]
        a = offsets[d]
        b = offsets[d + 1]
        i = a
        if op == 0:  # keyboard typos
            while i < b:
                c = data[i]
                li = _letter(c)
                if li >= 0:
                    s, u = _uniform(s)
                    if u < rate:
                        s, k = _pick(s, kinds.size)
                        kind = kinds[k]
                        upper = c < 97
                        if kind == 0 or kind == 1:
                            s, k = _pick(s, key_counts[li])
                            nb = keys[li, k]
                            if upper:
                                nb = nb - 32
                            if kind == 0:
                                out[o] = nb
                                o += 1
                            else:
                                out[o] = c
                                out[o + 1] = nb
                                o += 2
                            i += 1
                            continue
                        if kind == 2:
                            i += 1
                            continue
                        if i + 1 < b and _letter(data[i + 1]) >= 0 and data[i + 1] != c:
                            out[o] = data[i + 1]
                            out[o + 1] = c
                            o += 2
                            i += 2
                            continue
                out[o] = c
                o += 1
                i += 1
        elif op == 1:  # OCR confusions
            while i < b:
                c = data[i]
                if i + 1 < b:
                    c2 = data[i + 1]
                    merged = 0
                    if c == 114 and c2 == 110:  # rn -> m
                        merged = 109
                    elif c == 99 and c2 == 108:  # cl -> d
                        merged = 100
                    elif c == 118 and c2 == 118:  # vv -> w
                        merged = 119
                    if merged != 0:
                        s, u = _uniform(s)
                        if u < rate:
                            out[o] = merged
                            o += 1
                            i += 2
                            continue
                if c == 109:  # m -> rn
                    s, u = _uniform(s)
                    if u < rate:
                        out[o] = 114
                        out[o + 1] = 110
                        o += 2
                        i += 1
                        continue
                elif c < 128 and ocr1[c] != 0:
                    s, u = _uniform(s)
                    if u < rate:
                        out[o] = ocr1[c]
                        o += 1
                        i += 1
                        continue
                out[o] = c
                o += 1
                i += 1
        elif op == 2:  # casing: flip ASCII letters
            while i < b:
                c = data[i]
                if _letter(c) >= 0:
                    s, u = _uniform(s)
                    if u < rate:
                        c = c ^ 32
                out[o] = c
                o += 1
                i += 1
        elif op == 3:  # whitespace: drop or double a space; split a word (rate / 4 per letter)
            while i < b:
                c = data[i]
                if c == 32:
                    s, u = _uniform(s)
                    if u < rate:
                        s, k = _pick(s, 2)
                        if k == 0:
                            i += 1
                            continue
                        out[o] = 32
                        o += 1
                elif _letter(c) >= 0 and i > a and _letter(data[i - 1]) >= 0:
                    s, u = _uniform(s)
                    if u < rate * 0.25:
                        out[o] = 32
                        o += 1
                out[o] = c
                o += 1
                i += 1
        elif op == 4:  # punctuation: drop or replace a mark; add one after a word (rate / 4)
            while i < b:
                c = data[i]
                if _is_punct(c, marks):
                    s, u = _uniform(s)
                    if u < rate:
                        s, k = _pick(s, 2)
                        if k == 0:
                            i += 1
                            continue
                        s, k = _pick(s, marks.size)
                        c = marks[k]
                    out[o] = c
                    o += 1
                    i += 1
                    continue
                out[o] = c
                o += 1
                if _letter(c) >= 0 and i + 1 < b and data[i + 1] == 32:
                    s, u = _uniform(s)
                    if u < rate * 0.25:
                        s, k = _pick(s, marks.size)
                        out[o] = marks[k]
                        o += 1
                i += 1
        elif op == 5:  # word dropout: a word and the spaces after it
            while i < b:
                if _is_space(data[i]):
                    out[o] = data[i]
                    o += 1
                    i += 1
                    continue
                j = _unit_end(data, i, b, False)
                s, u = _uniform(s)
                if u < rate:
                    while j < b and _is_space(data[j]):
                        j += 1
                else:
                    o = _copy(data, i, j, out, o)
                i = j
        else:  # 6: swap a word with the next; 7: the same for sentences
            sentence = op == 7
            while i < b:
                if _is_space(data[i]):
                    out[o] = data[i]
                    o += 1
                    i += 1
                    continue
                j = _unit_end(data, i, b, sentence)
                k = j
                while k < b and _is_space(data[k]):
                    k += 1
                s, u = _uniform(s)
                if u < rate and k < b:
                    m = _unit_end(data, k, b, sentence)
                    o = _copy(data, k, m, out, o)
                    o = _copy(data, j, k, out, o)
                    o = _copy(data, i, j, out, o)
                    i = m
                else:
                    o = _copy(data, i, j, out, o)
                    i = j
        out_off[d + 1] = o
    return out[:o], out_off
