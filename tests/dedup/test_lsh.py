"""LSH parameters match datasketch's optimum; band hashes and bucket unions behave."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from curate.dedup.lsh import band_hashes, bucket_unions, collision_probability, optimal_params
from curate.dedup.unionfind import new_parent, roots


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("num_perm", [32, 128, 256])
def test_optimal_params_equal_datasketch(threshold: float, num_perm: int) -> None:
    assert optimal_params(threshold, num_perm) == tuple(_optimal_param(threshold, num_perm, 0.5, 0.5))


def test_weights_trade_recall_for_candidates() -> None:
    b1, r1 = optimal_params(0.8, 128, 0.5, 0.5)
    b2, r2 = optimal_params(0.8, 128, 0.05, 0.95)
    assert collision_probability(0.8, b2, r2) > collision_probability(0.8, b1, r1)
    assert b2 * r2 <= 128


def test_band_hashes_equal_for_equal_bands_and_zero_for_empty() -> None:
    sig = np.arange(3 * 16, dtype=np.uint32).reshape(3, 16)
    sig[1, :8] = sig[0, :8]
    h = band_hashes(sig, np.array([5, 5, 0]), 2, 8)
    assert h[0, 0] == h[1, 0] and h[0, 1] != h[1, 1]
    assert (h[2] == 0).all() and (h[:2] != 0).all()
    with pytest.raises(ValueError):
        band_hashes(sig, np.array([1, 1, 1]), 3, 8)


def test_bucket_unions_verify_cuts_false_candidates() -> None:
    sig = np.zeros((4, 10), dtype=np.uint32)
    sig[1, :9] = 0  # agrees with 0 on 10/10
    sig[2] = np.arange(10)  # agrees with 0 on 1/10
    sig[3] = np.arange(10)  # equal to 2
    band = np.array([7, 7, 7, 7], dtype=np.uint64)
    row_of = np.arange(4)
    parent = new_parent(4)
    stats = bucket_unions(band, parent, sig, row_of, threshold=0.8)
    assert roots(parent).tolist() == [0, 0, 2, 2]
    assert stats[2] >= 1
    parent = new_parent(4)
    bucket_unions(band, parent)
    assert roots(parent).tolist() == [0, 0, 0, 0]


def test_zero_band_hash_never_joins() -> None:
    parent = new_parent(3)
    bucket_unions(np.zeros(3, dtype=np.uint64), parent)
    assert roots(parent).tolist() == [0, 1, 2]
