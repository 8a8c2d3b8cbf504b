"""Connected components: roots are the smallest member, whatever the edge order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup.unionfind import connected_components


def _naive(n: int, edges: list[tuple[int, int]]) -> list[int]:
    label = list(range(n))
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            m = min(label[a], label[b])
            if label[a] != m or label[b] != m:
                label[a] = label[b] = m
                changed = True
    return label


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40))))
def test_components_match_naive_and_ignore_edge_order(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = case
    left = np.array([a for a, _ in edges], dtype=np.int64)
    right = np.array([b for _, b in edges], dtype=np.int64)
    got = connected_components(n, left, right)
    assert got.tolist() == _naive(n, edges)
    assert connected_components(n, right[::-1], left[::-1]).tolist() == got.tolist()


def test_transitive_chain() -> None:
    got = connected_components(5, np.array([3, 2, 1]), np.array([4, 3, 2]))
    assert got.tolist() == [0, 1, 1, 1, 1]
