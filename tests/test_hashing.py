"""The compiled XXH64 equals the reference implementation, so ids and splits are stable."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup.minhash import char_tables
from curate.hashing import hash_collapsed, hash_strings, unit_interval


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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab é\t\n\r\x0b\x0c\x1c\x85\u00a0\u2003\u3000.")), max_size=40), max_size=20))
def test_hash_collapsed_equals_hashing_the_collapsed_text(texts: list[str]) -> None:
    """Whitespace runs (Python's ``\\s``) become one space, ends are stripped, then XXH64."""
    flags = char_tables()[0]
    got1, got2 = hash_collapsed(pl.Series(texts, dtype=pl.String), flags, (7, 8))
    collapsed = [re.sub(r"\s+", " ", t).strip().encode() for t in texts]
    assert got1.tolist() == [xxhash.xxh64_intdigest(c, 7) for c in collapsed]
    assert got2.tolist() == [xxhash.xxh64_intdigest(c, 8) for c in collapsed]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from([*"abcdefghij.", " ", " ", "\n", "\t", "\x01", "\x1b", "\x1f", "é", "\u00a0"]), max_size=120), max_size=10))
def test_hash_collapsed_takes_eight_ascii_bytes_at_once_with_the_same_values(texts: list[str]) -> None:
    """Mostly ASCII words with single and repeated whitespace, control bytes that are not
    whitespace (\x01, \x1b) and some that are (\x1f): the 8-byte path gives the same values."""
    flags = char_tables()[0]
    got1, _ = hash_collapsed(pl.Series(texts, dtype=pl.String), flags, (7, 8))
    assert got1.tolist() == [xxhash.xxh64_intdigest(re.sub(r"\s+", " ", t).strip().encode(), 7) for t in texts]


def test_hash_strings_values_are_pinned() -> None:
    """Ids, splits and dedup indexes persist these values: they must never change."""
    got = hash_strings(pl.Series(["", "curate", "naïve text"]), 0x2E)
    assert got.tolist() == [xxhash.xxh64_intdigest(b"", 0x2E), xxhash.xxh64_intdigest(b"curate", 0x2E), xxhash.xxh64_intdigest("naïve text".encode(), 0x2E)]
    assert hash_strings(pl.Series(["curate"]), 0).tolist() == [0x556B3CCFDF4EED9D]
