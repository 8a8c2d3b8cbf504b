"""The frames of shards a one-process run just wrote, kept for the steps that read them back.

A small `curate dedup` runs every unit in one process (``runner.one_process``). Its ingest shards
are read back whole twice (exact dedup's apply with MinHash's keys, then MinHash's apply), and
each read makes fresh copies of all the text (the file read into a buffer, then decoded): ~40 %
of the command's page faults on 100,000 documents. The frames ingest wrote are the rows those
reads would give, so they are kept here and ``read_shard`` answers from them.

Only a shard whose file is still the one written (``identity``: a rewrite or replacement is
another inode, size or time) and whose frame reads back with the same schema is answered from
memory: what a step reads never depends on this cache, only how fast. The files are written as
before (a crash or ``--resume`` reads them). The runner enables it for runs whose units share its
process, with a budget of bytes, and clears it when the run ends; a step that is a shard's last
reader drops it (``drop``) once read.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import polars as pl

_lock = threading.Lock()
_frames: dict[str, tuple[str, pl.DataFrame, int]] = {}
_marks: dict[str, tuple[str, Any]] = {}
_budget = 0
_held = 0


UNWRITTEN = "unwritten"
"""The identity of a frame kept in place of a file that was never written (``hold_unwritten``)."""


def identity(path: str | Path) -> str:
    """Which file ``path`` is: a rewrite (a new file renamed over it) changes its inode, and size
    or modification time tell a copy made later apart."""
    st = os.stat(path)
    return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"


def enable(budget: int) -> None:
    """Keep frames, up to ``budget`` bytes of them (``DataFrame.estimated_size``)."""
    global _budget
    with _lock:
        _budget = budget


def clear() -> None:
    """Drop every frame and keep no more (a run's end)."""
    global _budget, _held
    with _lock:
        _frames.clear()
        _marks.clear()
        _budget = _held = 0


def keep(path: str | Path, frame: pl.DataFrame) -> bool:
    """Keep ``frame``, just written to ``path``, if the cache is on, it fits the budget and it is
    what reading the file gives (the same column names and types). Returns whether it was kept."""
    global _held
    if not _budget:
        return False
    size = frame.estimated_size()
    with _lock:
        if _held + size > _budget:
            return False
    try:
        if list(pl.read_parquet_schema(path).items()) != list(frame.schema.items()):
            return False
        key = identity(path)
    except OSError:
        return False
    with _lock:
        if not _budget or _held + size > _budget:
            return False
        old = _frames.pop(str(path), None)
        _marks.pop(str(path), None)
        _held += size - (old[2] if old else 0)
        _frames[str(path)] = (key, frame, size)
    return True


def hold_unwritten(path: str | Path, frame: pl.DataFrame, marker: str, stats: Any) -> bool:
    """Keep ``frame`` as the file ``path`` would hold, without writing that file, with its done
    mark (``marker``, the fingerprint it was computed with, and ``stats``: ``unwritten_stats``), if
    the cache is on and it fits the budget. For work files that only a crash would need read from
    disk (a global stage's keys in a one-process run: the resolve reads them from here, and a run
    that stops before its resolve is done computes them again). Returns whether it was kept."""
    global _held
    size = frame.estimated_size()
    with _lock:
        if not _budget or _held + size > _budget:
            return False
        old = _frames.pop(str(path), None)
        _held += size - (old[2] if old else 0)
        _frames[str(path)] = (UNWRITTEN, frame, size)
        _marks[str(path)] = (marker, stats)
    return True


def unwritten_stats(path: str | Path, marker: str) -> Any:
    """The stats ``hold_unwritten`` kept with ``path``'s frame if it was marked ``marker``, else None."""
    if not _marks:
        return None
    with _lock:
        mark = _marks.get(str(path))
    return mark[1] if mark is not None and mark[0] == marker else None


def held_unwritten() -> list[tuple[str, pl.DataFrame, str, Any]]:
    """Every frame held in place of a file, with its done mark: (path, frame, marker, stats)."""
    with _lock:
        return [(p, hit[1], *_marks[p]) for p, hit in _frames.items() if hit[0] == UNWRITTEN and p in _marks]


def identity_of(path: str | Path) -> str:
    """``identity(path)``, or ``UNWRITTEN`` for a frame held in place of that file."""
    with _lock:
        hit = _frames.get(str(path))
    if hit is not None and hit[0] == UNWRITTEN:
        return UNWRITTEN
    return identity(path)


def unwritten_in(folder: str | Path) -> dict[str, pl.DataFrame]:
    """The frames held in place of files directly in ``folder``, by file name (no suffix)."""
    prefix = str(Path(folder)) + os.sep
    with _lock:
        return {
            Path(p).stem: hit[1] for p, hit in _frames.items()
            if hit[0] == UNWRITTEN and p.startswith(prefix) and os.sep not in p[len(prefix):]
        }


def unwritten(paths: list[str]) -> list[str]:
    """Those of ``paths`` held in place of a file (``hold_unwritten``)."""
    with _lock:
        return [p for p in paths if (hit := _frames.get(str(p))) is not None and hit[0] == UNWRITTEN]


def get(path: str | Path) -> pl.DataFrame | None:
    """The frame kept for ``path`` if the file is still the one it was written as (or was never
    written: ``hold_unwritten``); else None (and a stale frame is dropped)."""
    if not _frames:
        return None
    with _lock:
        hit = _frames.get(str(path))
    if hit is None:
        return None
    if hit[0] == UNWRITTEN:
        return hit[1]
    try:
        current = identity(path)
    except OSError:
        current = None
    if current != hit[0]:
        drop(path)
        return None
    return hit[1]


def drop(path: str | Path) -> None:
    """Forget ``path``'s frame (its last reader has it)."""
    global _held
    with _lock:
        _marks.pop(str(path), None)
        old = _frames.pop(str(path), None)
        if old is not None:
            _held -= old[2]
