"""Union-find over dense integer ids in numba: the smallest id of a component is its root.

Rooting every component at its smallest member makes the survivor rule free: callers number
documents so that the preferred survivor has the smallest dense id, and the root *is* the survivor.
Memory: one int64 per document.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always")
def find(parent: np.ndarray, x: int) -> int:
    """Root of ``x``, halving the path on the way (amortised near-constant time)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(inline="always")
def union(parent: np.ndarray, x: int, y: int) -> bool:
    """Join the components of ``x`` and ``y`` under the smaller root; True if they were apart."""
    rx = find(parent, x)
    ry = find(parent, y)
    if rx == ry:
        return False
    if rx < ry:
        parent[ry] = rx
    else:
        parent[rx] = ry
    return True


@numba.njit(cache=True, nogil=True)
def _union_pairs(parent: np.ndarray, left: np.ndarray, right: np.ndarray) -> int:
    joined = 0
    for i in range(left.shape[0]):
        if union(parent, left[i], right[i]):
            joined += 1
    return joined


@numba.njit(cache=True, nogil=True)
def _flatten(parent: np.ndarray) -> None:
    # parents always point to smaller ids, so one ascending pass finds every root
    for x in range(parent.shape[0]):
        parent[x] = parent[parent[x]]


def new_parent(n: int) -> np.ndarray:
    """A forest of ``n`` singletons."""
    return np.arange(n, dtype=np.int64)


def union_pairs(parent: np.ndarray, left: np.ndarray, right: np.ndarray) -> int:
    """Union each pair (left[i], right[i]); returns how many unions joined two components."""
    return int(_union_pairs(parent, left.astype(np.int64), right.astype(np.int64)))


def roots(parent: np.ndarray) -> np.ndarray:
    """Final root (smallest member) of every element; flattens ``parent`` in place."""
    _flatten(parent)
    return parent


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component label (its smallest member) of each of ``n`` nodes given undirected edges."""
    parent = new_parent(n)
    union_pairs(parent, left, right)
    return roots(parent)
