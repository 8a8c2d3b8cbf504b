"""The compiled byte scans of the JSON Lines reader and planner equal numpy's answers."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup import _native
from curate.io.discovery import _newlines
from curate.io.readers import _positions

_BYTES = st.binary(max_size=3000) | st.lists(st.sampled_from(b'\n{[}]a"\\ \xff\x00{'), max_size=3000).map(bytes)


@settings(max_examples=300, deadline=None)
@given(_BYTES, st.sampled_from([10, 0x7B, 0, 0xFF]))
def test_positions_of_a_byte_equal_numpys(data: bytes, byte: int) -> None:
    buf = np.frombuffer(data, dtype=np.uint8)
    assert _positions(buf, byte).tolist() == np.flatnonzero(buf == byte).tolist()


@settings(max_examples=300, deadline=None)
@given(_BYTES)
def test_folded_positions_find_both_brackets(data: bytes) -> None:
    buf = np.frombuffer(data, dtype=np.uint8)
    assert _positions(buf, 0x7B, fold=True).tolist() == np.flatnonzero((buf == 0x7B) | (buf == 0x5B)).tolist()


@settings(max_examples=300, deadline=None)
@given(_BYTES, st.sampled_from([10, 0x7B, 0]))
def test_count_of_a_byte_equals_bytes_count(data: bytes, byte: int) -> None:
    assert _native.count_byte(np.frombuffer(data, dtype=np.uint8), byte) == data.count(bytes([byte]))


def test_newlines_are_counted_in_place_in_a_mapped_file(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    data = b'{"text": "a"}\n' * 5000 + b'{"text": "no newline at the end"}'
    path.write_bytes(data)
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        assert _newlines(mm, 0, len(data)) == 5000
        assert _newlines(mm, 7, 7 + 14 * 10) == data[7 : 7 + 140].count(b"\n")


def test_the_scans_refuse_a_byte_out_of_range_and_wide_items() -> None:
    with pytest.raises(ValueError, match="0-255"):
        _native.byte_positions(b"abc", 256, False)
    with pytest.raises(TypeError, match="1-byte items"):
        _native.count_byte(np.zeros(4, dtype=np.int32), 0)
