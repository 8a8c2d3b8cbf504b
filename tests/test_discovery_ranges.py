"""How planning cuts a large JSON Lines file into read tasks: line-aligned byte ranges that each
know their first line number, found by mapping a local file and by streaming a store's object,
with the same answer."""

from __future__ import annotations

import mmap
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.io import discovery


def reference_ranges(data: bytes, target: int) -> list[tuple[int, int, int]]:
    """The specification, written plainly: a range ends right after the first newline at or after
    ``start + target`` (unless that is the end of the file); its first line is one more than the
    newlines before it."""
    if len(data) <= target:
        return [(0, len(data), 1)]
    out, start = [], 0
    while (cut := data.find(b"\n", start + target)) >= 0 and cut + 1 < len(data):
        out.append((start, cut + 1, data.count(b"\n", 0, start) + 1))
        start = cut + 1
    return out + [(start, len(data), data.count(b"\n", 0, start) + 1)] if start < len(data) else out


lines = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=120)


@settings(max_examples=200, deadline=None)
@given(lines=lines, ends=st.sampled_from([b"\n", b"\r\n", b"\n\n"]), last=st.booleans(), target=st.integers(1, 300))
def test_mapped_and_streamed_ranges_equal_the_specification(lines: list[bytes], ends: bytes, last: bool, target: int) -> None:
    data = ends.join(lines) + (ends if last else b"")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.jsonl"
        path.write_bytes(data)
        want = reference_ranges(data, target)
        with pytest.MonkeyPatch.context() as mp:  # small blocks, count steps and drops: every boundary case
            mp.setattr(discovery, "_SPLIT_BLOCK", 7)
            mp.setattr(discovery, "_COUNT_STEP", 5)
            mp.setattr(discovery, "_COUNT_BLOCK", 11)  # ranges counted in several blocks, on threads
            mp.setattr(discovery, "_MAP_DROP", mmap.PAGESIZE)
            if len(data) > target:  # (a file within one target is one range without being read)
                assert discovery._streamed_jsonl_ranges(str(path), len(data), target) == want
                assert discovery._mapped_jsonl_ranges(str(path), len(data), target) == want
        assert discovery._jsonl_ranges(str(path), len(data), target) == want


def test_a_file_over_many_mapped_pages_is_counted_and_let_go_on_the_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages are dropped from the map behind the count (bounded resident memory), by each of the
    threads counting a block; the count is unchanged."""
    data = b"".join(b'{"text": "%d"}\n' % i + (b"\n" if i % 7 == 0 else b"") for i in range(60_000))
    path = tmp_path / "d.jsonl"
    path.write_bytes(data)
    monkeypatch.setattr(discovery, "_MAP_DROP", 2 * mmap.PAGESIZE)
    monkeypatch.setattr(discovery, "_COUNT_STEP", 3000)
    monkeypatch.setattr(discovery, "_COUNT_BLOCK", 20_000)
    dropped: list[tuple[int, int]] = []
    real = mmap.mmap.madvise

    class Recording(mmap.mmap):
        def madvise(self, option: int, start: int = 0, length: int = -1) -> None:
            dropped.append((start, length))
            real(self, option, start, length)

    monkeypatch.setattr(discovery.mmap, "mmap", Recording)
    got = discovery._jsonl_ranges(str(path), len(data), 50_000)
    assert dropped and all(start % mmap.PAGESIZE == 0 and length > 0 for start, length in dropped)
    assert len(got) > 10
    assert got == reference_ranges(data, 50_000)


def test_a_file_that_shrank_after_it_was_listed_is_read_instead_of_mapped(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a"}\n' * 100)
    listed = len(b'{"text": "a"}\n' * 200)
    with pytest.raises(ValueError, match="shrank"):
        discovery._mapped_jsonl_ranges(str(path), listed, 100)
    assert discovery._jsonl_ranges(str(path), listed, 100) == discovery._streamed_jsonl_ranges(str(path), listed, 100)
