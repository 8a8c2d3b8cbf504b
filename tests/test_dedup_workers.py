"""`curate dedup` not told its workers runs a small input in one process, its units on threads
(``ONE_PROCESS_BYTES``, ``ThreadExecutor``).

Its output is the same bytes whatever the worker or thread count, so this only decides speed and
memory; ``--workers`` always wins, and every other command keeps the engine's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import make_records, write_jsonl
from curate import runner
from curate.config import EngineConfig
from curate.engines.executor import ThreadExecutor, make_executor


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where the runner runs each command's units: "threads N" (this process) or "processes N"."""
    asked: list[str] = []

    def recording(kind: str, n: int, *args: Any) -> Any:
        asked.append(f"processes {n}")
        return make_executor(kind, n, *args)

    real = runner.executor_for

    def recording_threads(plan: Any) -> Any:
        ex = real(plan)
        if isinstance(ex, ThreadExecutor):
            asked.append(f"threads {ex.threads}")
        return ex

    monkeypatch.setattr(runner, "make_executor", recording)
    monkeypatch.setattr(runner, "executor_for", recording_threads)
    return asked


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "d.jsonl", make_records(120, seed=4, dup_every=5))


def parquet_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


def test_a_small_dedup_not_told_its_workers_runs_in_this_process_on_a_thread_per_core(
    cli: Any, data: Path, tmp_path: Path, workers: list[str]
) -> None:
    result = cli("dedup", data, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert workers == [f"threads {EngineConfig().workers}"]


def test_workers_given_are_used_and_the_output_is_the_same_bytes(cli: Any, tmp_path: Path, workers: list[str]) -> None:
    records = make_records(240, seed=4, dup_every=5)
    files = [write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i::4]) for i in range(4)]  # copies across files
    assert cli("dedup", *files, "-o", tmp_path / "threads", "-q").exit_code == 0
    assert cli("dedup", *files, "-o", tmp_path / "one", "-q", "-w", "1").exit_code == 0
    assert cli("dedup", *files, "-o", tmp_path / "two", "-q", "-w", "2").exit_code == 0
    assert workers == [f"threads {EngineConfig().workers}", "processes 1", "processes 2"]
    threads = parquet_bytes(tmp_path / "threads")
    assert len([n for n in threads if n.startswith("part-")]) == 4  # a shard per file: units side by side
    assert any(n.startswith("rejected/") for n in threads)
    assert threads == parquet_bytes(tmp_path / "one") == parquet_bytes(tmp_path / "two")


def test_a_dedup_over_more_input_keeps_the_engine_s_default(
    cli: Any, data: Path, tmp_path: Path, workers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "ONE_PROCESS_BYTES", data.stat().st_size - 1)
    assert cli("dedup", data, "-o", tmp_path / "out", "-q").exit_code == 0
    assert workers == [f"processes {EngineConfig().workers}"]


def test_another_command_keeps_the_engine_s_default(cli: Any, data: Path, tmp_path: Path, workers: list[int]) -> None:
    assert cli("ingest", data, "-o", tmp_path / "out", "-q").exit_code == 0
    assert workers == [f"processes {EngineConfig().workers}"]


def test_a_small_dedup_that_fails_midway_on_threads_resumes_to_the_bytes_of_a_clean_run(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Units that completed on their threads before another failed are kept and reused: the
    resumed output is the clean run's, byte for byte."""
    from curate.engines import base
    from curate.errors import StageError

    records = make_records(240, seed=4, dup_every=5)
    files = [write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i::4]) for i in range(4)]
    assert cli("dedup", *files, "-o", tmp_path / "clean", "-q").exit_code == 0
    real = base.chain_keys_task

    def failing(shard: str, *args: Any) -> Any:
        if shard == "part-00002-0000":
            raise StageError("injected failure on one shard")
        return real(shard, *args)

    with monkeypatch.context() as patch:
        patch.setattr(base, "chain_keys_task", failing)
        failed = cli("dedup", *files, "-o", tmp_path / "out", "-q")
    assert failed.exit_code == 1 and "injected failure" in failed.output
    keys = tmp_path / ".out.curate-work" / "02_minhash_dedup" / "_keys"
    done = {p.stem for p in keys.glob("*.parquet")}
    assert {"part-00000-0000", "part-00001-0000"} <= done and "part-00002-0000" not in done  # the units running beside it ended
    resumed = cli("dedup", *files, "-o", tmp_path / "out", "-q", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert parquet_bytes(tmp_path / "out") == parquet_bytes(tmp_path / "clean")


@pytest.mark.parametrize(("workers", "codec"), [([], "UNCOMPRESSED"), (["-w", "1"], "LZ4")])
def test_a_small_dedup_keeps_its_workdir_shards_uncompressed(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[str], codec: str
) -> None:
    """Read three times and removed once published: in one process they are not compressed."""
    import pyarrow.parquet as pq

    from curate.engines import base
    from curate.errors import StageError

    records = make_records(120, seed=4, dup_every=5)
    files = [write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i::2]) for i in range(2)]

    def failing(*args: Any) -> Any:
        raise StageError("stop here, the workdir kept")

    monkeypatch.setattr(base, "chain_keys_task", failing)
    assert cli("dedup", *files, "-o", tmp_path / "out", "-q", *workers).exit_code == 1
    shards = sorted((tmp_path / ".out.curate-work" / "00_ingest").glob("part-*.parquet"))
    assert shards and {pq.ParquetFile(p).metadata.row_group(0).column(0).compression for p in shards} == {codec}


