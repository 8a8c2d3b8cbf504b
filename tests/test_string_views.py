"""The compiled string kernels read a polars string column where it lies (its string views and data
buffers, ``hashing.StringArgs``) and give exactly what they give for the same strings as Arrow
offsets and bytes; a view that points outside its buffer is refused."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup import _native
from curate.dedup.minhash import char_tables, sketches
from curate.hashing import StringArgs, hash_collapsed, hash_strings

# short strings sit inside their view (12 bytes or fewer), longer ones in a data buffer
_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.text(
    alphabet=st.sampled_from(list("ab c\t\n\u00e9\u4e2d\U0001f600.,")), min_size=13, max_size=400
)
_TEXTS = st.lists(_TEXT, min_size=1, max_size=40)


def _as_arrow(texts: list[str]) -> pa.Array:
    return pa.array(texts, type=pa.large_string())


def _split(texts: list[str], at: int) -> pl.Series:
    """A column of two chunks (two data buffers behind its views)."""
    at = min(at, len(texts))
    return pl.concat([pl.Series(texts[:at], dtype=pl.String), pl.Series(texts[at:], dtype=pl.String)], rechunk=False)


def test_a_polars_column_without_nulls_is_passed_as_its_own_views() -> None:
    column = StringArgs(pl.Series(["short", "a string longer than twelve bytes"]))
    assert column.strings.dtype == np.uint8 and column.strings.size == 2 * 16
    assert isinstance(column.buffers, tuple) and column.n == 2


def test_nulls_and_arrow_input_take_offsets_and_bytes() -> None:
    for values in (pl.Series(["a", None]), _as_arrow(["a", "b"])):
        column = StringArgs(values)
        assert column.strings.dtype == np.int64 and not isinstance(column.buffers, tuple)


@settings(max_examples=200, deadline=None)
@given(_TEXTS, st.integers(0, 40), st.integers(0, 2**64 - 1))
def test_hashes_of_views_equal_hashes_of_offsets(texts: list[str], at: int, seed: int) -> None:
    series = _split(texts, at)
    assert hash_strings(series, seed).tolist() == hash_strings(_as_arrow(texts), seed).tolist()
    flags, _ = char_tables()
    seeds = (seed, seed ^ 0x5EED)
    assert [a.tolist() for a in hash_collapsed(series, flags, seeds)] == [a.tolist() for a in hash_collapsed(_as_arrow(texts), flags, seeds)]


@settings(max_examples=100, deadline=None)
@given(_TEXTS, st.integers(0, 40), st.integers(0, 39), st.integers(0, 40))
def test_sketches_of_views_equal_sketches_of_offsets_also_for_a_slice(texts: list[str], at: int, start: int, length: int) -> None:
    series = _split(texts, at).rechunk().slice(start, length) if start < len(texts) else _split(texts, at)
    reference = _as_arrow(series.to_list())
    sig, nsh, sets = sketches(series, 16, 3, 1, "word", "fast", 64)
    sig0, nsh0, sets0 = sketches(reference, 16, 3, 1, "word", "fast", 64)
    assert np.array_equal(sig, sig0) and np.array_equal(nsh, nsh0) and sets.equals(sets0)


def _views(length: int, buffer: int, offset: int) -> np.ndarray:
    view = np.zeros(4, dtype=np.uint32)
    view[0], view[2], view[3] = length, buffer, offset
    return view.view(np.uint8)


def test_a_view_outside_its_buffer_or_a_missing_buffer_is_refused() -> None:
    data = np.frombuffer(b"x" * 20, dtype=np.uint8)
    buffers = (np.array([data.ctypes.data], dtype=np.uint64), np.array([data.size], dtype=np.int64))
    out = np.empty(1, dtype=np.uint64)
    _native.hash_strings(_views(20, 0, 0), buffers, 0, out)  # fits exactly
    for views in (_views(20, 0, 1), _views(13, 1, 0)):
        with pytest.raises(ValueError, match="view does not fit"):
            _native.hash_strings(views, buffers, 0, out)
    with pytest.raises(ValueError, match="16 bytes"):
        _native.hash_strings(np.zeros(17, dtype=np.uint8), buffers, 0, out)
