"""A scheme pyarrow has no client for goes through its fsspec implementation: fsspec's in-memory
filesystem (``memory://``, one process) stands in for gcsfs, adlfs and the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curate.io import store

fsspec = pytest.importorskip("fsspec")


@pytest.fixture
def memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CURATE_SCRATCH", str(tmp_path / "scratch"))
    root = f"memory://curate-{tmp_path.name}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root.removeprefix("memory://")):
        fs.rm(root.removeprefix("memory://"), recursive=True)


def test_a_pipeline_reads_and_publishes_through_fsspec(cli: Any, memory: str, tmp_path: Path) -> None:
    rows = [{"id": f"d{i}", "text": f"document {i % 30} with words " * 5} for i in range(45)]
    store.write_bytes(f"{memory}/raw/a.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    result = cli("dedup", f"{memory}/raw", "-o", f"{memory}/deduped", "-q")
    assert result.exit_code == 0, result.output
    release = store.current_release(f"{memory}/deduped")
    assert release is not None
    manifest = json.loads(store.read_bytes(f"{release}/_manifest.json"))
    assert manifest["totals"]["docs_in"] == 45 and manifest["totals"]["docs_out"] == 30


def test_a_workdir_through_fsspec_resumes(cli: Any, memory: str, tmp_path: Path) -> None:
    import yaml

    rows = [{"id": f"d{i}", "text": f"document {i % 30} with words " * 5} for i in range(45)]
    store.write_bytes(f"{memory}/raw/a.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({
        "input": {"sources": [{"paths": [f"{memory}/raw"]}]}, "workdir": f"{memory}/work",
        "output": {"path": f"{memory}/out"}, "stages": [{"kind": "exact_dedup"}],
    }))
    assert cli("run", cfg, "-q", "--until", "exact_dedup").exit_code == 0
    assert store.read_bytes(f"{memory}/work/01_exact_dedup/_manifest.json") is not None
    result = cli("run", cfg, "-q", "--resume")
    assert result.exit_code == 0, result.output
    run = json.loads(store.read_bytes(f"{memory}/work/_run.json"))
    assert [s["resumed_from_previous_run"] for s in run["steps"]] == [True, True, False]
    assert store.current_release(f"{memory}/out") is not None
