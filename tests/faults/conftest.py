"""Fault and fuzz suite: shared helpers and the one-line summary of the run's figures.

Every case drives the real CLI in a subprocess. Tests record what they observed (one JSON line
per case) into a results folder shared by the controller and the xdist workers; at the end the
process that owns the terminal prints one line with the figures of this run:

    N bad-input kinds, N clean errors, 0 tracebacks, 0 documents lost; K kill points, K identical; C config changes resumed correctly
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

CURATE = [sys.executable, "-m", "curate"]
RESULTS_ENV = "CURATE_FAULTS_RESULTS"
NOBODY = 65534


# ---------------------------------------------------------------- figures


def _results_dir() -> Path:
    path = os.environ.get(RESULTS_ENV)
    if not path:  # a process that started without the controller's folder (should not happen)
        path = tempfile.mkdtemp(prefix="curate-faults-")
        os.environ[RESULTS_ENV] = path
    return Path(path)


def record(kind: str, **data: Any) -> None:
    """Append one observation (kind: bad_input, kill, change) for the summary line."""
    line = json.dumps({"kind": kind, **data}, sort_keys=True)
    with open(_results_dir() / f"results-{os.getpid()}.jsonl", "a") as fh:
        fh.write(line + "\n")


def pytest_configure(config: pytest.Config) -> None:
    # The controller (or a plain run) creates the folder before xdist starts its workers, which
    # inherit the environment; a worker keeps the folder it was given.
    if not hasattr(config, "workerinput") and not os.environ.get(RESULTS_ENV):
        os.environ[RESULTS_ENV] = tempfile.mkdtemp(prefix="curate-faults-")
        config._curate_faults_owner = True  # type: ignore[attr-defined]


def summary_line(rows: list[dict[str, Any]]) -> str:
    bad = [r for r in rows if r["kind"] == "bad_input"]
    kills = [r for r in rows if r["kind"] == "kill"]
    changes = [r for r in rows if r["kind"] == "change"]
    kinds = len({r["name"] for r in bad})
    clean = len({r["name"] for r in bad if r["clean"]})
    tracebacks = sum(1 for r in bad if r["traceback"]) + sum(1 for r in rows if r["kind"] == "other" and r.get("traceback"))
    lost = sum(abs(r["lost"]) for r in bad)
    return (
        f"{kinds} bad-input kinds, {clean} clean errors, {tracebacks} tracebacks, {lost} documents lost; "
        f"{len(kills)} kill points, {sum(1 for r in kills if r['identical'])} identical; "
        f"{sum(1 for r in changes if r['ok'])} config changes resumed correctly"
    )


def read_results() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(_results_dir().glob("results-*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    rows = read_results()
    if not rows:
        return
    line = summary_line(rows)
    terminalreporter.write_line(line)
    out = os.environ.get("CURATE_FAULTS_SUMMARY")
    if out:
        Path(out).write_text(line + "\n")
    if getattr(config, "_curate_faults_owner", False):
        shutil.rmtree(_results_dir(), ignore_errors=True)


# ---------------------------------------------------------------- running the CLI


def run_cli(
    args: Sequence[Any],
    cwd: Path,
    *,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    as_nobody: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python -m curate ARGS`` in ``cwd``; a hang past ``timeout`` fails the test (never blocks)."""
    cmd = [*CURATE, *map(str, args)]
    if as_nobody:
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
    full_env = {**os.environ, **(env or {})}
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env, errors="replace")
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"`curate {' '.join(map(str, args))}` did not finish in {timeout:.0f} s (hang): {err.stderr!r}")


def has_traceback(result: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" in (result.stderr or "") or "Traceback" in (result.stdout or "")


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "_manifest.json").read_text())


def rows(path: Path) -> int:
    return pq.read_metadata(path).num_rows


def output_counts(out: Path) -> tuple[int, int]:
    """(kept rows, rejected rows) of a command's output folder, from the files its manifest lists."""
    block = manifest(out)["curate_dataset"]
    kept = sum(rows(out / f) for f in block["data_files"])
    rejected = sum(rows(out / f) for f in block.get("rejected_files", []))
    return kept, rejected


def data_files(out: Path) -> dict[str, bytes]:
    """Every Parquet file of an output (data and rejected), by relative path, as bytes."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet")) if p.is_file()}


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (for "unchanged byte for byte")."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def nobody_can_run() -> str | None:
    """None if commands can run as user nobody here, else why not (for a skip)."""
    if os.geteuid() != 0:
        return "not root: cannot switch to user nobody"
    if not shutil.which("setpriv"):
        return "setpriv not installed"
    probe = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-c", "import curate.cli"],
        capture_output=True, text=True,
    )
    return None if probe.returncode == 0 else f"user nobody cannot import curate: {probe.stderr[-300:]}"


def shared_tmp(prefix: str) -> Path:
    """A folder user nobody can write to (pytest's tmp_path is 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o777)
    return path


# ---------------------------------------------------------------- processes


def _live_processes() -> list[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live process (zombies excluded), from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            out.append((int(entry.name), int(fields[1]), int(fields[2])))
    return out


def group_pids(pgid: int) -> list[int]:
    """Live processes of a process group."""
    return [pid for pid, _, group in _live_processes() if group == pgid]


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    return [child for child, parent, _ in _live_processes() if parent == pid]


def wait_gone(pids: Callable[[], list[int]], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    left = pids()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = pids()
    return left


def start(args: Sequence[Any], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``curate ARGS`` in a new session (its own process group), stderr captured."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen(
        [*CURATE, *map(str, args)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=full_env
    )


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
