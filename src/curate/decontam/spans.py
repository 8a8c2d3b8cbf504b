"""Span removal (GPT-3 / TNLG style): cut a window around every matched n-gram of a document.

The window is ``window`` characters on each side of the match; overlapping windows merge into
one cut. What remains between cuts are fragments; fragments shorter than ``min_fragment``
characters (after trimming whitespace) are dropped too, and the surviving fragments are joined
by a blank line. A document cut more than ``max_splits`` times, or with nothing left, is removed
whole: the caller rejects it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CutResult:
    text: str
    cuts: int
    """Merged windows cut out of the text."""
    chars_removed: int
    """Characters of the original text not in the result's fragments (windows and short fragments)."""


def char_positions(text: str, byte_offsets: np.ndarray) -> np.ndarray:
    """Character (code point) offsets of UTF-8 byte offsets into ``text``."""
    raw = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    starts = np.concatenate(([0], np.cumsum((raw & 0xC0) != 0x80)))
    return starts[np.asarray(byte_offsets, dtype=np.int64)]


def cut_windows(text: str, starts: np.ndarray, ends: np.ndarray, window: int, min_fragment: int) -> CutResult:
    """Remove ``[start - window, end + window)`` around each match (character offsets)."""
    n = len(text)
    if not len(starts):
        return CutResult(text, 0, 0)
    lo = np.clip(np.asarray(starts) - window, 0, n)
    hi = np.clip(np.asarray(ends) + window, 0, n)
    order = np.argsort(lo, kind="stable")
    merged: list[list[int]] = []
    for a, b in zip(lo[order].tolist(), hi[order].tolist(), strict=True):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    fragments, kept_chars, prev = [], 0, 0
    for a, b in [*merged, [n, n]]:
        piece = text[prev:a]
        if len(piece.strip()) >= min_fragment:
            fragments.append(piece.strip())
            kept_chars += len(piece)
        prev = b
    return CutResult("\n\n".join(fragments), len(merged), n - kept_chars)
