"""numba kernels compiled with an on-disk cache where numba can write one, without it elsewhere.

Only the language-ID kernel (``curate.quality.langid``) still uses numba. The quality-signal and
augment kernels are C extensions built at install (``quality/_native.c``, ``augment/_native.c``):
numba compiled them on first use, 4-8 s for a fresh install's first ``curate score`` or ``curate
augment``, and in every process of every run where no cache folder was writable (a read-only
install run by a user without a home). Prefer C for a kernel on a path users time from a cold
start; see CONTRIBUTING.md, "Compiled code".
"""

from __future__ import annotations

from typing import Any

import numba


def compiled(fn: Any) -> Any:
    """``njit(cache=True, nogil=True)``, or without the on-disk cache where numba has nowhere to write it.

    numba caches next to the module, else under ``$HOME`` (or ``NUMBA_CACHE_DIR``); when none of
    them is writable (a read-only install run by a user without a home) ``cache=True`` raises at
    import. The kernel is then compiled in each process instead. No shared temporary folder is
    used: numba's cache files are pickles, and loading ones another user planted runs their code.
    """
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError as err:
        if "no locator available" not in str(err):
            raise
        return numba.njit(nogil=True)(fn)
