"""What the benchmark scripts share: a command timed unwatched, peak memory of a command's process
tree, and the results file."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import time
from pathlib import Path

import psutil


def timed(cmd: list[str], cwd: Path) -> tuple[float, resource.struct_rusage]:
    """One run of ``cmd`` with nothing sampling it, as a user's `time` runs it: wall seconds and
    the kernel's resource usage of the reaped process tree (``wait4``: user and system CPU of the
    command and every descendant it waited for; ``ru_maxrss``, the root process's exact peak)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"command failed ({os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}")
    return wall, usage


def measure(cmd: list[str], cwd: Path, interval: float = 0.05) -> tuple[float, int, int]:
    """Run ``cmd``; wall seconds, peak RSS summed over its process tree, and of its largest process.

    The tree is sampled every ``interval`` seconds, so it catches every worker, and for Ray the
    raylet, GCS and worker processes that a locally started instance spawns.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peak_tree = peak_one = 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            rss = []
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    rss.append(p.memory_info().rss)
            peak_tree = max(peak_tree, sum(rss))
            peak_one = max(peak_one, max(rss, default=0))
        time.sleep(interval)
    if proc.returncode:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return time.perf_counter() - t0, peak_tree, peak_one


def emit(lines: list[str], out: Path | None) -> None:
    """Print a results table, and append it to ``out`` (benchmarks/RESULTS.md) when given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        with open(out, "a") as fh:
            fh.write("\n" + text)
