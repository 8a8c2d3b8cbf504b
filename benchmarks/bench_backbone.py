"""Ingest -> export throughput and peak memory on generated JSON Lines (`make bench`).

Generates N documents of about 1 KB (cached under benchmarks/_work/), runs
`curate run` on them in a subprocess with the local engine, samples the resident memory of
the whole process tree every 50 ms, and repeats with 2N documents to show that peak memory
does not grow with the corpus. Appends a table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

from _measure import emit, measure

HERE = Path(__file__).parent
WORK = HERE / "_work"
VOCAB = (
    "the of and to in is that for it as with was on be by this are or from at an which have not "
    "data model training text quality filter shard parquet token corpus language dedup signal score "
    "export ingest record source value table query server index engine worker memory stream batch "
    "column schema manifest seed hash pipeline curation document sentence paragraph evaluation"
).split()


def generate(path: Path, n: int, files: int = 8) -> list[Path]:
    """N documents of ~1 KB in `files` JSON Lines files (deterministic)."""
    path.mkdir(parents=True, exist_ok=True)
    outs = [path / f"part-{k:02d}.jsonl" for k in range(files)]
    if all(p.exists() for p in outs) and (path / "_n").read_text() == str(n):
        return outs
    rng = random.Random(0)
    pool = [" ".join(rng.choice(VOCAB) for _ in range(180)) for _ in range(2000)]
    per = n // files
    for k, p in enumerate(outs):
        count = per if k < files - 1 else n - per * (files - 1)
        with open(p, "w") as fh:
            base = k * per
            fh.writelines(
                json.dumps({"text": f"Document {base + i}. {pool[(base + i) % len(pool)]}", "n": base + i, "lang": "en"}) + "\n"
                for i in range(count)
            )
    (path / "_n").write_text(str(n))
    return outs


def run_once(n: int, workers: int) -> dict[str, float]:
    corpus = WORK / f"corpus-{n}"
    generate(corpus, n)
    cfg = WORK / f"bench-{n}.yaml"
    cfg.write_text(
        f"input: {{paths: ['{corpus}/*.jsonl']}}\n"
        f"workdir: {WORK}/run-{n}\n"
        f"output: {{path: {WORK}/out-{n}, overwrite: true}}\n"
        f"engine: {{workers: {workers}}}\n"
    )
    wall, tree, one = measure([sys.executable, "-m", "curate", "run", str(cfg), "-q"], HERE.parent)
    manifest = json.loads((WORK / f"run-{n}" / "_run.json").read_text())
    steps = {s["stage"]: s["wall_seconds"] for s in manifest["steps"]}
    size = sum(p.stat().st_size for p in corpus.glob("*.jsonl"))
    return {"docs": n, "workers": workers, "mb": size / 1e6, "wall": wall, "ingest": steps["ingest"], "export": steps["export"],
            "docs_s": n / wall, "tree_mib": tree / 2**20, "one_mib": one / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeats", type=int, default=3, help="runs per size; the table shows medians")
    ap.add_argument("--out", type=Path, default=None, help="append the results table to this Markdown file")
    args = ap.parse_args()
    rows = []
    for n in (args.docs, 2 * args.docs):
        runs = [run_once(n, args.workers) for _ in range(args.repeats)]
        row = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        row["tree_mib"] = max(r["tree_mib"] for r in runs)
        row["one_mib"] = max(r["one_mib"] for r in runs)
        rows.append(row)
    lines = [
        f"### Ingest -> export, JSON Lines of ~1 KB per document ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores)",
        "",
        f"Command: `python benchmarks/bench_backbone.py --docs {args.docs} --workers {args.workers}`",
        "",
        f"Medians of {args.repeats} runs per size; peak memory is the highest seen in any run.",
        "",
        "| documents | input MB | workers | wall s | ingest s | export s | docs/s | peak RSS, all processes (MiB) | peak RSS, largest process (MiB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['docs']:,.0f} | {r['mb']:,.0f} | {r['workers']:.0f} | {r['wall']:.1f} | {r['ingest']:.1f} | {r['export']:.1f} | "
            f"{r['docs_s']:,.0f} | {r['tree_mib']:,.0f} | {r['one_mib']:,.0f} |"
        )
    emit(lines, args.out)


if __name__ == "__main__":
    main()
