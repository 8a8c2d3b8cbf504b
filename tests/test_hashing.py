"""The compiled XXH64 equals the reference implementation, so ids and splits are stable."""

from __future__ import annotations

import numpy as np
import polars as pl
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.hashing import hash_strings, unit_interval


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=20), st.integers(0, 2**64 - 1))
def test_hash_strings_equals_reference_xxh64(texts: list[str], seed: int) -> None:
    got = hash_strings(pl.Series(texts, dtype=pl.String), seed)
    want = np.array([xxhash.xxh64_intdigest(t.encode(), seed) for t in texts], dtype=np.uint64)
    assert got.tolist() == want.tolist()


def test_nulls_hash_like_empty_string() -> None:
    got = hash_strings(pl.Series(["", None], dtype=pl.String))
    assert got[0] == got[1] == xxhash.xxh64_intdigest(b"")


def test_sliced_series_hash_only_their_rows() -> None:
    s = pl.Series(["a", "bb", "ccc", "dddd"])[1:3]
    assert hash_strings(s).tolist() == [xxhash.xxh64_intdigest(b"bb"), xxhash.xxh64_intdigest(b"ccc")]


def test_unit_interval_is_in_range() -> None:
    u = unit_interval(np.array([0, 2**64 - 1, 12345], dtype=np.uint64))
    assert (u >= 0).all() and (u < 1).all()
