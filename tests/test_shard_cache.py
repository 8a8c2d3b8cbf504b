"""``shard_cache``: a one-process run answers a read of a shard it wrote from the frame it wrote,
only while the file is that frame's and reads back with its schema; results never depend on it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import make_records, write_config, write_jsonl
from curate import runner as runner_module
from curate.config import load_config
from curate.engines.executor import ThreadExecutor
from curate.io import shard_cache
from curate.io.shards import read_shard, write_parquet_atomic
from curate.pipeline import build_plan
from curate.runner import run_plan


@pytest.fixture(autouse=True)
def _cache_off_after() -> Any:
    yield
    shard_cache.clear()


def _frame(n: int = 5) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"d{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)], "score": [float(i) for i in range(n)]})


def test_a_kept_frame_answers_reads_of_its_file(tmp_path: Path) -> None:
    shard_cache.enable(1 << 20)
    path, frame = tmp_path / "part.parquet", _frame()
    write_parquet_atomic(frame, path)
    assert shard_cache.keep(path, frame)
    assert read_shard(path) is frame
    assert read_shard(path, columns=["id"]).equals(frame.select("id"))


def test_a_file_replaced_since_is_read_from_disk(tmp_path: Path) -> None:
    shard_cache.enable(1 << 20)
    path, frame = tmp_path / "part.parquet", _frame()
    write_parquet_atomic(frame, path)
    shard_cache.keep(path, frame)
    write_parquet_atomic(_frame(3), path)  # a rewrite: a new file renamed over it
    assert read_shard(path).height == 3
    assert shard_cache.get(path) is None


def test_a_frame_that_reads_back_otherwise_is_not_kept(tmp_path: Path) -> None:
    shard_cache.enable(1 << 20)
    path = tmp_path / "part.parquet"
    write_parquet_atomic(_frame(), path)
    other = _frame().with_columns(pl.col("score").cast(pl.Float32))
    assert not shard_cache.keep(path, other)
    assert read_shard(path).schema["score"] == pl.Float64


def test_nothing_is_kept_when_off_or_over_budget(tmp_path: Path) -> None:
    path, frame = tmp_path / "part.parquet", _frame(1000)
    write_parquet_atomic(frame, path)
    assert not shard_cache.keep(path, frame)  # off
    shard_cache.enable(frame.estimated_size() - 1)
    assert not shard_cache.keep(path, frame)
    shard_cache.enable(frame.estimated_size())
    assert shard_cache.keep(path, frame)
    shard_cache.drop(path)
    assert shard_cache.get(path) is None


def _dedup_config(root: Path) -> Path:
    """Exact then MinHash dedup of 300 records in 5 shards, its workdir kept (root/work)."""
    write_jsonl(root / "in" / "a.jsonl", make_records(300, seed=4, dup_every=5))
    cfg = {
        "input": {"paths": [str(root / "in")], "rows_per_shard": 70},
        "workdir": str(root / "work"),
        "output": {"path": str(root / "out")},
        "stages": [{"kind": "exact_dedup"}, {"kind": "minhash_dedup", "threshold": 0.7}],
    }
    return write_config(root, cfg)


def _dedup_run(root: Path) -> Path:
    run_plan(build_plan(load_config(_dedup_config(root))), ThreadExecutor(2))
    return root / "out"


def _digest(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.parquet"))}


def test_a_run_with_its_frames_in_memory_publishes_the_bytes_of_one_reading_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answered: list[str] = []
    real_get = shard_cache.get

    def get(path: Any) -> Any:
        got = real_get(path)
        if got is not None:
            answered.append(f"{Path(path).parent.name}/{Path(path).name}")
        return got

    monkeypatch.setattr(shard_cache, "get", get)
    cached = _dedup_run(tmp_path / "cached")
    shards = [a for a in answered if a.startswith("00_ingest/")]
    assert len(shards) == 2 * 5  # every ingest shard, read by both dedup steps' chains
    assert {a for a in answered if a.startswith("_keys/")} == {f"_keys/part-00000-000{i}.parquet" for i in range(5)}  # both resolves
    assert shard_cache.get(tmp_path / "cached" / "work" / "00_ingest" / "part-00000-0000.parquet") is None  # cleared at the end
    monkeypatch.setattr(runner_module, "SHARD_CACHE_BYTES", 0)
    answered.clear()
    from_files = _dedup_run(tmp_path / "files")
    assert answered == []
    assert _digest(cached) == _digest(from_files)


def test_keys_of_a_run_read_from_frames_are_the_keys_read_from_files(tmp_path: Path) -> None:
    from curate.engines.base import scan_keys

    frames = [pl.DataFrame({"id": [f"s{k}d{i}" for i in range(4)], "_band_0": pl.Series([k * 10 + i for i in range(4)], dtype=pl.UInt64)}) for k in range(3)]
    files = [str(tmp_path / f"k{k}.parquet") for k in range(3)]
    for f, frame in zip(files, frames, strict=True):
        write_parquet_atomic(frame, f)
    from_files = scan_keys(files).collect()
    shard_cache.enable(1 << 20)
    assert all(shard_cache.keep(f, frame) for f, frame in zip(files, frames, strict=True))
    from_frames = scan_keys(files).collect()
    assert from_frames.equals(from_files)
    assert from_frames["_shard"].to_list() == [0] * 4 + [1] * 4 + [2] * 4
    shard_cache.drop(files[1])  # one not kept: every key is read from the files
    assert scan_keys(files).collect().equals(from_files)


def _key_files(work: Path) -> list[str]:
    return sorted(str(p.relative_to(work)) for p in work.glob("*/_keys/*.parquet"))


def test_a_one_process_run_holds_its_keys_in_memory_and_writes_no_key_file(tmp_path: Path) -> None:
    _dedup_run(tmp_path)
    assert _key_files(tmp_path / "work") == []
    assert not list((tmp_path / "work").glob("*/_keys/_stats/*.json"))  # no done mark for a file never written
    assert all((tmp_path / "work" / step / "_decisions" / "_SUCCESS.json").is_file() for step in ("01_exact_dedup", "02_minhash_dedup"))


def test_held_keys_are_scanned_with_written_ones_as_files(tmp_path: Path) -> None:
    from curate.engines.base import scan_keys

    frames = [pl.DataFrame({"id": [f"s{k}d{i}" for i in range(4)], "_band_0": pl.Series([k * 10 + i for i in range(4)], dtype=pl.UInt64)}) for k in range(3)]
    files = [str(tmp_path / f"k{k}.parquet") for k in range(3)]
    write_parquet_atomic(frames[0], files[0])  # on disk, not in memory
    shard_cache.enable(1 << 20)
    assert shard_cache.hold_unwritten(files[1], frames[1], "fp", "stats") and shard_cache.hold_unwritten(files[2], frames[2], "fp", "stats")
    assert not Path(files[1]).exists()
    keys = scan_keys(files).collect()
    assert keys.drop("_shard").equals(pl.concat(frames))
    assert keys["_shard"].to_list() == [0] * 4 + [1] * 4 + [2] * 4
    assert Path(files[1]).exists() and Path(files[2]).exists()  # written out for the file scan


def test_a_held_frame_counts_as_done_only_with_its_own_mark(tmp_path: Path) -> None:
    from curate.engines.base import done_stats

    shard_cache.enable(1 << 20)
    stats = object()
    assert shard_cache.hold_unwritten(tmp_path / "_keys" / "part-0.parquet", _frame(), "fp1", stats)
    assert done_stats(tmp_path / "_keys", "part-0", "fp1") is stats
    assert done_stats(tmp_path / "_keys", "part-0", "fp2") is None
    shard_cache.drop(tmp_path / "_keys" / "part-0.parquet")
    assert done_stats(tmp_path / "_keys", "part-0", "fp1") is None


def _stopped_before_minhash_resolve(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A one-process dedup run that stops with MinHash's keys computed and its resolve not done."""
    from curate.stages.minhash_dedup import MinhashDedup

    path = _dedup_config(root)

    def stop(*args: Any) -> Any:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(MinhashDedup, "split_resolve", stop)
        with pytest.raises(KeyboardInterrupt):
            run_plan(build_plan(load_config(path)), ThreadExecutor(2))
    assert not (root / "work" / "02_minhash_dedup" / "_decisions" / "_SUCCESS.json").exists()
    return path


