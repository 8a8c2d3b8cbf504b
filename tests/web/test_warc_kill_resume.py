"""SIGKILL of a WARC ingest part-way (workers and their watchdog processes included), then
`--resume`: the same records as an uninterrupted run, and no process of the killed group left."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from conftest import read_dir, read_rejected
from faults.conftest import group_pids, kill_group, run_cli, start, wait_gone

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _crawl(folder: Path) -> None:
    from test_warc_ingest import page, record, response

    folder.mkdir(parents=True)
    for f in range(6):
        records = [record("warcinfo", b"software: test\r\n", rid=f"info{f}")]
        for k in range(60):
            url = f"https://site{k % 7}.example/{f}/{k % 50}"  # repeats across files: url_dedup has work
            records.append(response(url, page(f"{f}-{k}", f"Main text of page {k} in file {f}, long enough to keep."), f"{f}-{k}"))
        (folder / f"part-{f}.warc").write_bytes(b"".join(records))


def _project(root: Path) -> Path:
    _crawl(root / "crawl")
    cfg = {
        "input": {"paths": ["crawl"], "bytes_per_shard": 4096},
        "workdir": "work",
        "stages": [{"kind": "url_filter", "url_dedup": True, "max_per_domain": 30}],
        "output": {"path": "out"},
        "engine": {"workers": 2},
    }
    (root / "run.yaml").write_text(yaml.safe_dump(cfg))
    return root / "run.yaml"


def test_a_killed_warc_ingest_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    for root in (ref, cut):
        root.mkdir()
        _project(root)
    done = run_cli(["run", "run.yaml", "-q"], ref)
    assert done.returncode == 0, done.stderr

    proc = start(["run", "run.yaml", "-q"], cut)
    stats = cut / "work" / "00_ingest" / "_stats"
    deadline = time.monotonic() + 120
    while not (stats.is_dir() and any(stats.glob("*.json"))) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the kill point; make the project bigger"
    kill_group(proc)
    proc.wait()
    assert wait_gone(lambda: group_pids(proc.pid), 10) == []  # workers and watchdog processes too
    assert not (cut / "out").exists()

    resumed = run_cli(["run", "run.yaml", "--resume", "-q"], cut)
    assert resumed.returncode == 0, resumed.stderr
    keep = ["id", "text", "url", "warc_record_id"]
    assert read_dir(cut / "out").select(keep).sort("id").equals(read_dir(ref / "out").select(keep).sort("id"))
    why = ["id", "reject_stage", "reject_reason"]
    assert read_rejected(cut / "work").select(why).sort("id").equals(read_rejected(ref / "work").select(why).sort("id"))
