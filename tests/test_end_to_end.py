"""A real `curate` process killed with SIGKILL mid-run, then resumed, gives the same output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import make_records, write_config, write_jsonl

pytestmark = pytest.mark.slow
CURATE = [sys.executable, "-m", "curate"]


def make_project(root: Path) -> Path:
    for k in range(3):
        write_jsonl(root / "in" / f"part-{k}.jsonl", make_records(600, seed=k, dup_every=9), raw_lines={7: b"{bad"})
    return write_config(
        root,
        {
            "input": {"paths": ["in/*.jsonl"], "rows_per_shard": 20, "bytes_per_shard": 40_000},
            "workdir": "work",
            "output": {"path": "out", "rows_per_shard": 100, "split": {"validation": 0.1}},
            "engine": {"workers": 1},
            "seed": 3,
            "stages": [{"kind": "exact_dedup"}, {"kind": "exact_dedup", "lowercase": True}],
        },
    )


def data_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.suffix == ".parquet"}


def count(folder: Path, pattern: str) -> int:
    return len(list(folder.glob(pattern))) if folder.is_dir() else 0


KILL_POINTS = {
    "ingest": lambda w: count(w / "00_ingest" / "_stats", "*.json") >= 3,
    "dedup_keys": lambda w: count(w / "01_exact_dedup" / "_keys", "*.parquet") >= 20,
    "dedup_apply": lambda w: count(w / "01_exact_dedup" / "_stats", "*.json") >= 20,
    "second_stage": lambda w: count(w / "02_exact_dedup" / "_stats", "*.json") >= 40,
    "export": lambda w: count(w / "03_export" / "_counts", "*.json") >= 10,
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("reference")
    cfg = make_project(root)
    subprocess.run([*CURATE, "run", str(cfg), "-q"], check=True, cwd=root)
    return data_files(root / "out")


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_run_resumes_to_identical_output(tmp_path: Path, reference: dict[str, bytes], point: str) -> None:
    cfg = make_project(tmp_path)
    proc = subprocess.Popen([*CURATE, "run", str(cfg), "-q"], cwd=tmp_path, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not KILL_POINTS[point](tmp_path / "work"):
        assert proc.poll() is None, f"run finished before reaching {point}: {proc.stderr.read().decode() if proc.stderr else ''}"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    resumed = subprocess.run([*CURATE, "run", str(cfg), "--resume", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert data_files(tmp_path / "out") == reference


def test_strict_mode_exits_1_with_file_and_line(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", make_records(3), raw_lines={1: b"{bad"})
    result = subprocess.run([*CURATE, "ingest", "d.jsonl", "-o", "o", "--strict", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1
    assert "d.jsonl:2" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_shipped_example_pipeline_runs(tmp_path: Path) -> None:
    repo = Path(__file__).parents[1]
    result = subprocess.run(
        [*CURATE, "run", str(repo / "configs" / "example.yaml"), "--workdir", str(tmp_path / "w"), "--output", str(tmp_path / "o"), "-w", "2"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    manifest = __import__("json").loads((tmp_path / "o" / "_manifest.json").read_text())
    ingest = manifest["steps"][0]["counts"]
    assert ingest["rejected_by_reason"] == {"empty_text": 1, "invalid_json": 1, "invalid_utf8": 1, "not_an_object": 1, "text_too_long": 1}
    assert manifest["totals"]["docs_out"] < ingest["docs_kept"]
    assert set(manifest["sources"]) == {"manual", "reference", "notes"}
    assert "exact_duplicate" in result.stdout


def test_sigkill_during_an_index_extending_run_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a.jsonl", make_records(300, seed=1, dup_every=7))
    write_jsonl(tmp_path / "b.jsonl", make_records(3000, seed=2, dup_every=7))
    index = tmp_path / "idx"
    first = subprocess.run([*CURATE, "dedup", "a.jsonl", "-o", "ra", "--index", "idx", "-w", "1", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in index.iterdir() if p.is_file() and p.name != "_lock"}
    cmd = [*CURATE, "ingest", "b.jsonl", "-o", "ib", "--rows-per-shard", "20", "-q"]
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True).returncode == 0
    proc = subprocess.Popen([*CURATE, "dedup", "ib", "-o", "rb", "--index", "idx", "-w", "1", "-q"], cwd=tmp_path, stderr=subprocess.PIPE)
    staged = tmp_path / ".rb.curate-work" / "02_minhash_dedup" / "_side" / "minhash_index.json"
    deadline = time.monotonic() + 120
    while not staged.is_file():
        assert proc.poll() is None, "the run ended before it staged its index entries"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = {p.name: p.read_bytes() for p in index.iterdir() if p.is_file() and p.name != "_lock"}
    assert after == before  # killed after staging, before the commit: the index is untouched
    resumed = subprocess.run([*CURATE, "dedup", "ib", "-o", "rb", "--index", "idx", "-w", "1", "--resume", "-q"], cwd=tmp_path, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    info = subprocess.run([*CURATE, "index", "info", "idx", "--json"], cwd=tmp_path, capture_output=True, text=True)
    releases = __import__("json").loads(info.stdout)["releases"]
    assert len(releases) == 2
