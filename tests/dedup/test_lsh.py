"""LSH parameters match datasketch's optimum; band hashes, candidate pairs and their unions behave."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from datasketch.lsh import _optimal_param
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup.lsh import (
    _gauss_legendre,
    band_hashes,
    bucket_candidates,
    collision_probability,
    jaccard_edges,
    join_candidates,
    optimal_params,
)
from curate.dedup.minhash import reference_shingles, shingle_set_jaccard, sketches
from curate.dedup.unionfind import new_parent, roots


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("num_perm", [32, 128, 256])
def test_optimal_params_equal_datasketch(threshold: float, num_perm: int) -> None:
    assert optimal_params(threshold, num_perm) == tuple(_optimal_param(threshold, num_perm, 0.5, 0.5))


@pytest.mark.parametrize("n", [2, 5, 96])
def test_the_quadrature_nodes_and_weights_are_numpy_s_gauss_legendre(n: int) -> None:
    """Computed without an eigenvalue solver (see ``_gauss_legendre``), they are numpy's."""
    nodes, weights = _gauss_legendre(n)
    want_nodes, want_weights = np.polynomial.legendre.leggauss(n)
    np.testing.assert_allclose(nodes, want_nodes, rtol=0, atol=1e-14)
    np.testing.assert_allclose(weights, want_weights, rtol=0, atol=1e-13)


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


def test_verification_cuts_false_candidates() -> None:
    sig = np.zeros((4, 10), dtype=np.uint32)
    sig[1, :9] = 0  # agrees with 0 on 10/10
    sig[2] = np.arange(10)  # agrees with 0 on 1/10
    sig[3] = np.arange(10)  # equal to 2
    band = np.array([7, 7, 7, 7], dtype=np.uint64)
    row_of = np.arange(4)
    pairs, paired = bucket_candidates(band, verify=True)
    assert paired == 3 and sorted(pairs.tolist()) == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    parent = new_parent(4)
    stats = join_candidates(pairs, parent, sig, row_of, threshold=0.8)
    assert roots(parent).tolist() == [0, 0, 2, 2]
    assert stats[1] >= 1
    unverified, _ = bucket_candidates(band, verify=False)
    assert sorted(unverified.tolist()) == [[0, 1], [0, 2], [0, 3]]
    parent = new_parent(4)
    join_candidates(unverified, parent)
    assert roots(parent).tolist() == [0, 0, 0, 0]


def test_zero_band_hash_never_joins() -> None:
    pairs, paired = bucket_candidates(np.zeros(3, dtype=np.uint64), verify=True)
    assert pairs.shape == (0, 2) and paired == 0


def test_max_checks_bounds_the_pairs_of_a_huge_bucket() -> None:
    pairs, paired = bucket_candidates(np.full(1000, 5, dtype=np.uint64), verify=True, max_checks=3)
    assert paired == 999 and pairs.shape[0] == 1 + 2 + 3 * 997  # members 1 and 2 have fewer earlier members
    assert (pairs[:, 1] - pairs[:, 0] >= 1).all() and (pairs[:, 0] <= 2).all()


@given(st.lists(st.integers(0, 4), min_size=0, max_size=60), st.integers(1, 5), st.integers(0, 10))
@settings(max_examples=60, deadline=None)
def test_components_do_not_depend_on_the_order_of_bands(hashes: list[int], max_checks: int, seed: int) -> None:
    """Pieces may run anywhere in any order: joining their pairs in any order gives one answer."""
    rng = np.random.default_rng(seed)
    n = len(hashes)
    sig = rng.integers(0, 2, size=(max(n, 1), 8), dtype=np.uint32)
    bands = [np.array(hashes, dtype=np.uint64), rng.integers(0, 3, size=n).astype(np.uint64)]
    pieces = [bucket_candidates(b, True, max_checks)[0] for b in bands]
    answers = []
    for order in (pieces, pieces[::-1]):
        parent = new_parent(n)
        for p in order:
            join_candidates(p, parent, sig, np.arange(n), threshold=0.5)
        answers.append(roots(parent).tolist())
    assert answers[0] == answers[1]


# ------------------------------------------------------------------ exact Jaccard verification

_VOCAB = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta"]), min_size=0, max_size=30)


def _reference_jaccard(a: str, b: str) -> float:
    sa, sb = set(reference_shingles(a)), set(reference_shingles(b))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _records(texts: list[str], set_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    _, _, column = sketches(pl.Series(texts, dtype=pl.String), set_size=set_size)
    values = [np.frombuffer(v, dtype=np.uint32) for v in column.to_pylist()]
    off = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int64)
    return np.concatenate(values), off


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 é.", max_size=300), min_size=1, max_size=8), st.sampled_from(["word", "char"]))
def test_a_shingle_set_holds_every_distinct_shingle_up_to_the_most_a_text_can_have(texts: list[str], mode: str) -> None:
    """One-letter words and single characters give a document as many shingles as it can have (the
    sets' buffer is sized for that): each record is its distinct count, then that many hashes."""
    _, counts, column = sketches(pl.Series(texts, dtype=pl.String), ngram=1, shingle=mode, set_size=100_000)  # type: ignore[arg-type]
    for text, value in zip(texts, column.to_pylist(), strict=True):
        record = np.frombuffer(value, dtype=np.uint32)
        distinct = len(set(reference_shingles(text, ngram=1, shingle=mode)))  # type: ignore[arg-type]
        assert record[0] == distinct and len(record) == 1 + distinct
        assert (np.diff(record[1:].astype(np.int64)) > 0).all()  # ascending, no repeats


