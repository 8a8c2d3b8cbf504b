"""What the memory sampler costs the command it measures: `curate dedup` timed alone and under
``bench_command.measure`` (the process-tree sampler), alternating, medians.

    python benchmarks/dedup/watched_ab.py CORPUS_DIR [--rounds 12]
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

from bench_command import REPO, inputs, measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--out", type=Path, default=Path("/tmp/dedup-watched-ab"))
    args = ap.parse_args()
    cmd = [str(Path(sys.executable).parent / "curate"), "dedup", *(str(f.resolve()) for f in inputs(args.corpus)), "-o", str(args.out), "-q"]
    walls: dict[str, list[float]] = {"watched": [], "alone": []}
    for r in range(args.rounds):
        for kind in ("watched", "alone") if r % 2 == 0 else ("alone", "watched"):
            shutil.rmtree(args.out, ignore_errors=True)
            if kind == "watched":
                walls[kind].append(measure(cmd, REPO)[0])
            else:
                t0 = time.perf_counter()
                proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
                os.wait4(proc.pid, 0)
                walls[kind].append(time.perf_counter() - t0)
    shutil.rmtree(args.out, ignore_errors=True)
    for kind, xs in walls.items():
        print(f"{kind:8s} median {statistics.median(xs):.3f} s  ({' '.join(f'{x:.2f}' for x in xs)})")
    print(f"watched / alone: {statistics.median(walls['watched']) / statistics.median(walls['alone']):.3f}")


if __name__ == "__main__":
    main()
