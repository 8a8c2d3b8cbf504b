"""Shingle sets verified where polars holds them: binary views into their buffers give the
decisions of the copied-out records, and the resolve reads the same records from held frames and
from key files."""

from __future__ import annotations

import ctypes

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup.lsh import jaccard_edges
from curate.dedup.unionfind import new_parent
from curate.stages.minhash_dedup import _candidate_sets, _view_chunks


def _record(values: set[int]) -> bytes:
    return np.array([len(values), *sorted(values)], dtype=np.uint32).tobytes()


def _as_offsets(records: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    sets = np.frombuffer(b"".join(records), dtype=np.uint32)
    off = np.concatenate([[0], np.cumsum([len(r) // 4 for r in records])]).astype(np.int64)
    return sets, off


def _as_views(column: pl.Series) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], list[pa.Array]]:
    (arr,) = _view_chunks(column.rechunk())
    data = [b for b in arr.buffers()[2:] if b is not None]
    views = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[16 * arr.offset : 16 * (arr.offset + len(arr))]
    return views, (np.array([b.address for b in data], np.uint64), np.array([b.size for b in data], np.int64)), [arr]


def _decode(views: np.ndarray, where: tuple[np.ndarray, np.ndarray]) -> list[bytes]:
    """Each view's bytes, read the way the kernel reads them (inline up to 12 bytes, else buffer + offset)."""
    out = []
    for v in views.reshape(-1, 16):
        length, buf, at = (int(x) for x in v.view(np.uint32)[[0, 2, 3]])
        if length <= 12:
            out.append(v[4 : 4 + length].tobytes())
        else:
            assert at + length <= where[1][buf]
            out.append(ctypes.string_at(int(where[0][buf]) + at, length))
    return out


_SETS = st.lists(st.sets(st.integers(0, 60), max_size=40), min_size=2, max_size=12)


@settings(max_examples=200, deadline=None)
@given(_SETS, st.data(), st.sampled_from([0.3, 0.5, 0.8, 1.0]))
def test_views_decide_every_pair_as_the_copied_records(sets: list[set[int]], data: st.DataObject, threshold: float) -> None:
    """Short records (up to 12 bytes) lie inside their views, longer ones in the buffers: the same
    forest and counts as records copied into one array, whichever pairs are asked."""
    records = [_record(s) for s in sets]
    n = len(records)
    pairs = np.array(data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30)), dtype=np.int64).reshape(-1, 2)
    row_of = np.array(data.draw(st.permutations(range(n))), dtype=np.int64)
    sets_arr, off = _as_offsets(records)
    want_edges, want_stats = jaccard_edges(pairs, new_parent(n), sets_arr, off, row_of, threshold)
    views, where, hold = _as_views(pl.Series(records, dtype=pl.Binary))
    edges, stats = jaccard_edges(pairs, new_parent(n), views, where, row_of, threshold)
    assert edges.tolist() == want_edges.tolist() and stats.tolist() == want_stats.tolist()
    del hold


def test_a_view_outside_its_buffer_is_refused() -> None:
    views, (addresses, sizes), hold = _as_views(pl.Series([_record(set(range(20))), _record(set(range(30)))], dtype=pl.Binary))
    with pytest.raises(ValueError, match="view does not fit"):
        jaccard_edges(np.array([[0, 1]]), new_parent(2), views, (addresses, sizes - 8), np.arange(2), 0.5)
    del hold


def test_a_partial_record_is_refused() -> None:
    column = pl.Series([_record(set(range(20))), b"\x01\x00\x00\x00\x07\x00\x00\x00zz"], dtype=pl.Binary)
    views, where, hold = _as_views(column)
    with pytest.raises(ValueError, match="whole uint32 values"):
        jaccard_edges(np.array([[0, 1]]), new_parent(2), views, where, np.arange(2), 0.5)
    del hold


@pytest.mark.parametrize("shift", [1, 2, 3])
def test_records_at_any_byte_offset_are_read_as_they_are(shift: int) -> None:
    """Sets read from a Parquet key file lie at whatever offset polars' decoder put them: each
    value is loaded without assuming alignment, with the same decision as aligned copies."""
    a, b = set(range(0, 40)), set(range(4, 44))  # J = 36 / 44
    payload = b"\0" * shift + _record(a) + _record(b)
    buffer = np.frombuffer(payload, dtype=np.uint8)
    la, lb = len(_record(a)), len(_record(b))
    views = np.zeros((2, 4), dtype=np.uint32)
    views[0] = [la, 0, 0, shift]
    views[1] = [lb, 0, 0, shift + la]
    where = (np.array([buffer.ctypes.data], np.uint64), np.array([buffer.size], np.int64))
    for threshold, want in ((0.8, True), (0.85, False)):
        edges, stats = jaccard_edges(np.array([[0, 1]]), new_parent(2), views.view(np.uint8).reshape(-1), where, np.arange(2), threshold)
        assert (len(edges) == 1) == want and stats.tolist() == [1, 0 if want else 1]


def _keys(rng: np.random.Generator, n: int) -> pl.DataFrame:
    sets = [set(rng.choice(10_000, size=int(rng.integers(0, 200)), replace=False).tolist()) for _ in range(n)]
    return pl.DataFrame({"_set": pl.Series([_record(s) for s in sets], dtype=pl.Binary)})


@pytest.mark.parametrize("fraction", [0.02, 0.6, 1.0])
def test_candidate_sets_are_the_wanted_records_held_or_read_from_files(tmp_path, fraction: float) -> None:
    """Held frames (their own buffers, never copied) and key files (few wanted: copied out) give
    the same records in key-row order, each dense id mapped to its own."""
    rng = np.random.default_rng(7)
    parts = [_keys(rng, 700), _keys(rng, 500)]
    held = pl.concat(parts, rechunk=False).lazy()
    files = []
    for i, part in enumerate(parts):
        files.append(tmp_path / f"{i}.parquet")
        part.write_parquet(files[-1])
    on_disk = pl.scan_parquet(files)
    n = 1200
    wanted = rng.random(n) < fraction
    row_of_dense = rng.permutation(n).astype(np.int64)
    every = pl.concat(parts)["_set"].to_list()
    held_buffers = {b.address for part in parts for arr in _view_chunks(part["_set"]) for b in arr.buffers()[2:] if b is not None}
    for keys in (held, on_disk):
        views, where, row_of, owners = _candidate_sets(None, keys, 0, n, row_of_dense, wanted)
        if keys is held:  # read where the frames hold them, whatever the fraction wanted
            assert set(where[0].tolist()) <= held_buffers
        got = _decode(views, where)
        assert got == [every[r] for r in np.flatnonzero(wanted)]
        for dense in range(n):
            if wanted[row_of_dense[dense]]:
                assert got[row_of[dense]] == every[row_of_dense[dense]]
        # and the kernel takes them as they lie (a key file's sets at any byte offset)
        named = np.flatnonzero(wanted[row_of_dense])
        pairs = np.stack([named[:-1], named[1:]], axis=1) if named.size > 1 else np.zeros((0, 2), np.int64)
        _, stats = jaccard_edges(pairs, new_parent(n), views, where, row_of, 0.0001)
        assert stats[0] == len(pairs)
        del owners
