"""The compiled dedup kernels (curate.dedup._native): exact hashes, safe on bad arguments, lean.

The kernels are reached through typed wrappers (minhash.py, lsh.py, unionfind.py), which the
other dedup tests cover; these tests pin what the C layer itself promises.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup import _native
from curate.dedup.lsh import band_hashes, bucket_candidates, join_candidates
from curate.dedup.minhash import signatures
from curate.dedup.unionfind import new_parent, roots


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), seed=st.integers(0, 2**64 - 1))
def test_xxh64_equals_xxhash(data: bytes, seed: int) -> None:
    assert _native.xxh64(data, seed) == xxhash.xxh64_intdigest(data, seed)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), seed=st.integers(0, 2**32 - 1))
def test_xxh32_equals_xxhash(data: bytes, seed: int) -> None:
    assert _native.xxh32(data, seed) == xxhash.xxh32_intdigest(data, seed)


def test_dedup_stage_runs_without_loading_numba() -> None:
    # every worker of a dedup-only run pays for what it imports: numba and LLVM cost ~140 MiB
    code = (
        "import sys, polars as pl\n"
        "from curate.stages.base import StageContext\n"
        "from curate.stages.minhash_dedup import MinhashDedup, MinhashDedupConfig\n"
        "import curate.cli, curate.config, curate.runner\n"
        "s = MinhashDedup(MinhashDedupConfig()); s.setup()\n"
        "s.keys(pl.DataFrame({'id': ['a'], 'text': ['one two three four five six']}), StageContext())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_signatures_from_threads_equal_one_call() -> None:
    # the kernel releases the GIL and keeps no state between calls
    texts = pl.Series([f"document {i} " + "shared words in every text " * (i % 7 + 1) for i in range(400)])
    whole, counts = signatures(texts)
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(lambda s: signatures(texts[s : s + 100]), range(0, 400, 100)))
    assert np.array_equal(np.vstack([p[0] for p in parts]), whole)
    assert np.array_equal(np.concatenate([p[1] for p in parts]), counts)


def test_wrong_dtype_is_a_type_error_not_a_crash() -> None:
    sig = np.zeros((2, 8), dtype=np.float64)
    with pytest.raises(TypeError, match="sig"):
        _native.band_hashes(sig, np.ones(2, np.int32), 8, 2, 4, np.empty((2, 2), np.uint64))


def test_short_output_buffer_is_refused() -> None:
    sig = np.zeros((4, 8), dtype=np.uint32)
    with pytest.raises(ValueError, match="out"):
        _native.band_hashes(sig, np.ones(4, np.int32), 8, 2, 4, np.empty((1, 2), np.uint64))


def test_band_layout_beyond_num_perm_is_refused() -> None:
    with pytest.raises(ValueError, match="num_perm"):
        band_hashes(np.zeros((1, 8), np.uint32), np.ones(1, np.int32), 3, 3)


def test_order_that_is_not_a_permutation_is_refused() -> None:
    hashes = np.array([5, 5, 7], dtype=np.uint64)
    out = np.empty((4, 2), dtype=np.int32)
    with pytest.raises(ValueError, match="permutation"):
        _native.bucket_candidates(hashes, np.array([0, 1, 9], np.int64), True, 8, 0, out)


def test_too_small_pair_buffer_is_refused() -> None:
    hashes = np.full(5, 3, dtype=np.uint64)
    with pytest.raises(ValueError, match="fewer pairs"):
        _native.bucket_candidates(hashes, np.arange(5, dtype=np.int64), True, 8, 0, np.empty((2, 2), np.int32))


def test_pair_outside_the_forest_is_an_index_error() -> None:
    with pytest.raises(IndexError, match="pairs"):
        join_candidates(np.array([[0, 7]], dtype=np.int32), new_parent(3))


def test_flatten_refuses_a_forest_not_rooted_at_smallest_ids() -> None:
    with pytest.raises(ValueError, match="smallest-root"):
        roots(np.array([1, 1, 2], dtype=np.int64))


def test_int64_and_int32_pairs_join_alike() -> None:
    band = np.array([9, 4, 9, 4, 9, 1], dtype=np.uint64)
    pairs, _ = bucket_candidates(band, verify=False)
    a, b = new_parent(6), new_parent(6)
    join_candidates(pairs.astype(np.int32), a)
    join_candidates(pairs.astype(np.int64), b)
    assert roots(a).tolist() == roots(b).tolist() == [0, 1, 0, 1, 0, 5]


@pytest.mark.parametrize("hash_mode", ["fast", "datasketch"])
def test_malformed_utf8_reads_as_replacement_characters(hash_mode: str) -> None:
    # binary input may hold anything: each stray or cut-off byte is one U+FFFD (3 bytes in char
    # mode, where a run of them once outgrew the scratch buffer), never a word character
    import pyarrow as pa

    raw = pa.array([b"\x80" * 300, b"ab \xf0\x9f\x98", b"caf\xc3"], type=pa.binary())
    text = pl.Series(["\ufffd" * 300, "ab " + "\ufffd" * 3, "caf\ufffd"])
    for shingle in ("char", "word"):
        got = signatures(raw, 16, 5, 1, shingle, hash_mode)
        want = signatures(text, 16, 5, 1, shingle, hash_mode)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_a_lowercase_table_outside_unicode_is_refused() -> None:
    from curate.dedup.minhash import char_tables, permutations

    flags, lower = char_tables()
    bad = lower.copy()
    bad[ord("A")] = 0x1F600  # an ASCII letter "lowercasing" to a 4-byte code point
    a, b = permutations(8, 1)
    out, counts = np.empty((1, 8), np.uint32), np.zeros(1, np.int32)
    with pytest.raises(ValueError, match="lower"):
        _native.signatures(np.array([0, 1], np.int64), np.frombuffer(b"A", np.uint8), 5, False, False, flags, bad, a, b, out, counts)
