"""Which rows of a string column may not be in a Unicode normal form, found in compiled code.

Ingest normalises text (NFC by default). Python's ``unicodedata.is_normalized`` answers per
string, but a column must first become Python strings for it: on 100,000 documents that was
~0.1 s of ingest's one thread, for a check that nearly always says yes. Here a per-code-point
table marks every code point that can make a string not normalised, and a compiled scan
(``curate.dedup._native.flagged_rows``) finds the rows holding one; only those go through Python.

The table follows Unicode's quick check (UAX #15, section 9): a string whose every code point has
canonical combining class 0 and quick-check value Yes for the form is in the form. A code point
is marked for a form when any of these holds, which covers both conditions and errs only towards
marking:

* its canonical combining class is not 0;
* normalising it alone changes it (quick check No: it cannot occur in the form);
* it is the second code point of a canonical decomposition, or a Hangul jamo (quick check
  Maybe for the composed forms: it may compose with the code point before it).

Built from the running Python's ``unicodedata`` (~0.25 s), so it agrees with the Python check it
stands in for, and cached per process and on disk (``curate.unicode_cache``).
"""

from __future__ import annotations

import threading
import unicodedata
from pathlib import Path

import numpy as np

FORM_BITS = {"NFC": 1, "NFD": 2, "NFKC": 4, "NFKD": 8}
"""The table's bit for each form."""

_ALL = 0xF
_HANGUL_JAMO = ((0x1100, 0x1200), (0xA960, 0xA980), (0xD7B0, 0xD800))
_HANGUL_SYLLABLES = (0xAC00, 0xD7A4)

_lock = threading.Lock()
_table: np.ndarray | None = None


def unsure_table() -> np.ndarray:
    """uint8 per code point (0x110000): bit ``FORM_BITS[form]`` set where the code point can make
    a string not in that form (see the module's docstring). Built once a process, cached on disk."""
    global _table
    with _lock:
        if _table is None:
            from curate.unicode_cache import cached_tables

            _table = cached_tables(
                Path(__file__).parent, "normalforms", ("unsure",), lambda: {"unsure": build_unsure_table()},
                valid=lambda t: t["unsure"].shape == (0x110000,) and t["unsure"].dtype == np.uint8,
            )["unsure"]
        return _table


def build_unsure_table() -> np.ndarray:
    """The table, from ``unicodedata`` (not cached: ``unsure_table`` is)."""
    n = 0x110000
    chars = [chr(c) for c in range(n)]
    table = np.zeros(n, dtype=np.uint8)
    combining = np.fromiter(map(unicodedata.combining, chars), dtype=np.int32, count=n)
    table[combining != 0] = _ALL
    for lo, hi in _HANGUL_JAMO:
        table[lo:hi] = _ALL
    candidates = list(range(*_HANGUL_SYLLABLES))  # decomposed by an algorithm, not by the data
    for cp, mapping in enumerate(map(unicodedata.decomposition, chars)):
        if not mapping:
            continue
        candidates.append(cp)
        parts = mapping.split()
        if not parts[0].startswith("<") and len(parts) == 2:  # a canonical pair: its second may compose
            table[int(parts[1], 16)] = _ALL
    for cp in candidates:
        c = chars[cp]
        for form, bit in FORM_BITS.items():
            if unicodedata.normalize(form, c) != c:
                table[cp] |= bit
    return table


def maybe_unnormalized(offsets: np.ndarray, data: np.ndarray, form: str) -> np.ndarray:
    """Bool per string (int64 ``offsets`` into ``data``, a string column's buffers) that may not be
    in ``form``: it holds a marked code point or bytes that are not well-formed UTF-8. A string
    not flagged is in the form; a flagged one needs ``unicodedata.is_normalized``."""
    from curate.dedup import _native

    n = max(len(offsets) - 1, 0)
    out = np.zeros(n, dtype=np.uint8)
    if n:
        _native.flagged_rows(np.ascontiguousarray(offsets, dtype=np.int64), data, unsure_table(), FORM_BITS[form], out)
    return out.view(bool)
