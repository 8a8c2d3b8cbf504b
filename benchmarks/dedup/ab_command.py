"""Two `curate dedup` commands against each other, alternating, as users time them: one change's A/B.

    python benchmarks/dedup/ab_command.py CORPUS.parquet --before /tmp/before/curate [--after .venv/bin/curate] [--runs 12]

Each round runs both commands as subprocesses, whole process, one after the other (the order
alternating round by round, since what ran before changes how much a first-touched page costs on
a shared VM); prints the medians of wall seconds, user and system CPU seconds and the peak RSS
of the root process (``wait4``'s ``ru_maxrss``: a `curate dedup` small enough to stay in one
process is its whole tree), every run's wall, and whether the two outputs hold the same rows
(published files' content, in file order; the bytes may differ when the writer changed).
``bench_command.py`` is the full benchmark (rensa, the floor, F1, the process tree); this is
the quick check of one change, the table behind each row of RESULTS-dedup.md's per-change A/Bs.
A ``--before`` command is typically a wrapper script running an earlier commit's source:

    git archive REV src | tar -x -C /tmp/before && cp src/curate/*/_native*.so ... (built kernels)
    PYTHONPATH=/tmp/before/src python -c "import sys; sys.argv[0]='curate'; from curate.cli import main; main()" "$@"
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[2]


def run(cmd: str, corpus: Path, out: Path) -> tuple[float, float, float, float]:
    """(wall s, user s, system s, peak RSS MiB) of one whole `cmd dedup CORPUS -o OUT -q`."""
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([cmd, "dedup", str(corpus), "-o", str(out), "-q"])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        sys.exit(f"{cmd} failed (wait status {status})")
    return wall, usage.ru_utime, usage.ru_stime, usage.ru_maxrss / 1024


def rows(out: Path) -> pl.DataFrame:
    """The kept rows an output publishes, in file order."""
    return pl.concat([pl.read_parquet(p) for p in sorted(out.glob("*.parquet"))], how="vertical")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--before", required=True, help="the command to compare against")
    ap.add_argument("--after", default=str(REPO / ".venv" / "bin" / "curate"))
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ab_command"))
    args = ap.parse_args()
    commands = {"before": args.before, "after": args.after}
    results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in commands}
    for i in range(args.runs):
        order = list(commands.items()) if i % 2 == 0 else list(reversed(commands.items()))
        for name, cmd in order:
            results[name].append(run(cmd, args.corpus, args.work / name))
    print(f"{args.corpus}: {args.runs} alternating rounds; medians")
    print("| command | wall s | user s | system s | peak RSS MiB | every wall s (sorted) |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, runs in results.items():
        wall, user, system, rss = (statistics.median(column) for column in zip(*runs, strict=True))
        walls = " ".join(f"{r[0]:.2f}" for r in sorted(runs))
        print(f"| {name} (`{commands[name]}`) | {wall:.3f} | {user:.2f} | {system:.2f} | {rss:.0f} | {walls} |")
    same = rows(args.work / "before").equals(rows(args.work / "after"))
    print(f"same kept rows in both outputs: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
