"""LSH banding: choose bands x rows for a threshold, hash signature bands, group equal bands."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from curate.dedup import _native


def _gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes (ascending) and weights on [-1, 1], by Newton's method on the Legendre
    recurrence: ``np.polynomial.legendre.leggauss`` to ~1e-15, without its eigenvalue solver,
    whose LAPACK call through numpy's OpenBLAS wakes a thread pool that then spins on every core
    (0.2 CPU s of a ~5 CPU s `curate dedup` of 100,000 documents, when this module is imported)."""
    x = np.cos(np.pi * (np.arange(1, n + 1) - 0.25) / (n + 0.5))
    for _ in range(100):
        p0, p1 = np.ones_like(x), x.copy()
        for k in range(2, n + 1):
            p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
        slope = n * (x * p1 - p0) / (x * x - 1.0)
        step = p1 / slope
        x = x - step
        if np.max(np.abs(step)) < 1e-15:
            break
    p0, p1 = np.ones_like(x), x.copy()
    for k in range(2, n + 1):
        p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
    slope = n * (x * p1 - p0) / (x * x - 1.0)
    weights = 2.0 / ((1.0 - x * x) * slope * slope)
    return x[::-1].copy(), weights[::-1].copy()


# Gauss-Legendre nodes on [-1, 1]: the integrands are smooth polynomials in s of degree <= b*r,
# so 96 nodes integrate them to ~1e-12, vectorised over every (b, r) at once.
_NODES, _WEIGHTS = _gauss_legendre(96)


def _integral(f_values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    # an elementwise product and sum, not ``@``: a product of this size through numpy's OpenBLAS
    # wakes its thread pool, whose threads then spin for a while on every core (0.2 CPU s of a
    # 4-5 CPU s `curate dedup` of 100,000 documents, taken from the threads doing its work)
    return (f_values * _WEIGHTS).sum(axis=-1) * (hi - lo) / 2.0


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
    buckets = bucket_order(band, verify, max_checks)
    return buckets.candidates(n_fixed)


class Buckets:
    """One band's documents sorted into buckets (``bucket_order``): which documents share one, and
    the candidate pairs they offer, listed only when asked (``candidates``), so a caller can hold
    many bands' buckets (16 bytes a document) and one band's pairs (up to ``max_checks`` a member)
    at a time."""

    def __init__(self, band: np.ndarray, order: np.ndarray, bound: int, verify: bool, max_checks: int) -> None:
        self.band, self.order, self.bound, self.verify, self.max_checks = band, order, bound, verify, max_checks

    def members(self) -> np.ndarray:
        """Dense ids in a bucket of two or more (every id a candidate pair can name)."""
        hashes = self.band[self.order]
        shared = (hashes[1:] == hashes[:-1]) & (hashes[1:] != 0)
        return np.union1d(self.order[1:][shared], self.order[:-1][shared])

    def candidates(self, n_fixed: int = 0) -> tuple[np.ndarray, int]:
        """``bucket_candidates``' pairs and paired count."""
        out = np.empty((self.bound, 2), dtype=np.int32 if self.band.shape[0] < 2**31 else np.int64)
        # the pairs a bucket offers: (first, x) without verification, else x with up to max_checks
        # earlier members in survivor order (a huge bucket of unrelated texts stays linear)
        k, paired = _native.bucket_candidates(self.band, self.order, self.verify, int(self.max_checks), int(n_fixed), out)
        return out[:k], int(paired)


def bucket_order(band: np.ndarray, verify: bool, max_checks: int = 64) -> Buckets:
    """One band radix-sorted into buckets (ids ascending in each), with how many pairs they can list."""
    band = np.ascontiguousarray(band, dtype=np.uint64)
    order = np.empty(band.shape[0], dtype=np.int64)
    bound = _native.bucket_order(band, order, verify, int(max_checks))
    return Buckets(band, order, int(bound), verify, int(max_checks))


def join_candidates(
    pairs: np.ndarray, parent: np.ndarray, sig: np.ndarray | None = None,
    row_of: np.ndarray | None = None, threshold: float = 0.0,
) -> np.ndarray:
    """Union candidate pairs ((k, 2) dense ids), each verified by signature agreement when ``sig``
    is given (``sig[row_of[x]]`` is dense id x's signature, uint32 values or their low 16 bits); pairs already in one component are
    skipped (so repeats across bands are cheap). Returns [verified, rejected]."""
    stats, _ = _join(pairs, parent, sig, row_of, threshold, want_edges=False)
    return stats


def verified_edges(
    pairs: np.ndarray, parent: np.ndarray, sig: np.ndarray, row_of: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`join_candidates`, and also the pairs that joined two components: a spanning
    forest of the agreeing pairs, which has the same connected components as all of them (so a
    piece of the global phase can verify its own pairs and hand on only these)."""
    stats, edges = _join(pairs, parent, sig, row_of, threshold, want_edges=True)
    assert edges is not None
    return edges, stats


def jaccard_edges(
    pairs: np.ndarray, parent: np.ndarray, sets: np.ndarray, set_off: np.ndarray | tuple[np.ndarray, np.ndarray],
    row_of: np.ndarray, threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`verified_edges`, each pair verified by the Jaccard similarity of the two
    documents' shingle sets (records of ``curate.dedup.minhash.sketches``: ``sets[set_off[r]:
    set_off[r + 1]]`` is record r, uint32; or, with ``set_off`` a tuple (buffer addresses, buffer
    sizes), ``sets`` is the records' 16-byte binary views into those buffers, which the caller
    keeps alive; ``row_of[x]`` is dense id x's record): joined only if it is >= ``threshold``,
    compared in float64 as ``|A & B| / |A | B| >= threshold``. Returns the spanning forest of the
    accepted pairs and [verified, rejected]."""
    stats = np.zeros(2, dtype=np.int64)
    pairs = np.ascontiguousarray(pairs if pairs.dtype in (np.int32, np.int64) else pairs.astype(np.int64)).reshape(-1, 2)
    edges = np.empty_like(pairs)
    if isinstance(set_off, tuple):
        records, where = np.ascontiguousarray(sets, dtype=np.uint8), set_off
    else:
        records, where = np.ascontiguousarray(sets, dtype=np.uint32), np.ascontiguousarray(set_off, dtype=np.int64)
    joined = _native.join_jaccard(
        pairs, parent, records, where, np.ascontiguousarray(row_of, dtype=np.int64), float(threshold), stats, edges,
    )
    return edges[:joined].copy(), stats


def _join(
    pairs: np.ndarray, parent: np.ndarray, sig: np.ndarray | None, row_of: np.ndarray | None,
    threshold: float, want_edges: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    stats = np.zeros(2, dtype=np.int64)
    verify = sig is not None
    if sig is None:
        sig = np.zeros((1, 1), dtype=np.uint32)
        row_of = np.zeros(1, dtype=np.int64)
    assert row_of is not None
    pairs = np.ascontiguousarray(pairs if pairs.dtype in (np.int32, np.int64) else pairs.astype(np.int64)).reshape(-1, 2)
    edges = np.empty_like(pairs) if want_edges else None
    min_agree = int(np.ceil(threshold * sig.shape[1] - 1e-9))
    joined = _native.join_candidates(
        pairs, parent, np.ascontiguousarray(sig, dtype=sig.dtype if sig.dtype in (np.uint16, np.uint32) else np.uint32),
        sig.shape[1],
        np.ascontiguousarray(row_of, dtype=np.int64), verify, min_agree, stats, edges,
    )
    return stats, (edges[:joined].copy() if edges is not None else None)
