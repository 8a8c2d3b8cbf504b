"""`curate run` and single commands with the workdir and the output on an object store.

Everything runs against the local S3-compatible server of conftest.py, through the same client
code users run. What is checked: the published release equals a local run's output, the marker
commits it, a resume (also from a fresh machine: an empty local scratch) reuses pushed steps,
a failed or refused publish leaves the previous release as the output, and no credential is
written anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from curate.io import store


def _corpus(folder: Path, n: int = 60) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"d{i}", "text": f"Document number {i} talks about topic {i % 7}. " * (3 + i % 5)} for i in range(n)]
    rows += [{"id": f"copy{i}", "text": rows[i]["text"]} for i in range(5)]  # exact copies: rejected by dedup
    path = folder / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(tmp: Path, src: Path, workdir: str, output: str, **extra: object) -> Path:
    cfg = {
        "input": {"sources": [{"paths": [str(src)]}]},
        "workdir": workdir,
        "output": {"path": output, "format": "parquet"},
        "stages": [{"kind": "exact_dedup"}, {"kind": "filter", "rules": {"long": "gopher_word_count >= 30"}}],
    } | extra
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _curate(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "curate", *args], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _release_rows(url: str, tmp: Path, kind: str = "train") -> pl.DataFrame:
    release = store.current_release(url)
    assert release is not None
    local = tmp / f"dl-{kind}-{store.name(release)}"
    for f in store.list_files(store.join(release, kind)):
        store.download(f.url, local / f.url.rsplit("/", 1)[1])
    return pl.concat([pl.read_parquet(p) for p in sorted(local.glob("*.parquet"))], how="diagonal_relaxed").sort("id")


@pytest.fixture
def env(subprocess_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return subprocess_env | {"CURATE_SCRATCH": str(tmp_path / "scratch")}


def test_a_run_on_the_store_publishes_what_a_local_run_publishes(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    local_cfg = _config(tmp_path, src, str(tmp_path / "work"), str(tmp_path / "out"))
    _curate(["run", str(local_cfg), "-q"], env)
    expected = pl.read_parquet(tmp_path / "out" / "train" / "*.parquet").sort("id")

    (tmp_path / "remote").mkdir()
    remote_cfg = _config(tmp_path / "remote", src, f"{bucket}/work", f"{bucket}/out")
    _curate(["run", str(remote_cfg), "-q"], env)

    got = _release_rows(f"{bucket}/out", tmp_path)
    assert got.equals(expected)
    manifest = json.loads(store.read_bytes(store.join(store.current_release(f"{bucket}/out"), "_manifest.json")))
    rejected = _release_rows(f"{bucket}/out", tmp_path, "_rejected")
    assert manifest["totals"]["docs_in"] == 65
    assert (len(got), len(rejected)) == (manifest["totals"]["docs_out"], manifest["totals"]["docs_rejected"])


def test_the_marker_is_the_commit_and_names_one_release(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    cfg = _config(tmp_path, src, f"{bucket}/work", f"{bucket}/out")
    _curate(["run", str(cfg), "-q"], env)
    marker = json.loads(store.read_bytes(f"{bucket}/out/_release.json"))
    tops = {f.url[len(bucket) + 5 :].split("/", 1)[0] for f in store.list_files(f"{bucket}/out")}
    assert tops == {"_release.json", marker["release"]}


def test_a_second_run_needs_overwrite_and_keeps_the_release_before(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    cfg = _config(tmp_path, src, f"{bucket}/work", f"{bucket}/out")
    _curate(["run", str(cfg), "-q"], env)
    first = json.loads(store.read_bytes(f"{bucket}/out/_release.json"))["release"]
    refused = _curate(["run", str(cfg), "-q"], env, check=False)
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    _curate(["run", str(cfg), "-q", "--overwrite"], env)
    marker = json.loads(store.read_bytes(f"{bucket}/out/_release.json"))
    assert marker["release"] != first and marker["previous"] == first
    tops = {f.url[len(bucket) + 5 :].split("/", 1)[0] for f in store.list_files(f"{bucket}/out")}
    assert tops == {"_release.json", first, marker["release"]}


def test_resume_on_a_fresh_machine_reuses_the_pushed_steps(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    cfg = _config(tmp_path, src, f"{bucket}/work", f"{bucket}/out")
    _curate(["run", str(cfg), "-q", "--until", "exact_dedup"], env)
    assert store.read_bytes(f"{bucket}/work/01_exact_dedup/_manifest.json") is not None
    fresh = env | {"CURATE_SCRATCH": str(tmp_path / "other-machine")}
    proc = _curate(["run", str(cfg), "--resume"], fresh)
    run = json.loads(store.read_bytes(f"{bucket}/work/_run.json"))
    reused = {s["folder"]: s["resumed_from_previous_run"] for s in run["steps"]}
    assert reused["00_ingest"] and reused["01_exact_dedup"] and not reused["03_filter"], proc.stderr
    assert len(_release_rows(f"{bucket}/out", tmp_path)) > 0


def test_a_failing_gate_publishes_nothing_and_the_previous_release_stays(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    cfg = _config(tmp_path, src, f"{bucket}/work", f"{bucket}/out")
    _curate(["run", str(cfg), "-q"], env)
    before = {f.url: f.size for f in store.list_files(f"{bucket}/out")}
    gated = _config(tmp_path, src, f"{bucket}/work", f"{bucket}/out", gates={"min_docs": 10_000})
    proc = _curate(["run", str(gated), "-q", "--overwrite"], env, check=False)
    assert proc.returncode == 1 and "gate failed" in proc.stderr
    assert {f.url: f.size for f in store.list_files(f"{bucket}/out")} == before


def test_a_second_run_on_a_leased_workdir_is_refused(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    import socket
    import time

    store.write_bytes(
        f"{bucket}/work/_lock.json",
        json.dumps({"host": "another-host", "pid": 4242, "token": "x", "heartbeat": time.time()}).encode(),
    )
    src = _corpus(tmp_path / "in")
    cfg = _config(tmp_path, src, f"{bucket}/work", f"{bucket}/out")
    proc = _curate(["run", str(cfg), "-q"], env, check=False)
    assert proc.returncode == 2 and "in use by pid 4242 on another-host" in proc.stderr
    assert socket.gethostname() != "another-host"


def test_a_dead_runs_lease_on_this_host_is_taken_over(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    import socket
    import time

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    store.write_bytes(
        f"{bucket}/work/_lock.json",
        json.dumps({"host": socket.gethostname(), "pid": int(dead), "token": "x", "heartbeat": time.time()}).encode(),
    )
    src = _corpus(tmp_path / "in")
    _curate(["run", str(_config(tmp_path, src, f"{bucket}/work", f"{bucket}/out")), "-q"], env)
    assert store.read_bytes(f"{bucket}/work/_lock.json") is None  # released at the end


def test_a_single_command_publishes_to_the_store(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    _curate(["ingest", str(src), "-o", f"{bucket}/ingested", "-q"], env)
    rows = _release_rows(f"{bucket}/ingested", tmp_path, kind="")
    assert len(rows) == 65


def test_no_credential_is_written_to_the_store_or_the_scratch(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    _curate(["run", str(_config(tmp_path, src, f"{bucket}/work", f"{bucket}/out")), "-q"], env)
    secret = env["AWS_SECRET_ACCESS_KEY"].encode()
    for f in store.list_files(bucket):
        assert secret not in store.read_bytes(f.url), f.url
    for p in (tmp_path / "scratch").rglob("*"):
        if p.is_file():
            assert secret not in p.read_bytes(), p
    assert os.environ["AWS_ACCESS_KEY_ID"]  # the run had credentials: they came from the environment


def test_report_inspect_and_diff_read_a_release_on_the_store(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    cfg = _config(tmp_path, src, f"{bucket}/work", f"{bucket}/out")
    _curate(["run", str(cfg), "-q"], env)
    _curate(["run", str(cfg), "-q", "--overwrite"], env)
    inspect = _curate(["inspect", f"{bucket}/out", "--reason", "exact_duplicate"], env, check=False)
    assert inspect.returncode == 0 and "copy" in inspect.stdout, inspect.stderr
    diff = _curate(["diff", f"{bucket}/out", f"{bucket}/out", "--json"], env)
    assert f"release: {bucket}/out" in inspect.stdout, inspect.stdout
    assert json.loads(diff.stdout)["old"] == f"{bucket}/out"
    docs = json.loads(diff.stdout)["documents"]
    assert docs["added"] == 0 and docs["kept"] == docs["new"] > 0
    report = _curate(["report", f"{bucket}/out", "-o", str(tmp_path / "rep")], env)
    assert (tmp_path / "rep" / "report.html").is_file(), report.stderr
    _curate(["report", f"{bucket}/out", "-o", f"{bucket}/reports/week1"], env)
    assert store.info(f"{bucket}/reports/week1/report.html") is not None
    refused = _curate(["report", f"{bucket}/out"], env, check=False)
    assert refused.returncode == 2 and "give -o" in refused.stderr
    assert not list(tmp_path.glob("s3:*")) and not Path("s3:").exists()


def test_an_output_on_the_store_may_not_hold_its_input(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    store.write_bytes(f"{bucket}/raw/a.jsonl", b'{"text": "one document"}\n')
    proc = _curate(["ingest", f"{bucket}/raw", "-o", f"{bucket}/raw/out", "-q"], env, check=False)
    assert proc.returncode == 2 and "inside the input prefix" in proc.stderr, proc.stderr


def test_a_fresh_run_does_not_download_the_steps_it_replaces(bucket: str, tmp_path: Path) -> None:
    from curate.io.remote_workdir import RemoteWorkdir

    store.write_bytes(f"{bucket}/work/01_filter/part-00000.parquet", b"last week's shard")
    store.write_bytes(f"{bucket}/work/01_filter/_manifest.json", b"{}")
    store.write_bytes(f"{bucket}/work/_file_digests.json", b"{}")
    fresh = RemoteWorkdir(f"{bucket}/work", tmp_path / "fresh")
    assert fresh.pull(steps=False) == 1 and not (tmp_path / "fresh" / "01_filter").exists()
    resumed = RemoteWorkdir(f"{bucket}/work", tmp_path / "resumed")
    assert resumed.pull() == 3 and (tmp_path / "resumed" / "01_filter" / "part-00000.parquet").is_file()


def test_a_missing_bucket_is_a_config_error_before_any_work(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    for workdir, output, key in ((f"{bucket}/work", "s3://no-such-bucket-x/out", "output.path"), ("s3://no-such-bucket-y/work", f"{bucket}/out", "workdir")):
        cfg = _config(tmp_path, src, workdir, output)
        for cmd in (["validate", str(cfg)], ["run", str(cfg), "-q"]):
            proc = _curate(cmd, env, check=False)
            assert proc.returncode == 2 and f"{key}: the bucket" in proc.stderr and "does not exist" in proc.stderr, proc.stderr
    assert store.list_files(bucket) == [] and not Path("s3:").exists()


def test_an_unreachable_endpoint_is_a_config_error_naming_it(env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    proc = _curate(["ingest", str(src), "-o", "s3://any-bucket/out", "-q"], env | {"AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, check=False)
    assert proc.returncode == 2 and "cannot reach the store" in proc.stderr and "127.0.0.1:1" in proc.stderr, proc.stderr


def test_validate_prints_the_urls_not_the_local_stand_ins(bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    src = _corpus(tmp_path / "in")
    proc = _curate(["validate", str(_config(tmp_path, src, f"{bucket}/work", f"{bucket}/out"))], env)
    assert f"workdir: {bucket}/work" in proc.stdout and f"-> {bucket}/out" in proc.stdout, proc.stdout
    assert str(tmp_path / "scratch") not in proc.stdout
