"""Rule-based noise operators over whole batches of text: one compiled pass per operator.

Every operator works on the batch's concatenated UTF-8 buffer (Arrow offsets + bytes) in a
compiled kernel (C, ``_native.c``) and edits only ASCII bytes (letters, spaces, punctuation), so multi-byte
characters are never split and the output is valid UTF-8 by construction. Each document has
its own random stream (splitmix64 seeded with its 64-bit seed from ``StageContext.doc_seeds``),
so a document's output depends only on its text, its seed and the rate: never on the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from curate.augment import _native
from curate.hashing import _string_buffers

# Operator codes shared with the kernel.
_TYPO, _OCR, _CASING, _WHITESPACE, _PUNCT, _DROPOUT, _WORD_SWAP, _SENT_SWAP = range(8)
_SUBST, _INSERT, _DELETE, _TRANSPOSE = range(4)

OPERATORS: dict[str, tuple[int, tuple[int, ...]]] = {
    "typo": (_TYPO, (_SUBST, _INSERT, _DELETE, _TRANSPOSE)),
    "typo_substitute": (_TYPO, (_SUBST,)),
    "typo_insert": (_TYPO, (_INSERT,)),
    "typo_delete": (_TYPO, (_DELETE,)),
    "typo_transpose": (_TYPO, (_TRANSPOSE,)),
    "ocr": (_OCR, ()),
    "casing": (_CASING, ()),
    "whitespace": (_WHITESPACE, ()),
    "punctuation": (_PUNCT, ()),
    "word_dropout": (_DROPOUT, ()),
    "word_swap": (_WORD_SWAP, ()),
    "sentence_shuffle": (_SENT_SWAP, ()),
}
"""Operator name -> (kernel code, typo kinds). ``rate`` is a per-unit probability: per ASCII
letter (typo, casing, ocr), per space (whitespace), per punctuation mark, per word (dropout,
swap) or per sentence (shuffle: each sentence is swapped with the next with that probability)."""

OPERATOR_NAMES: tuple[str, ...] = tuple(OPERATORS)


def _keyboard_table() -> tuple[np.ndarray, np.ndarray]:
    """QWERTY neighbours of each lowercase letter (staggered rows: up i, i+1; down i-1, i)."""
    rows = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
    pos = {c: (r, i) for r, row in enumerate(rows) for i, c in enumerate(row)}
    table = np.zeros((26, 8), dtype=np.uint8)
    counts = np.zeros(26, dtype=np.int64)
    for c, (r, i) in pos.items():
        cand = [(r, i - 1), (r, i + 1), (r - 1, i), (r - 1, i + 1), (r + 1, i - 1), (r + 1, i)]
        near = [rows[rr][ii] for rr, ii in cand if 0 <= rr < 3 and 0 <= ii < len(rows[rr])]
        k = ord(c) - 97
        counts[k] = len(near)
        table[k, : len(near)] = [ord(x) for x in near]
    return table, counts


def _ocr_table() -> np.ndarray:
    """Single-character OCR confusions (ASCII); pairs rn->m, cl->d, vv->w and m->rn are in the kernel."""
    table = np.zeros(128, dtype=np.uint8)
    for a, b in [
        "l1",
        "1l",
        "I|",
        "O0",
        "0O",
        "S5",
        "5S",
        "B8",
        "8B",
        "Z2",
        "e3",
        "g9",
        "o0",
        "ic",
    ]:
        table[ord(a)] = ord(b)
    return table


_KEYS, _KEY_COUNTS = _keyboard_table()
_OCR1 = _ocr_table()
_PUNCT_MARKS = np.frombuffer(b".,;:!?'\"-", dtype=np.uint8).copy()

def _to_series(
    name: str, offsets: np.ndarray, data: np.ndarray, nulls: pl.Series | None
) -> pl.Series:
    n = offsets.size - 1
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    out = pl.Series(name, arr, dtype=pl.String)
    if nulls is not None and nulls.any():
        out = pl.select(pl.when(nulls).then(None).otherwise(out).alias(name)).to_series()
    return out


def apply_ops(texts: pl.Series, steps: Sequence[tuple[str, float, np.ndarray]]) -> pl.Series:
    """Apply operators in order; each step is (operator name, rate, uint64 seed per document).

    The buffer stays in numpy between steps (one Arrow conversion per batch, not per step).
    Nulls stay null.
    """
    name = texts.name
    if texts.len() == 0 or not steps:
        return texts.cast(pl.String)
    nulls = texts.is_null()
    offsets, data = _string_buffers(texts)
    for op, rate, seeds in steps:
        if op not in OPERATORS:
            raise ValueError(f"unknown operator {op!r}; known: {', '.join(OPERATOR_NAMES)}")
        if seeds.shape != (texts.len(),):
            raise ValueError("one seed per document is required")
        code, kinds = OPERATORS[op]
        # each step writes at most two bytes per input byte (see _native.c)
        out = np.empty(2 * int(offsets[-1] - offsets[0]) + 1, dtype=np.uint8)
        out_offsets = np.empty(offsets.size, dtype=np.int64)
        written = _native.apply_op(
            data,
            offsets,
            np.ascontiguousarray(seeds, dtype=np.uint64),
            float(rate),
            code,
            np.asarray(kinds or (0,), dtype=np.int64),
            _KEYS,
            _KEY_COUNTS,
            _OCR1,
            _PUNCT_MARKS,
            out,
            out_offsets,
        )
        data, offsets = out[:written], out_offsets
    return _to_series(name, offsets, data, nulls)


def _single(op: str):  # noqa: ANN202 - builds the public one-operator functions below
    def fn(texts: pl.Series, seeds: np.ndarray, rate: float) -> pl.Series:
        return apply_ops(texts, [(op, rate, seeds)])

    fn.__name__ = op
    fn.__doc__ = f"The ``{op}`` operator over a whole batch (one seed per document)."
    return fn


typo = _single("typo")
ocr = _single("ocr")
casing = _single("casing")
whitespace = _single("whitespace")
punctuation = _single("punctuation")
word_dropout = _single("word_dropout")
word_swap = _single("word_swap")
sentence_shuffle = _single("sentence_shuffle")
