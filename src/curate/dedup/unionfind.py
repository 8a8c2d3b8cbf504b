"""Union-find over dense integer ids (compiled, ``_native.c``): the smallest id of a component is its root.

Rooting every component at its smallest member makes the survivor rule free: callers number
documents so that the preferred survivor has the smallest dense id, and the root *is* the survivor.
Memory: one int64 per document.
"""

from __future__ import annotations

import numpy as np

from curate.dedup import _native


def _ids(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=values.dtype if values.dtype in (np.int32, np.int64) else np.int64)


def new_parent(n: int) -> np.ndarray:
    """A forest of ``n`` singletons."""
    return np.arange(n, dtype=np.int64)


def union_pairs(parent: np.ndarray, left: np.ndarray, right: np.ndarray) -> int:
    """Union each pair (left[i], right[i]); returns how many unions joined two components."""
    return int(_native.union_pairs(parent, _ids(left), _ids(right)))


def roots(parent: np.ndarray) -> np.ndarray:
    """Final root (smallest member) of every element; flattens ``parent`` in place."""
    # parents always point to smaller ids, so one ascending pass finds every root
    _native.flatten(parent)
    return parent


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component label (its smallest member) of each of ``n`` nodes given undirected edges."""
    parent = new_parent(n)
    union_pairs(parent, left, right)
    return roots(parent)
