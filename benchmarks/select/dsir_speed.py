"""DSIR speed, whole commands side by side: `curate dsir` + `curate select` against the
`data-selection` package (fit, weights, resample) on the same pool and target, same cores.

Inputs are the files benchmarks/select/run.py builds (pool.parquet, target.jsonl); the pool is
written once as JSON Lines for both tools (data-selection reads JSON Lines). Peak RSS is of
each command's whole process tree.

    python benchmarks/select/dsir_speed.py --peer-python /tmp/dsvenv/bin/python --runs 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _measure import emit, measure  # noqa: E402

CURATE = str(ROOT / ".venv" / "bin" / "curate")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "select")
    ap.add_argument("--peer-python", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    work = a.work
    pool = pl.read_parquet(work / "pool.parquet")
    jsonl = work / "pool.jsonl"
    if not jsonl.exists():
        pool.select("id", "text", "source").write_ndjson(jsonl)
    num = int(a.fraction * pool.height)
    results: dict[str, list[tuple[float, int]]] = {"curate": [], "data-selection": []}
    for run in range(a.runs):
        for d in ("c_dsir", "c_sel", "peer"):
            shutil.rmtree(work / d, ignore_errors=True)
        w1, m1, _ = measure([CURATE, "dsir", "pool.jsonl", "-o", "c_dsir", "--target", "target.jsonl", "-w", str(a.workers), "-q"], work)
        w2, m2, _ = measure([CURATE, "select", "c_dsir", "-o", "c_sel", "--method", "gumbel", "--weight", "exp", "--score", "dsir_score",
                             "--k", str(num), "-w", str(a.workers), "-q"], work)
        results["curate"].append((w1 + w2, max(m1, m2)))
        w3, m3, _ = measure([a.peer_python, str(ROOT / "benchmarks" / "select" / "peer_dsir.py"), "pool.jsonl", "target.jsonl", "peer",
                             str(num), str(a.workers)], work)
        results["data-selection"].append((w3, m3))
        print(run, json.dumps({k: v[-1] for k, v in results.items()}), flush=True)
    lines = [
        "## DSIR speed, whole commands (`make bench-select`)",
        "",
        f"{pool.height:,} pool documents ({pool['text'].str.len_bytes().sum() / 1e6:.0f} MB) as JSON Lines, "
        f"target {pl.read_ndjson(work / 'target.jsonl').height:,} documents, {num:,} resampled, 10,000 buckets, "
        f"uni+bigrams, {a.workers} processes each, median of {a.runs} runs on a shared 2-core machine.",
        "",
        "| tool | wall s (median) | docs/s | peak RSS, process tree |",
        "| --- | ---: | ---: | ---: |",
    ]
    med = {}
    for tool, rs in results.items():
        wall = statistics.median(r[0] for r in rs)
        rss = statistics.median(r[1] for r in rs)
        med[tool] = wall
        lines.append(f"| {tool} | {wall:.1f} | {pool.height / wall:,.0f} | {rss / 2**20:,.0f} MiB |")
    lines += ["", f"curate is {med['data-selection'] / med['curate']:.1f}x the data-selection package's docs/s "
              "(curate: `curate dsir` then `curate select --method gumbel --weight exp`; peer: fit on all tokens, weights, resample)."]
    emit(lines, a.out)


if __name__ == "__main__":
    main()
