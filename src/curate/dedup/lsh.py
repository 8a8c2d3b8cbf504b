"""LSH banding: choose bands x rows for a threshold, hash signature bands, group equal bands."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from curate.dedup import _native

# Gauss-Legendre nodes on [-1, 1]: the integrands are smooth polynomials in s of degree <= b*r,
# so 96 nodes integrate them to ~1e-12, vectorised over every (b, r) at once.
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)


def _integral(f_values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return f_values @ _WEIGHTS * (hi - lo) / 2.0


@lru_cache(maxsize=256)
def optimal_params(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the weighted error at ``threshold``.

    The probability that two sets of Jaccard ``s`` share a band is ``1 - (1 - s**r)**b``; the
    false-positive error is its integral over ``[0, threshold]`` and the false-negative error is
    the integral of its complement over ``[threshold, 1]`` (the criterion datasketch uses).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    s_fp = (_NODES + 1.0) * threshold / 2.0
    s_fn = threshold + (_NODES + 1.0) * (1.0 - threshold) / 2.0
    best = (np.inf, 1, 1)
    for b in range(1, num_perm + 1):
        r = np.arange(1, num_perm // b + 1, dtype=np.float64)[:, None]
        fp = _integral(1.0 - (1.0 - s_fp[None, :] ** r) ** b, 0.0, threshold)
        fn = _integral((1.0 - s_fn[None, :] ** r) ** b, threshold, 1.0)
        err = fp * false_positive_weight + fn * false_negative_weight
        i = int(np.argmin(err))
        # strict improvement only: the first (smallest b, then r) optimum wins ties, as in datasketch
        if err[i] < best[0] - 1e-15:
            best = (float(err[i]), b, i + 1)
    return best[1], best[2]


def collision_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that two documents of Jaccard ``s`` share at least one band."""
    return 1.0 - (1.0 - np.asarray(s, dtype=np.float64) ** rows) ** bands


def band_hashes(sig: np.ndarray, nshingles: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64: a stable 64-bit hash of each band's ``rows`` signature values, seeded by
    the band index; 0 is reserved for documents without shingles, which never join a bucket."""
    n, num_perm = sig.shape
    if bands * rows > num_perm:
        raise ValueError("bands * rows must not exceed num_perm")
    out = np.empty((n, bands), dtype=np.uint64)
    if n:
        # a fixed multiply-rotate chain over the band's values, then the XXH64 avalanche: stable
        # (our own definition, not a library's) and ~5x faster than hashing the band's bytes
        _native.band_hashes(
            np.ascontiguousarray(sig, dtype=np.uint32), np.ascontiguousarray(nshingles, dtype=np.int32),
            num_perm, bands, rows, out,
        )
    return out


def bucket_candidates(band: np.ndarray, verify: bool, max_checks: int = 64, n_fixed: int = 0) -> tuple[np.ndarray, int]:
    """Candidate pairs of one band: (k, 2) dense ids, the smaller first, each pair once.

    ``band[d]`` is dense id d's band hash (0: never bucketed). Which pairs are listed does not
    depend on any union-find state, so joining the verified ones gives the same components in
    any order: this is the piece of the global phase that engines may run per band, anywhere.
    Pairs are int32 while dense ids fit (8 bytes a pair). Also returns how many bucket members
    were paired (the ``candidate_pairs`` counter).
    """
    band = np.ascontiguousarray(band, dtype=np.uint64)
    order = np.argsort(band).astype(np.int64, copy=False)  # introsort; buckets re-sorted inside (dense order)
    dtype = np.int32 if band.shape[0] < 2**31 else np.int64
    out = np.empty((_pairs_bound(band[order], verify, max_checks), 2), dtype=dtype)
    # the pairs a bucket offers: (first, x) without verification, else x with up to max_checks
    # earlier members in survivor order (a huge bucket of unrelated texts stays linear)
    k, paired = _native.bucket_candidates(band, order, verify, int(max_checks), int(n_fixed), out)
    return out[:k], int(paired)


def _pairs_bound(sorted_hashes: np.ndarray, verify: bool, max_checks: int) -> int:
    """How many pairs the buckets of sorted band hashes can list (exact without index entries)."""
    if sorted_hashes.shape[0] < 2:
        return 0
    starts = np.flatnonzero(np.concatenate([[True], sorted_hashes[1:] != sorted_hashes[:-1]]))
    sizes = np.diff(np.append(starts, sorted_hashes.shape[0])).astype(np.int64)
    sizes[sorted_hashes[starts] == 0] = 0  # hash 0 is never a bucket
    later = np.maximum(sizes - 1, 0)  # members after the first
    if not verify:
        return int(later.sum())
    c = np.int64(max_checks)
    full = np.minimum(later, c)  # members with fewer than max_checks earlier members: 1, 2, ...
    return int((full * (full + 1) // 2 + (later - full) * c).sum())


def join_candidates(
    pairs: np.ndarray, parent: np.ndarray, sig: np.ndarray | None = None,
    row_of: np.ndarray | None = None, threshold: float = 0.0,
) -> np.ndarray:
    """Union candidate pairs ((k, 2) dense ids), each verified by signature agreement when ``sig``
    is given; pairs already in one component are skipped (so repeats across bands are cheap).
    Returns [verified, rejected]."""
    stats = np.zeros(2, dtype=np.int64)
    verify = sig is not None
    if sig is None:
        sig = np.zeros((1, 1), dtype=np.uint32)
        row_of = np.zeros(1, dtype=np.int64)
    assert row_of is not None
    if pairs.dtype not in (np.int32, np.int64):
        pairs = pairs.astype(np.int64)
    min_agree = int(np.ceil(threshold * sig.shape[1] - 1e-9))
    _native.join_candidates(
        np.ascontiguousarray(pairs).reshape(-1, 2), parent, np.ascontiguousarray(sig, dtype=np.uint32),
        sig.shape[1], np.ascontiguousarray(row_of, dtype=np.int64), verify, min_agree, stats,
    )
    return stats
