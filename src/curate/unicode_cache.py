"""Per-code-point tables built from the running Python's Unicode data, cached on disk.

Building one means a pass over all 0x110000 code points in Python (0.25-0.7 s), so each is kept in
the package's ``__pycache__``, keyed by the Python and Unicode versions it was built with: the
tables must agree with the ``re``, ``str`` and ``unicodedata`` of the interpreter that uses them.
An unwritable package folder, or a damaged file, only costs the rebuild.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np


def cached_tables(
    folder: Path, name: str, keys: tuple[str, ...], build: Callable[[], dict[str, np.ndarray]],
    valid: Callable[[dict[str, np.ndarray]], bool] = lambda tables: True,
) -> dict[str, np.ndarray]:
    """The arrays ``build`` returns (named ``keys``), read from ``folder/__pycache__/NAME-pyXY-
    uVERSION.npz`` when that holds every one of them and they pass ``valid`` (shapes, types), else
    built and written there (temporary name, then rename)."""
    cache = folder / "__pycache__" / f"{name}-py{sys.version_info[0]}{sys.version_info[1]}-u{unicodedata.unidata_version}.npz"
    try:
        with np.load(cache) as stored:
            tables = {key: stored[key] for key in keys}
        if valid(tables):
            return tables
    except (OSError, KeyError, ValueError, EOFError):
        pass
    tables = build()
    try:
        cache.parent.mkdir(exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **tables)  # type: ignore[arg-type]
        os.replace(tmp, cache)
    except OSError:
        pass
    return tables