def _written(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths of the Parquet files the run writes through ``write_parquet_atomic``."""
    from curate.engines import base

    paths: list[str] = []
    real = base.write_parquet_atomic

    def recording(frame: Any, path: Any, *args: Any) -> Any:
        paths.append(str(path))
        return real(frame, path, *args)

    monkeypatch.setattr(base, "write_parquet_atomic", recording)
    return paths


def test_a_small_dedup_holds_its_ingest_shards_in_memory_and_publishes_the_same_bytes(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its workdir is removed once it succeeds: ingest's shards, read back from memory by both
    dedup steps, are never written; the output is that of a run that writes and reads them."""
    records = make_records(240, seed=4, dup_every=5)
    files = [write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i::4]) for i in range(4)]
    written = _written(monkeypatch)
    assert cli("dedup", *files, "-o", tmp_path / "held", "-q").exit_code == 0
    assert written and not [p for p in written if "/00_ingest/part-" in p]
    monkeypatch.setattr(runner, "SHARD_CACHE_BYTES", 0)  # nothing held: every shard a file
    written.clear()
    assert cli("dedup", *files, "-o", tmp_path / "files", "-q").exit_code == 0
    assert [p for p in written if "/00_ingest/part-" in p]
    assert parquet_bytes(tmp_path / "held") == parquet_bytes(tmp_path / "files")


def test_held_ingest_shards_with_a_repeated_id_are_written_and_the_later_copy_rejected(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polars as pl

    records = [{"id": f"doc-{i}", **r} for i, r in enumerate(make_records(120, seed=5))]
    records[70]["id"] = records[10]["id"]  # another file, the same id
    files = [write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i * 60 : (i + 1) * 60]) for i in range(2)]
    written = _written(monkeypatch)
    assert cli("dedup", *files, "-o", tmp_path / "out", "-q").exit_code == 0
    assert [p for p in written if "/00_ingest/part-" in p]  # the id pass rewrites files: written first
    rejected = pl.read_parquet(list((tmp_path / "out" / "rejected").glob("*.parquet")))
    assert rejected.filter(pl.col("reject_reason") == "duplicate_id")["id"].to_list() == [records[10]["id"]]


def test_a_small_dedup_killed_after_ingest_reads_its_input_again_on_resume(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed, it writes nothing on its way out: its ingest manifest lists shards that are not
    there, and --resume ingests again, to the bytes of a clean run."""
    from curate.engines import base
    from curate.errors import StageError

    records = make_records(240, seed=4, dup_every=5)
    files = [write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i::4]) for i in range(4)]
    assert cli("dedup", *files, "-o", tmp_path / "clean", "-q").exit_code == 0

    def killed(*args: Any) -> Any:
        raise StageError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(base, "chain_keys_task", killed)
        patch.setattr(runner.Runner, "_keep_held_work", lambda self: None)  # a kill writes nothing
        assert cli("dedup", *files, "-o", tmp_path / "out", "-q").exit_code == 1
    ingest = tmp_path / ".out.curate-work" / "00_ingest"
    assert (ingest / "_manifest.json").is_file() and not list(ingest.glob("part-*.parquet"))
    resumed = cli("dedup", *files, "-o", tmp_path / "out", "-q", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert parquet_bytes(tmp_path / "out") == parquet_bytes(tmp_path / "clean")
