"""numba kernels compiled with an on-disk cache where numba can write one, without it elsewhere."""

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
