"""State that outlives a run (an incremental dedup index, later DSIR fits and eval-set indexes).

A stage never writes it. A global stage's ``combine`` describes what it would add as a
``SideWrite`` in ``ctx.side_state``; the runner stages it inside the step's folder
(``NN_kind/_side/``) and commits it only when the whole run has completed, after the output is
published. So a run killed or failed anywhere leaves the state as it was, a resumed run sees
the same state as its first attempt (same decisions), and a commit is idempotent: each target
records the run ids it has taken, and a run id already there is not committed twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate.io.shards import read_json, write_json_atomic, write_parquet_atomic


@dataclass
class SideWrite:
    """Rows to add to a target outside the run, and what the target must agree with."""

    kind: str
    target: str
    frame: pl.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)


def stage_side_writes(folder: Path, writes: dict[str, SideWrite], run_id: str | None, fingerprint: str = "") -> None:
    """Write each pending SideWrite beside the step (data first, then its descriptor).

    ``commit_key`` (run id and step fingerprint) identifies this content: a retried or resumed
    attempt of the same step stages the same key (committed once), while a resumed run whose
    step was recomputed after a change stages a new one.
    """
    for name, w in writes.items():
        write_parquet_atomic(w.frame, folder / f"{name}.parquet")
        write_json_atomic(
            {"kind": w.kind, "target": w.target, "params": w.params, "run_id": run_id, "rows": w.frame.height,
             "commit_key": f"{run_id}:{fingerprint}"},
            folder / f"{name}.json",
        )


_COMMITTERS: dict[str, Callable[[Path, dict[str, Any]], int]] = {}


def committer(kind: str) -> Callable[[Callable[[Path, dict[str, Any]], int]], Callable[[Path, dict[str, Any]], int]]:
    """Register how a kind of side state is committed: ``fn(staged_parquet, descriptor) -> rows``."""

    def register(fn: Callable[[Path, dict[str, Any]], int]) -> Callable[[Path, dict[str, Any]], int]:
        _COMMITTERS[kind] = fn
        return fn

    return register


def pending(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Staged writes of one step folder, in name order."""
    side = folder / "_side"
    if not side.is_dir():
        return []
    out = []
    for desc in sorted(side.glob("*.json")):
        data = read_json(desc)
        if data and (side / f"{desc.stem}.parquet").is_file():
            out.append((side / f"{desc.stem}.parquet", data))
    return out


def commit_all(folders: list[Path]) -> list[str]:
    """Commit every staged write of these step folders; returns one line per commit."""
    import curate.dedup.index  # noqa: F401 - registers the minhash index committer

    lines = []
    for folder in folders:
        for staged, desc in pending(folder):
            fn = _COMMITTERS.get(desc["kind"])
            if fn is None:  # pragma: no cover - every kind that stages a write registers a committer
                raise RuntimeError(f"no committer for side state {desc['kind']!r}")
            rows = fn(staged, desc)
            lines.append(f"{desc['kind']} {desc['target']}: +{rows} rows")
    return lines


def describe(folder: Path) -> str:
    """A short JSON summary of what a step folder has staged (for debugging)."""
    return json.dumps([d for _, d in pending(folder)], indent=1)
