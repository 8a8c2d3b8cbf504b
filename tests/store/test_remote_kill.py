"""SIGKILL of a run whose workdir and output are on an object store, then `--resume`.

The resumed output must equal an uninterrupted run's, on the machine that was killed (its local
mirror kept) and on a fresh one (an empty scratch folder: everything comes from the store).
A publish that fails before its marker leaves the previous release as the output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from curate.errors import CurateError
from curate.io import remote_publish, store


def _corpus(folder: Path, n: int = 2000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    rows = [
        {"id": f"d{i}", "text": " ".join(words[(i * 7 + k) % 12] + str((i * k) % 97) for k in range(30 + i % 40)) + "."}
        for i in range(n)
    ]
    rows += [{"id": f"copy{i}", "text": rows[i]["text"]} for i in range(0, n, 10)]
    path = folder / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(folder: Path, src: Path, workdir: str, output: str) -> Path:
    cfg = {
        "input": {"sources": [{"paths": [str(src)]}], "rows_per_shard": 200},
        "workdir": workdir,
        "output": {"path": output, "format": "parquet", "overwrite": True},
        "engine": {"workers": 2},
        "stages": [
            {"kind": "exact_dedup"},
            {"kind": "minhash_dedup", "threshold": 0.8},
            {"kind": "filter", "rules": {"long": "gopher_word_count >= 40"}},
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "curate", *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def _published(url: str, tmp: Path) -> pl.DataFrame:
    release = store.current_release(url)
    assert release is not None
    local = tmp / f"dl-{store.name(release)}"
    for f in store.list_files(store.join(release, "train")):
        store.download(f.url, local / f.url.rsplit("/", 1)[1])
    return pl.read_parquet(local / "*.parquet").sort("id")


def _kill_when(args: list[str], env: dict[str, str], condition: object, timeout: float = 300) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "curate", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not condition():  # type: ignore[operator]
            assert proc.poll() is None, f"the run ended before the point: {proc.stderr.read().decode()[-800:]}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the point was not reached in time"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("machine", ["same", "fresh"])
def test_sigkill_after_a_pushed_step_then_resume_gives_the_uninterrupted_output(
    bucket: str, subprocess_env: dict[str, str], tmp_path: Path, machine: str
) -> None:
    src = _corpus(tmp_path / "in")
    env = subprocess_env | {"CURATE_SCRATCH": str(tmp_path / "scratch")}
    _run(["run", str(_config(tmp_path / "ref", src, str(tmp_path / "ref-work"), str(tmp_path / "ref-out"))), "-q"], env)
    reference = pl.read_parquet(tmp_path / "ref-out" / "train" / "*.parquet").sort("id")

    cfg = _config(tmp_path / "run", src, f"{bucket}/work", f"{bucket}/out")
    _kill_when(["run", str(cfg), "-q"], env, lambda: store.info(f"{bucket}/work/01_exact_dedup/_manifest.json") is not None)
    assert store.read_bytes(f"{bucket}/out/_release.json") is None  # nothing was published
    resume_env = env if machine == "same" else env | {"CURATE_SCRATCH": str(tmp_path / "fresh-machine")}
    _run(["run", str(cfg), "--resume", "-q"], resume_env)
    assert _published(f"{bucket}/out", tmp_path / "run").equals(reference)
    run = json.loads(store.read_bytes(f"{bucket}/work/_run.json"))
    assert run["steps"][0]["resumed_from_previous_run"]  # the pushed ingest was reused


def test_a_publish_failing_before_its_marker_leaves_the_previous_release(bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "first"
    (first / "train").mkdir(parents=True)
    (first / "train" / "part-00000.parquet").write_bytes(b"old release")
    (first / "_manifest.json").write_text("{}")
    name = remote_publish.publish_release(first, f"{bucket}/out", "run1")
    before = {f.url: f.size for f in store.list_files(f"{bucket}/out")}

    second = tmp_path / "second"
    (second / "train").mkdir(parents=True)
    (second / "train" / "part-00000.parquet").write_bytes(b"a new release, larger")
    (second / "_manifest.json").write_text('{"new": true}')
    real_write = store.write_bytes

    def no_marker(url: str, data: bytes) -> None:
        if url.endswith("/_release.json"):
            raise CurateError("connection reset")
        real_write(url, data)

    monkeypatch.setattr(store, "write_bytes", no_marker)
    with pytest.raises(CurateError, match="previous output is unchanged"):
        remote_publish.publish_release(second, f"{bucket}/out", "run2")
    assert store.current_release(f"{bucket}/out") == f"{bucket}/out/{name}"
    after = {f.url: f.size for f in store.list_files(f"{bucket}/out") if f.url.startswith(f"{bucket}/out/{name}") or f.url.endswith("_release.json")}
    assert after == before

    monkeypatch.setattr(store, "write_bytes", real_write)
    third = remote_publish.publish_release(second, f"{bucket}/out", "run3")  # the failed attempt's files are collected
    tops = {f.url[len(bucket) + 5 :].split("/", 1)[0] for f in store.list_files(f"{bucket}/out")}
    assert tops == {"_release.json", name, third}
