"""The compiled pre-check of ingest's Unicode normalisation: a row it lets through is in the form."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate import normal_forms
from curate.normal_forms import FORM_BITS, maybe_unnormalized, unsure_table

FORMS = list(FORM_BITS)


def buffers(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    arr = pa.array(texts, pa.large_string())
    _, off, data = arr.buffers()
    return np.frombuffer(off, dtype=np.int64), np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)


def raw(rows: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0, *map(len, rows)]).astype(np.int64)
    return offsets, np.frombuffer(b"".join(rows), dtype=np.uint8)


@pytest.mark.parametrize("form", FORMS)
def test_every_code_point_left_unmarked_is_in_the_form_alone(form: str) -> None:
    table = unsure_table()
    clear = [chr(c) for c in np.flatnonzero((table & FORM_BITS[form]) == 0) if not 0xD800 <= c < 0xE000]
    # "\n" never composes nor reorders: the joined text is in the form only if every piece is
    assert unicodedata.is_normalized(form, "\n".join(clear))


@pytest.mark.parametrize("form", FORMS)
def test_marks_what_unicode_says_may_change(form: str) -> None:
    table = unsure_table()
    for c in ("\u0301", "\u0308", "\u1161", "\u11a8", "\u212b", "\u0344"):  # marks, jamo, singletons
        assert table[ord(c)] & FORM_BITS[form], (form, hex(ord(c)))
    assert not table[ord("a")] & FORM_BITS[form]
    assert bool(table[ord("\u00e9")] & FORM_BITS[form]) == (form in ("NFD", "NFKD"))  # é decomposes
    assert bool(table[ord("\ufb01")] & FORM_BITS[form]) == (form in ("NFKC", "NFKD"))  # the ﬁ ligature


_MIXED = sorted(
    {*"aeA ", "\u00e9", "\u00c5", "\u212b", "\u0301", "\u030a", "\u0327", "\u0041", "\uac00", "\u1100", "\u1161", "\u11a8",
     "\ufb01", "\u00a0", "\u4e2d", "\u0915", "\u093c", "\u0b47", "\u0b3e", "\U0001d15e", "\U0001f600", "\u1e9b", "\u0323"}
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(_MIXED), max_size=10), min_size=1, max_size=12), st.sampled_from(FORMS))
def test_a_row_not_flagged_is_in_the_form(texts: list[str], form: str) -> None:
    flagged = maybe_unnormalized(*buffers(texts), form)
    for text, may in zip(texts, flagged.tolist(), strict=True):
        if not may:
            assert unicodedata.is_normalized(form, text), (text, form)


def test_flags_rows_holding_a_marked_code_point_only() -> None:
    flagged = maybe_unnormalized(*buffers(["plain ascii " * 5, "caf\u00e9 \u4e2d\u6587", "cafe\u0301", "", "x" * 17 + "\u212b"]), "NFC")
    assert flagged.tolist() == [False, False, True, False, True]


@pytest.mark.parametrize(
    "bad",
    [b"\xe9", b"\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xe4\xb8", b"\xc3("],
)
def test_bytes_that_are_not_well_formed_utf8_are_flagged(bad: bytes) -> None:
    flagged = maybe_unnormalized(*raw([b"ok", b"abcdefghij" + bad + b"klm", "\u4e2d".encode()]), "NFC")
    assert flagged.tolist() == [False, True, False]


def test_offsets_past_the_data_raise() -> None:
    from curate.dedup import _native

    with pytest.raises(ValueError, match="offsets"):
        _native.flagged_rows(np.array([0, 9], np.int64), np.zeros(4, np.uint8), unsure_table(), 1, np.zeros(1, np.uint8))


def test_the_table_is_cached_on_disk_and_a_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "curate"
    package.mkdir()
    monkeypatch.setattr(normal_forms, "__file__", str(package / "normal_forms.py"))
    monkeypatch.setattr(normal_forms, "_table", None)
    built = unsure_table()
    [cache] = (package / "__pycache__").glob("normalforms-*.npz")
    with np.load(cache) as stored:
        assert np.array_equal(stored["unsure"], built)
    np.savez(cache, other=np.zeros(3))  # a file without the table's array
    monkeypatch.setattr(normal_forms, "_table", None)
    assert np.array_equal(unsure_table(), built)
    for damage in (b"not a table", b""):
        cache.write_bytes(damage)
        monkeypatch.setattr(normal_forms, "_table", None)
        assert np.array_equal(unsure_table(), built)
        with np.load(cache) as stored:
            assert np.array_equal(stored["unsure"], built)


def test_a_cache_holding_another_table_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.unicode_cache import cached_tables

    package = tmp_path / "curate"
    package.mkdir()
    cached_tables(package, "normalforms", ("unsure",), lambda: {"unsure": np.zeros(5, dtype=np.int64)})  # a wrong one, written first
    monkeypatch.setattr(normal_forms, "__file__", str(package / "normal_forms.py"))
    monkeypatch.setattr(normal_forms, "_table", None)
    assert unsure_table().shape == (0x110000,) and unsure_table()[0x301] & FORM_BITS["NFC"]
    [cache] = (package / "__pycache__").glob("normalforms-*.npz")
    with np.load(cache) as stored:
        assert stored["unsure"].shape == (0x110000,)  # the wrong one replaced, not rebuilt in every process
