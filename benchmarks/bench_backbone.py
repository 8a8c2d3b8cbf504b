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


def run_curate(n: int, workers: int, src: Path | None = None) -> dict[str, float]:
    """``curate run`` with no stages (ingest, then export); with ``src``, curate imported from that
    source folder (PYTHONPATH: the package as an earlier commit had it) instead of this checkout."""
    corpus = WORK / f"corpus-{n}"
    tag = "-before" if src else ""
    cfg = WORK / f"bench-{n}{tag}.yaml"
    cfg.write_text(
        f"input: {{paths: ['{corpus}/*.jsonl']}}\n"
        f"workdir: {WORK}/run-{n}{tag}\n"
        f"output: {{path: {WORK}/out-{n}{tag}, overwrite: true}}\n"
        f"engine: {{workers: {workers}}}\n"
    )
    if src:
        os.environ["PYTHONPATH"] = str(src.resolve())
    try:
        wall, cpu, tree, one = timed([sys.executable, "-m", "curate", "run", str(cfg), "-q"])
    finally:
        os.environ.pop("PYTHONPATH", None)
    manifest = json.loads((WORK / f"run-{n}{tag}" / "_run.json").read_text())
    steps = {s["stage"]: s["wall_seconds"] for s in manifest["steps"]}
    size = sum(p.stat().st_size for p in corpus.glob("*.jsonl"))
    return {"docs": n, "workers": workers, "mb": size / 1e6, "wall": wall, "cpu": cpu, "ingest": steps["ingest"],
            "export": steps["export"], "docs_s": n / wall, "tree_mib": tree / 2**20, "one_mib": one / 2**20}


def run_floor(n: int, procs: int) -> dict[str, float]:
    files = sorted(str(p) for p in (WORK / f"corpus-{n}").glob("*.jsonl"))
    cmd = [sys.executable, str(HERE / "floor_jsonl_parquet.py"), "-o", str(WORK / f"floor-{n}"), "--procs", str(procs), *files]
    wall, cpu, tree, one = timed(cmd)
    return {"wall": wall, "cpu": cpu, "tree_mib": tree / 2**20, "one_mib": one / 2**20}


Run = dict[str, float]


def run_once(n: int, workers: int, k: int, before: Path | None) -> tuple[Run, Run, Run | None]:
    """One curate run, one floor run (and one run of the ``before`` tree), side by side; the
    order rotates run by run (curate first on run 0, the floor first on run 1, ...)."""
    generate(WORK / f"corpus-{n}", n)
    jobs = {"curate": lambda: run_curate(n, workers), "floor": lambda: run_floor(n, workers)}
    if before:
        jobs["before"] = lambda: run_curate(n, workers, before)
    names = list(jobs)
    order = names[k % len(names) :] + names[: k % len(names)]
    res = {name: jobs[name]() for name in order}
    res["curate"]["first"] = order[0]  # type: ignore[assignment]
    return res["curate"], res["floor"], res.get("before")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeats", type=int, default=3, help="runs per size; the table shows medians")
    ap.add_argument("--no-double", action="store_true", help="skip the run with 2N documents (the memory-flat check)")
    ap.add_argument(
        "--before-src", type=Path, default=None,
        help="also time curate imported from this source folder (e.g. `git archive REV src | tar -x -C /tmp/before`, "
        "then /tmp/before/src, with the built kernels copied in), in the same rotation",
    )
    ap.add_argument("--out", type=Path, default=None, help="append the results table to this Markdown file")
    args = ap.parse_args()
    rows = []
    pairs: dict[int, list[tuple[Run, Run]]] = {}
    befores: dict[int, list[Run | None]] = {}
    for n in (args.docs,) if args.no_double else (args.docs, 2 * args.docs):
        triples = [run_once(n, args.workers, k, args.before_src) for k in range(args.repeats)]
        pairs[n] = [(c, f) for c, f, _ in triples]
        befores[n] = [b for _, _, b in triples]
        runs = [c for c, _ in pairs[n]]
        row = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "first"}
        row["tree_mib"] = max(r["tree_mib"] for r in runs)
        row["one_mib"] = max(r["one_mib"] for r in runs)
        rows.append(row)
    flag = (" --no-double" if args.no_double else "") + (f" --before-src {args.before_src}" if args.before_src else "")
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
    if args.before_src:
        lines += [
            "",
            f"Before (curate from `{args.before_src}`) and after (this checkout), in the same rotation as the floor:",
            "",
            "| documents | run | before wall s | after wall s | before CPU s | after CPU s | CPU after / before "
            "| before CPU / floor CPU | before peak RSS (MiB) | after peak RSS (MiB) |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for n, runs in pairs.items():
            trio = [(b, c, f) for (c, f), b in zip(runs, befores[n], strict=True) if b is not None]
            for k, (b, c, f) in enumerate(trio, 1):
                lines.append(
                    f"| {n:,} | {k} | {b['wall']:.1f} | {c['wall']:.1f} | {b['cpu']:.1f} | {c['cpu']:.1f} | {c['cpu'] / b['cpu']:.2f} | "
                    f"{b['cpu'] / f['cpu']:.2f} | {b['tree_mib']:,.0f} | {c['tree_mib']:,.0f} |"
                )
            med = statistics.median
            lines.append(
                f"| {n:,} | median | {med(b['wall'] for b, _, _ in trio):.1f} | {med(c['wall'] for _, c, _ in trio):.1f} | "
                f"{med(b['cpu'] for b, _, _ in trio):.1f} | {med(c['cpu'] for _, c, _ in trio):.1f} | "
                f"{med(c['cpu'] / b['cpu'] for b, c, _ in trio):.2f} | {med(b['cpu'] / f['cpu'] for b, _, f in trio):.2f} | "
                f"{max(b['tree_mib'] for b, _, _ in trio):,.0f} (max) | {max(c['tree_mib'] for _, c, _ in trio):,.0f} (max) |"
            )
    emit(lines, args.out)


if __name__ == "__main__":
    main()
