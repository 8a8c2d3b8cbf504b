"""CPU seconds of a command's process tree, by kind of process: where an engine's time goes.

Runs the command, reads every descendant's cumulative CPU once a second (``psutil``; a process
that ends between two reads loses at most a second) and prints user and system seconds summed by
process kind (the Ray worker processes, the raylet, the GCS, the driver...). Once a second costs
the command almost nothing, unlike the memory sampler of the benchmarks.

    python benchmarks/cpu_by_process.py -- python -m curate run config.yaml -q
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time

import psutil


def kind(process: psutil.Process, root: int) -> str:
    """A process's kind: the command itself, else its name and first argument's last path part."""
    if process.pid == root:
        return "the command"
    cmdline = process.cmdline()
    first = cmdline[0].rsplit("/", 1)[-1] if cmdline else ""
    name = process.name()
    return name if not first or first == name else f"{name} ({first})"


def main() -> None:
    cmd = sys.argv[1:]
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    if not cmd:
        raise SystemExit(__doc__)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    last: dict[int, tuple[str, float, float]] = {}
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for p in tree:
            try:
                with p.oneshot():
                    times = p.cpu_times()
                    last[p.pid] = (kind(p, root.pid), times.user, times.system)
            except psutil.Error:
                continue
        time.sleep(1.0)
    wall = time.perf_counter() - t0
    totals: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for name, user, system in last.values():
        totals[name][0] += 1
        totals[name][1] += user
        totals[name][2] += system
    print(f"wall {wall:.1f} s, exit {proc.returncode}")
    print("| processes | kind | user s | system s |\n| ---: | --- | ---: | ---: |")
    for name, (count, user, system) in sorted(totals.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
        print(f"| {count:.0f} | {name} | {user:.1f} | {system:.1f} |")
    print(f"| | all | {sum(t[1] for t in totals.values()):.1f} | {sum(t[2] for t in totals.values()):.1f} |")


if __name__ == "__main__":
    main()
