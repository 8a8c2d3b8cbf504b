"""Ingest -> export throughput and peak memory on generated JSON Lines (`make bench`).

Generates N documents of about 1 KB (cached under benchmarks/_work/), runs
`curate run` on them (no stages: ingest, then export) in a subprocess with the local engine,
samples the resident memory of the whole process tree every 50 ms, and repeats with 2N
documents to show that peak memory does not grow with the corpus.

Each run also times the floor (issue 12) in the same way, as a subprocess right before or
after curate (the order alternates run by run): ``floor_jsonl_parquet.py``, pyarrow reading the
same JSON Lines and writing the same rows as zstd Parquet with no checks, in as many processes
as curate has workers. CPU seconds are those of the whole process tree (user + system of the
command and every child it waited for). Appends the tables to ``--out`` (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
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


def _children_cpu() -> float:
    """User + system CPU seconds of every child process this one has waited for so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds of the process tree, peak RSS of the tree and of its largest process."""
    cpu0 = _children_cpu()
    wall, tree, one = measure(cmd, HERE.parent)
    return wall, _children_cpu() - cpu0, tree, one


def run_curate(n: int, workers: int) -> dict[str, float]:
    corpus = WORK / f"corpus-{n}"
    cfg = WORK / f"bench-{n}.yaml"
    cfg.write_text(
        f"input: {{paths: ['{corpus}/*.jsonl']}}\n"
        f"workdir: {WORK}/run-{n}\n"
        f"output: {{path: {WORK}/out-{n}, overwrite: true}}\n"
        f"engine: {{workers: {workers}}}\n"
    )
    wall, cpu, tree, one = timed([sys.executable, "-m", "curate", "run", str(cfg), "-q"])
    manifest = json.loads((WORK / f"run-{n}" / "_run.json").read_text())
    steps = {s["stage"]: s["wall_seconds"] for s in manifest["steps"]}
    size = sum(p.stat().st_size for p in corpus.glob("*.jsonl"))
    return {"docs": n, "workers": workers, "mb": size / 1e6, "wall": wall, "cpu": cpu, "ingest": steps["ingest"],
            "export": steps["export"], "docs_s": n / wall, "tree_mib": tree / 2**20, "one_mib": one / 2**20}


def run_floor(n: int, procs: int) -> dict[str, float]:
    files = sorted(str(p) for p in (WORK / f"corpus-{n}").glob("*.jsonl"))
    cmd = [sys.executable, str(HERE / "floor_jsonl_parquet.py"), "-o", str(WORK / f"floor-{n}"), "--procs", str(procs), *files]
    wall, cpu, tree, one = timed(cmd)
    return {"wall": wall, "cpu": cpu, "tree_mib": tree / 2**20, "one_mib": one / 2**20}


def run_once(n: int, workers: int, k: int) -> tuple[dict[str, float], dict[str, float]]:
    """One curate run and one floor run, side by side: curate first on even runs, the floor first on odd."""
    generate(WORK / f"corpus-{n}", n)
    if k % 2 == 0:
        cur = run_curate(n, workers)
        flo = run_floor(n, workers)
    else:
        flo = run_floor(n, workers)
        cur = run_curate(n, workers)
    cur["first"] = "curate" if k % 2 == 0 else "floor"
    return cur, flo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeats", type=int, default=3, help="runs per size; the table shows medians")
    ap.add_argument("--no-double", action="store_true", help="skip the run with 2N documents (the memory-flat check)")
    ap.add_argument("--out", type=Path, default=None, help="append the results table to this Markdown file")
    args = ap.parse_args()
    rows = []
    pairs: dict[int, list[tuple[dict[str, float], dict[str, float]]]] = {}
    for n in (args.docs,) if args.no_double else (args.docs, 2 * args.docs):
        pairs[n] = [run_once(n, args.workers, k) for k in range(args.repeats)]
        runs = [c for c, _ in pairs[n]]
        row = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "first"}
        row["tree_mib"] = max(r["tree_mib"] for r in runs)
        row["one_mib"] = max(r["one_mib"] for r in runs)
        rows.append(row)
    flag = " --no-double" if args.no_double else ""
    lines = [
        f"### Ingest -> export, JSON Lines of ~1 KB per document ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores)",
        "",
        f"Command: `python benchmarks/bench_backbone.py --docs {args.docs} --workers {args.workers} --repeats {args.repeats}{flag}`",
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
    lines += [
        "",
        f"Against the floor (`benchmarks/floor_jsonl_parquet.py --procs {args.workers}`: pyarrow reads the same JSON Lines "
        f"in {args.workers} processes and writes the same rows as zstd Parquet, no checks), each pair run side by side, "
        "the order alternating; CPU is user + system seconds of the whole process tree.",
        "",
        "| documents | run | first | curate wall s | floor wall s | wall ratio | curate CPU s | floor CPU s | CPU ratio "
        "| curate peak RSS (MiB) | floor peak RSS (MiB) |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, runs in pairs.items():
        for k, (c, f) in enumerate(runs, 1):
            lines.append(
                f"| {n:,} | {k} | {c['first']} | {c['wall']:.1f} | {f['wall']:.1f} | {c['wall'] / f['wall']:.2f} | "
                f"{c['cpu']:.1f} | {f['cpu']:.1f} | {c['cpu'] / f['cpu']:.2f} | {c['tree_mib']:,.0f} | {f['tree_mib']:,.0f} |"
            )
        med = statistics.median
        lines.append(
            f"| {n:,} | median | | {med(c['wall'] for c, _ in runs):.1f} | {med(f['wall'] for _, f in runs):.1f} | "
            f"{med(c['wall'] / f['wall'] for c, f in runs):.2f} | {med(c['cpu'] for c, _ in runs):.1f} | "
            f"{med(f['cpu'] for _, f in runs):.1f} | {med(c['cpu'] / f['cpu'] for c, f in runs):.2f} | "
            f"{max(c['tree_mib'] for c, _ in runs):,.0f} (max) | {max(f['tree_mib'] for _, f in runs):,.0f} (max) |"
        )
    emit(lines, args.out)


if __name__ == "__main__":
    main()
