"""The run's surroundings fail: a full disk (workdir, output), a second run on the same workdir,
read-only folders (as root and as a non-root user), Ctrl-C and a SIGKILLed main process.

A full disk is a tiny tmpfs (`mount -t tmpfs -o size=...`, as root); where mounting is not
allowed those cases are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults import project
from faults.conftest import (
    children_of,
    group_pids,
    has_traceback,
    kill_group,
    nobody_can_run,
    record,
    run_cli,
    shared_tmp,
    start,
    tree_bytes,
    wait_gone,
)

FULL = pytest.mark.faults_full
pytestmark = pytest.mark.timeout(1200)
PLANTED = project.SMALL_PLANTED


def _mount_tmpfs(path: Path, size: str, options: str = "") -> str | None:
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (f",{options}" if options else "")
    probe = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    return None if probe.returncode == 0 else (probe.stderr.strip() or f"mount exit {probe.returncode}")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a tiny tmpfs needs root (mount)")
    why = _mount_tmpfs(path, size)
    if why:
        pytest.skip(f"cannot mount a tmpfs here: {why}")
    try:
        yield path
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system of ``folder`` until ``leave`` bytes are free."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free
    block = b"\1" * 4096
    with open(filler, "wb", buffering=0) as fh:
        left = free - leave
        try:
            while left > 0 or leave == 0:
                left -= fh.write(block[: max(1, min(len(block), left))] if leave else block)
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
    return filler


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), result.stderr[-2000:]
    assert not [line for line in lines if line.startswith("error: ")][1:], f"more than one error: {result.stderr}"
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".curate-staging", ".curate-old")))


# ---------------------------------------------------------------- disk full


DISK_FULL = [
    # (where, bytes left free before the run), in the fast subset
    pytest.param("output", 8192, id="output-nearly-full"),
    pytest.param("output", 0, id="output-full", marks=FULL),
    pytest.param("workdir", 60_000, id="workdir-nearly-full", marks=FULL),
    pytest.param("workdir", 0, id="workdir-full", marks=FULL),
]


@pytest.mark.parametrize(("where", "leave"), DISK_FULL)
def test_disk_full(tmp_path: Path, where: str, leave: int) -> None:
    root = tmp_path
    cfg = project.config(root, small=True)
    project.write_inputs(root, small=True)
    disk = root / "disk"
    with tmpfs(disk, "8m"):
        if where == "output":
            cfg["output"]["path"] = str(disk / "out")
        else:
            cfg["workdir"] = str(disk / "work")
        path = project.write_config(root, cfg)
        good = run_cli(["run", path, "-q"], root, timeout=600)
        assert good.returncode == 0, good.stderr
        out = Path(cfg["output"]["path"]) if where == "output" else root / "out"
        before = tree_bytes(out)
        # a change that rewrites every step and the output, on a disk with little room left
        cfg["seed"] = 9
        cfg["stages"][-1]["rules"]["enough"] = "n >= 10"
        project.write_config(root, cfg)
        if where == "workdir":
            shutil.rmtree(disk / "work")  # the new run must write its steps again
        filler = fill(disk, leave)
        full = run_cli(["run", path, "-q"], root, timeout=600)
        record("other", name=f"disk_full_{where}_{leave}", traceback=has_traceback(full))
        assert full.returncode == 1, full.stderr
        assert not has_traceback(full), full.stderr
        message = one_error(full)
        assert "no space left" in message and str(disk) in message, message
        assert tree_bytes(out) == before, "the previous output changed"
        assert leftovers(out.parent) == [], "staging or old folders left holding space"
        filler.unlink()
        resumed = run_cli(["run", path, "--resume", "-q"], root, timeout=600)
        assert resumed.returncode == 0, resumed.stderr
        after = project.published(out)
        ok, detail = project.balance(root, PLANTED, Path(cfg["workdir"]) if where == "workdir" else None, out)
    fresh = root / "fresh"
    fresh.mkdir()
    project.write_inputs(fresh, small=True)
    cfg_fresh = project.config(fresh, small=True, seed=9)
    cfg_fresh["stages"][-1]["rules"]["enough"] = "n >= 10"
    again = run_cli(["run", project.write_config(fresh, cfg_fresh), "-q"], fresh, timeout=600)
    assert again.returncode == 0, again.stderr
    assert after == project.published(fresh / "out"), "the resumed output differs from a fresh run"
    assert ok, detail


# ---------------------------------------------------------------- one run per workdir


def test_a_second_run_on_the_workdir_fails_at_once_and_the_first_completes(tmp_path: Path) -> None:
    cfg = project.make(tmp_path)  # the big project: the first run lasts long enough
    first = start(["run", cfg, "-q"], tmp_path)
    try:
        deadline = time.monotonic() + 120
        lock = tmp_path / "work" / "_lock"
        while not (lock.exists() and lock.read_text().strip() and (tmp_path / "work" / "00_ingest").exists()):
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.01)
        began = time.monotonic()
        second = run_cli(["run", cfg, "-q"], tmp_path, timeout=60)
        took = time.monotonic() - began
        assert first.poll() is None, "the first run ended before the second tried: the case proves nothing"
        assert second.returncode == 1, second.stderr
        assert not has_traceback(second)
        message = one_error(second)
        assert f"pid {first.pid}" in message, message
        assert took < 30, f"the second run took {took:.0f} s to fail"
        _, err = first.communicate(timeout=600)
        assert first.returncode == 0, err.decode()
    finally:
        if first.poll() is None:
            kill_group(first)
            first.wait()
    ok, detail = project.balance(tmp_path, project.PLANTED)
    assert ok, detail


# ---------------------------------------------------------------- read-only folders


def _ro_mount(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


@pytest.mark.faults_full
@pytest.mark.parametrize("where", ["workdir", "output"])
def test_read_only_folder_as_root(tmp_path: Path, where: str) -> None:
    project.write_inputs(tmp_path, small=True)
    cfg = project.config(tmp_path, small=True)
    disk = tmp_path / "ro"
    with tmpfs(disk, "4m"):
        (disk / "out").mkdir()
        (disk / "out" / "keep.txt").write_text("previous")
        if where == "workdir":
            cfg["workdir"] = str(disk / "work")
        else:
            cfg["output"]["path"] = str(disk / "out")
        path = project.write_config(tmp_path, cfg)
        _ro_mount(disk)
        result = run_cli(["run", path, "-q"], tmp_path, timeout=300)
        record("other", name=f"read_only_{where}_root", traceback=has_traceback(result))
        assert result.returncode in (1, 2), result.stderr
        assert not has_traceback(result), result.stderr
        message = one_error(result)
        assert str(disk) in message, message
        assert (disk / "out" / "keep.txt").read_text() == "previous"


@pytest.mark.faults_full
@pytest.mark.parametrize("where", ["workdir", "output", "output_parent", "ingest_output"])
def test_unwritable_folder_as_nobody(where: str) -> None:
    why = nobody_can_run()
    if why:
        pytest.skip(f"cannot run as a non-root user here: {why}")
    root = shared_tmp("curate-fault-ro-")
    try:
        project.write_inputs(root, small=True)
        for p in root.rglob("*"):
            p.chmod(0o777 if p.is_dir() else 0o666)
        locked = root / "locked"
        locked.mkdir()
        locked.chmod(0o755)  # root's: nobody may not write in it
        cfg = project.config(root, small=True)
        if where == "workdir":
            cfg["workdir"] = str(locked / "work")
        elif where == "output":
            (locked / "out").mkdir()
            cfg["output"]["path"] = str(locked / "out")
        else:
            cfg["output"]["path"] = str(locked / "sub" / "out")
        path = project.write_config(root, cfg)
        path.chmod(0o644)
        args = ["ingest", "in", "-o", locked / "o", "-q", "-w", "1"] if where == "ingest_output" else ["run", path, "-q", "-w", "1"]
        result = run_cli(args, root, timeout=300, as_nobody=True)
        record("other", name=f"unwritable_{where}_nobody", traceback=has_traceback(result))
        assert result.returncode in (1, 2), result.stderr
        assert not has_traceback(result), result.stderr
        message = one_error(result)
        assert str(locked) in message, message
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- signals


def _wait_for_workers(proc: subprocess.Popen[bytes], root: Path, n: int = 2) -> None:
    deadline = time.monotonic() + 120
    while len(children_of(proc.pid)) < n or project.count(root / "work" / "01_exact_dedup" / "_keys", "*.parquet") < 1:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "workers did not start"
        time.sleep(0.01)


def test_ctrl_c_exits_130_with_one_line(tmp_path: Path) -> None:
    cfg = project.make(tmp_path, small=True)
    proc = start(["run", cfg, "-q", "-w", "2"], tmp_path)
    try:
        _wait_for_workers(proc, tmp_path)
        kill_group(proc, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            kill_group(proc)
            proc.wait()
    text = err.decode(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {text[-3000:]}"
    assert not wait_gone(lambda: group_pids(proc.pid), 10), "workers outlived the interrupted run"
    resumed = run_cli(["run", cfg, "--resume", "-q"], tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    ok, detail = project.balance(tmp_path, PLANTED)
    assert ok, detail


@pytest.mark.faults_full
def test_sigkill_of_the_main_process_leaves_no_workers(tmp_path: Path) -> None:
    cfg = project.make(tmp_path, small=True)
    proc = start(["run", cfg, "-q", "-w", "2"], tmp_path)
    try:
        _wait_for_workers(proc, tmp_path)
        workers = children_of(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, not its group
        proc.wait(timeout=30)
        survivors = wait_gone(lambda: [p for p in workers if Path(f"/proc/{p}").exists() and _alive(p)], 5)
        assert not survivors, f"workers {survivors} survive their killed parent"
    finally:
        kill_group(proc)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"