@settings(max_examples=300, deadline=None)
@given(_VOCAB, _VOCAB, st.sampled_from([0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9]))
def test_jaccard_verification_accepts_exactly_the_pairs_at_or_above_the_threshold(a: list[str], b: list[str], threshold: float) -> None:
    """Never a pair below the threshold, never a miss above it: the decision is the Python
    reference Jaccard of the shingle strings, compared with ``>=``."""
    ta, tb = " ".join(a), " ".join(b)
    sets, off = _records([ta, tb])
    edges, stats = jaccard_edges(np.array([[0, 1]], dtype=np.int32), new_parent(2), sets, off, np.arange(2), threshold)
    want = _reference_jaccard(ta, tb) >= threshold
    assert (len(edges) == 1) == want
    assert stats.tolist() == [1, 0 if want else 1]


@settings(max_examples=100, deadline=None)
@given(_VOCAB, _VOCAB)
def test_shingle_sets_give_the_reference_jaccard(a: list[str], b: list[str]) -> None:
    ta, tb = " ".join(a), " ".join(b)
    sets, off = _records([ta, tb])
    ref = _reference_jaccard(ta, tb)
    got = shingle_set_jaccard(sets[off[0] : off[1]].tobytes(), sets[off[1] : off[2]].tobytes())
    assert got == ref


def test_truncated_sets_estimate_by_bottom_k() -> None:
    """Past ``set_size`` distinct shingles a document keeps the smallest hashes: the estimate is
    the bottom-k one, within a few standard errors of the truth."""
    rng = np.random.default_rng(3)
    base = [f"w{x}" for x in rng.choice(10**6, 3000, replace=False)]
    other = base[:2400] + [f"v{x}" for x in rng.choice(10**6, 600, replace=False)]
    ta, tb = " ".join(base), " ".join(other)
    truth = _reference_jaccard(ta, tb)
    sets, off = _records([ta, tb], set_size=256)
    assert off[1] - off[0] == 257 and sets[0] == 2996  # header: all distinct shingles
    got = shingle_set_jaccard(sets[off[0] : off[1]].tobytes(), sets[off[1] : off[2]].tobytes())
    se = (truth * (1 - truth) / 256) ** 0.5
    assert abs(got - truth) < 4 * se
    exact_sets, exact_off = _records([ta, tb], set_size=4096)
    exact = shingle_set_jaccard(exact_sets[exact_off[0] : exact_off[1]].tobytes(), exact_sets[exact_off[1] :].tobytes())
    assert exact == truth


def test_records_are_ascending_distinct_with_a_header() -> None:
    sets, off = _records(["a b c d e f g a b c d e f g", "", "x"])
    first = sets[off[0] + 1 : off[1]]
    assert sets[off[0]] == len(first) == 7 and (np.diff(first.astype(np.int64)) > 0).all()
    assert sets[off[1]] == 0 and off[2] - off[1] == 1  # no shingle: a bare header
    assert sets[off[2]] == 1


@settings(max_examples=500, deadline=None)
@given(
    st.sets(st.integers(0, 400), max_size=120),
    st.sets(st.integers(0, 400), max_size=120),
    st.one_of(st.sampled_from([0.5, 0.75, 0.8, 0.9, 1.0, 2 / 3, 1 / 3]), st.floats(0.01, 1.0)),
)
def test_verification_stops_early_but_decides_as_the_whole_merge(a: set[int], b: set[int], threshold: float) -> None:
    """The merge gives up once even sharing every shingle left could not reach the threshold (and
    before it starts, when the sizes alone rule it out): the answer is still exactly
    ``|A & B| / |A | B| >= threshold`` in float64, sets of any sizes, on the boundary too."""
    records = [np.array([len(s), *sorted(s)], dtype=np.uint32) for s in (a, b)]
    sets = np.concatenate(records)
    off = np.array([0, len(records[0]), len(sets)], dtype=np.int64)
    edges, stats = jaccard_edges(np.array([[0, 1]], dtype=np.int32), new_parent(2), sets, off, np.arange(2), threshold)
    if not a and not b:
        want = threshold <= 1.0
    elif not a or not b:
        want = threshold <= 0.0
    else:
        both = len(a & b)
        want = both / (len(a) + len(b) - both) >= threshold
    assert (len(edges) == 1) == want, (len(a), len(b), len(a & b), threshold)


def test_verification_on_the_threshold_exactly_accepts() -> None:
    a, b = set(range(10)), set(range(2, 10)) | {20, 21}  # 8 shared of 12: J = 2/3
    for threshold, want in ((2 / 3, True), (0.6667, False), (0.5, True)):
        records = [np.array([len(s), *sorted(s)], dtype=np.uint32) for s in (a, b)]
        sets = np.concatenate(records)
        off = np.array([0, len(records[0]), len(sets)], dtype=np.int64)
        edges, _ = jaccard_edges(np.array([[0, 1]], dtype=np.int32), new_parent(2), sets, off, np.arange(2), threshold)
        assert (len(edges) == 1) == want, threshold