def test_a_failed_run_writes_the_keys_it_held_and_resume_reuses_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.engines import base

    clean = _dedup_run(tmp_path / "clean")
    path = _stopped_before_minhash_resolve(tmp_path / "stopped", monkeypatch)
    assert len(_key_files(tmp_path / "stopped" / "work")) == 5  # MinHash's (exact dedup's went after its resolve)
    computed: list[str] = []
    real = base._write_keys
    monkeypatch.setattr(base, "_write_keys", lambda link, shard, *a, **k: computed.append(shard) or real(link, shard, *a, **k))
    run_plan(build_plan(load_config(path), resume=True), ThreadExecutor(2))
    assert computed == []
    assert _digest(tmp_path / "stopped" / "out") == _digest(clean)


def test_a_run_killed_before_its_resolve_computes_its_keys_again_on_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = _dedup_run(tmp_path / "clean")
    monkeypatch.setattr(runner_module.Runner, "_keep_held_work", lambda self: None)  # as if killed: nothing written on the way out
    path = _stopped_before_minhash_resolve(tmp_path / "killed", monkeypatch)
    assert _key_files(tmp_path / "killed" / "work") == []
    monkeypatch.undo()
    run_plan(build_plan(load_config(path), resume=True), ThreadExecutor(2))
    assert _digest(tmp_path / "killed" / "out") == _digest(clean)
