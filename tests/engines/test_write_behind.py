"""An ingest unit with a core to spare writes each chunk's shards on a second thread while it reads
the next (``_WriteBehind``): the same files, counts and rejected rows as writing them in turn, and
a failed write fails the run (never a lost shard)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import make_records, write_jsonl
from curate.config import load_config
from curate.engines import base
from curate.engines.executor import SerialExecutor, ThreadExecutor
from curate.errors import CurateError
from curate.pipeline import build_plan
from curate.runner import run_plan


def _config(root: Path) -> Path:
    records = make_records(400, seed=3, dup_every=7)
    records[5]["text"] = "   "  # one rejected at ingest
    write_jsonl(root / "raw" / "a.jsonl", records)
    cfg = {
        "input": {"paths": [str(root / "raw" / "a.jsonl")], "rows_per_shard": 50},  # one unit, 8 chunks
        "workdir": str(root / "work"),
        "stages": [{"kind": "exact_dedup"}],
    }
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _ingested(root: Path) -> dict[str, bytes]:
    folder = root / "work" / "00_ingest"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


def test_shards_written_behind_the_reading_are_the_bytes_written_in_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    behind: list[bool] = []
    real = base.ingest_task

    def recording(*args: Any) -> Any:
        behind.append(args[7])  # ingest_task(task, src, cfg, default_source, folder, fingerprint, compression, write_behind, keys_for)
        return real(*args)

    monkeypatch.setattr(base, "ingest_task", recording)
    a, b = tmp_path / "a", tmp_path / "b"
    in_turn = run_plan(build_plan(load_config(_config(a))), SerialExecutor())
    written_behind = run_plan(build_plan(load_config(_config(b))), ThreadExecutor(2))
    assert behind == [False, True]
    assert _ingested(a) == _ingested(b) and len([n for n in _ingested(a) if n.startswith("part-")]) == 8
    assert "rejected/part-00000-0000.parquet" in _ingested(b)
    assert [s.stats.to_json() | {"cpu_seconds": 0} for s in in_turn.steps] == [s.stats.to_json() | {"cpu_seconds": 0} for s in written_behind.steps]


def test_a_write_that_fails_behind_the_reading_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = base.write_parquet_atomic
    calls = 0

    def failing(frame: Any, path: Any, *args: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(5, "Input/output error", str(path))
        return real(frame, path, *args)

    monkeypatch.setattr(base, "write_parquet_atomic", failing)
    with pytest.raises((OSError, CurateError)):
        run_plan(build_plan(load_config(_config(tmp_path))), ThreadExecutor(2))
    assert not (tmp_path / "work" / "00_ingest" / "_manifest.json").exists()


def test_at_most_writers_writes_are_in_flight_and_every_byte_is_counted() -> None:
    import threading
    import time

    import polars as pl

    lock = threading.Lock()
    running, most = 0, 0

    def write(shard: str, kept: pl.DataFrame, rejected: pl.DataFrame) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return int(shard)

    with base._WriteBehind(write, behind=True) as writer:
        total = sum(writer.put(str(i), pl.DataFrame(), pl.DataFrame()) for i in range(1, 11)) + writer.drain()
    assert total == sum(range(1, 11))
    assert most == base._WriteBehind.WRITERS


def test_keys_computed_behind_the_reading_count_as_the_dedup_steps_cpu_not_ingests_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from curate.stages.exact_dedup import ExactDedup

    real = ExactDedup.keys

    def dear_keys(self: ExactDedup, batch: Any, ctx: Any) -> Any:
        spin = time.thread_time() + 0.1  # CPU on the writer thread, 0.8 s over the 8 chunks
        while time.thread_time() < spin:
            pass
        return real(self, batch, ctx)

    monkeypatch.setattr(ExactDedup, "keys", dear_keys)
    report = run_plan(build_plan(load_config(_config(tmp_path))), ThreadExecutor(2))
    ingest, dedup = (s.stats.cpu_seconds for s in report.steps[:2])
    assert dedup >= 0.8
    assert ingest < 0.5  # ingest's clock (the whole process: its one unit runs here) less the keys' time
