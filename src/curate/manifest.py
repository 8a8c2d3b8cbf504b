"""Counts and timings per stage (mergeable with +) and the manifests written beside the data."""

from __future__ import annotations

import platform
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from curate import __version__


@dataclass
class StageStats:
    """What one stage did to some documents; shard results merge with ``+``.

    The invariant every stage keeps: ``docs_in + docs_added == docs_kept + docs_rejected``.
    """

    docs_in: int = 0
    docs_kept: int = 0
    docs_added: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    shards: int = 0
    bytes_written: int = 0
    cpu_seconds: float = 0.0

    @property
    def docs_rejected(self) -> int:
        return sum(self.rejected.values())

    def balanced(self) -> bool:
        return self.docs_in + self.docs_added == self.docs_kept + self.docs_rejected

    def __add__(self, other: StageStats) -> StageStats:
        return StageStats(
            self.docs_in + other.docs_in,
            self.docs_kept + other.docs_kept,
            self.docs_added + other.docs_added,
            self.rejected + other.rejected,
            self.counters + other.counters,
            self.shards + other.shards,
            self.bytes_written + other.bytes_written,
            self.cpu_seconds + other.cpu_seconds,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "docs_kept": self.docs_kept,
            "docs_added": self.docs_added,
            "docs_rejected": self.docs_rejected,
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "counters": dict(sorted(self.counters.items())),
            "shards": self.shards,
            "bytes_written": self.bytes_written,
            "cpu_seconds": round(self.cpu_seconds, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageStats:
        return cls(
            int(data.get("docs_in", 0)),
            int(data.get("docs_kept", 0)),
            int(data.get("docs_added", 0)),
            Counter({k: int(v) for k, v in data.get("rejected_by_reason", {}).items()}),
            Counter({k: int(v) for k, v in data.get("counters", {}).items()}),
            int(data.get("shards", 0)),
            int(data.get("bytes_written", 0)),
            float(data.get("cpu_seconds", 0.0)),
        )


def _digest(data: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def versions() -> dict[str, str]:
    """Versions that can change results: recorded in every manifest."""
    import numpy
    import polars
    import pyarrow

    return {
        "curate": __version__,
        "python": platform.python_version(),
        "polars": polars.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
    }


@dataclass
class StepResult:
    """One step of a run (ingest, a stage, export) as it goes into the run manifest."""

    index: int
    kind: str
    folder: str
    fingerprint: str
    stats: StageStats
    wall_seconds: float
    skipped: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    materialized: bool | None = None
    """Whether the step's folder holds its kept rows as data files (False: a link inside a fused
    chain, recomputed from the nearest step that does when something must read it); None for
    export, whose files are the release."""

    def to_json(self) -> dict[str, Any]:
        data = {
            "index": self.index,
            "stage": self.kind,
            "folder": self.folder,
            "fingerprint": self.fingerprint,
            "config_hash": _digest(self.config),
            "config": self.config,
            "counts": self.stats.to_json(),
            "wall_seconds": round(self.wall_seconds, 3),
            "resumed_from_previous_run": self.skipped,
        }
        if self.materialized is not None:
            data["materialized"] = self.materialized
        from curate.protection import step_tables

        tables = step_tables(self.kind, self.config, self.stats.counters)
        if tables:
            data.update(tables)
        return data
