"""Whole-command cost of two curate installs, side by side (the runner redesign: old vs new).

Times what a user times: each `curate ...` command as a subprocess, wall seconds and the peak
resident memory summed over its process tree (sampled every 50 ms, benchmarks/_measure.py), the
two installs alternating run by run on the same corpus. Scenarios:

  run    `curate run CONFIG`: ingest (Parquet) -> exact_dedup -> export (Parquet), workers 2
  dedup  `curate dedup CORPUS.parquet -o OUT` (exact + MinHash, defaults)
  chain  `curate ingest CORPUS.jsonl -o A && curate dedup A -o B && curate export B -o C`
         (wall: the three together; RSS: the largest of the three)

Every run gets fresh, empty folders (removed after, outside the timing). After the runs it checks
that both installs kept the same ids in each scenario's final output.

    python benchmarks/bench_runner.py --old-python /tmp/oldvenv/bin/python \
        --new-python .venv/bin/python --corpus corpus.parquet [--corpus-jsonl corpus.jsonl] \
        [--runs 3] [--scenarios run,dedup,chain] [--out benchmarks/RESULTS.md]

The corpus is Parquet with `id` (unique) and `text`; the JSON Lines copy for `chain` is written
next to the work folder when --corpus-jsonl is not given.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from _measure import emit, measure

CONFIG = """\
input:
  sources:
    - {{paths: ["{corpus}"]}}
workdir: {work}/wd
output: {{path: {work}/out, format: parquet, overwrite: true}}
engine: {{workers: 2}}
seed: 1234
stages:
  - {{kind: exact_dedup}}
"""


def curate_cmd(python: str) -> list[str]:
    """The `curate` console script beside the interpreter (what users type), else `python -m curate`."""
    python = str(Path(python).absolute())
    script = Path(python).parent / "curate"
    return [str(script)] if script.exists() else [python, "-m", "curate"]


def scenario_commands(name: str, curate: list[str], corpus: Path, jsonl: Path, work: Path):
    """The commands of one scenario, run one after the other, and the folders whose kept ids are compared."""
    if name == "run":
        cfg = work / "pipeline.yaml"
        cfg.write_text(CONFIG.format(corpus=corpus, work=work))
        return [[*curate, "run", str(cfg), "-q"]], {"out": work / "out"}
    if name == "dedup":
        return [[*curate, "dedup", str(corpus), "-o", str(work / "B"), "-q"]], {"B": work / "B"}
    if name == "chain":
        return [
            [*curate, "ingest", str(jsonl), "-o", str(work / "A"), "-q"],
            [*curate, "dedup", str(work / "A"), "-o", str(work / "B"), "-q"],
            [*curate, "export", str(work / "B"), "-o", str(work / "C"), "-q"],
        ], {"B": work / "B", "C": work / "C"}
    raise SystemExit(f"unknown scenario {name}")


def kept_ids(folder: Path) -> list[str]:
    """Ids of the data files of a curate output folder (never its rejected/ set)."""
    ids: list[str] = []
    for f in sorted(folder.rglob("*.parquet")):
        rel = f.relative_to(folder).parts
        if any(p == "rejected" or p.startswith(("_", ".")) for p in rel):
            continue
        ids.extend(pq.read_table(f, columns=["id"]).column("id").to_pylist())
    return sorted(ids)


def one_run(name, label, python, corpus, jsonl, root, keep_ids):
    work = Path(tempfile.mkdtemp(prefix=f"{label}-{name}-", dir=root))
    cmds, result = scenario_commands(name, curate_cmd(python), corpus, jsonl, work)
    wall, peak_tree, peak_one = 0.0, 0, 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for cmd in cmds:
        w, t, o = measure(cmd, cwd=work)
        wall += w
        peak_tree, peak_one = max(peak_tree, t), max(peak_one, o)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the whole tree (every waited-for descendant): steadier than wall on a busy machine
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ids = {k: kept_ids(v) for k, v in result.items()} if keep_ids else None
    shutil.rmtree(work)
    return wall, peak_tree, peak_one, cpu, ids, cmds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old-python", required=True)
    ap.add_argument("--new-python", required=True)
    ap.add_argument("--corpus", required=True, type=Path, help="Parquet corpus (id, text)")
    ap.add_argument("--corpus-jsonl", type=Path, help="the same corpus as JSON Lines (default: written)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenarios", default="run,dedup,chain")
    ap.add_argument("--work", type=Path, default=Path(__file__).parent / "_work" / "runner")
    ap.add_argument("--out", type=Path, help="append the table to this file (benchmarks/RESULTS.md)")
    ap.add_argument("--json", type=Path, help="write every run's numbers here")
    args = ap.parse_args()

    corpus = args.corpus.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    jsonl = args.corpus_jsonl
    if jsonl is None:
        jsonl = args.work / (corpus.stem + ".jsonl")
        if not jsonl.exists():
            import polars as pl

            pl.read_parquet(corpus).write_ndjson(jsonl)
    jsonl = jsonl.resolve()
    n_docs = pq.read_metadata(corpus).num_rows
    installs = {"old": args.old_python, "new": args.new_python}
    rows, raw, cmds_seen = [], {}, {}
    for name in args.scenarios.split(","):
        res = {k: [] for k in installs}
        ids = {}
        for i in range(args.runs):
            # alternate which install goes first, so drift on a noisy machine hits both
            order = ["old", "new"] if i % 2 == 0 else ["new", "old"]
            for label in order:
                wall, tree, one, cpu, kept, cmds = one_run(
                    name, label, installs[label], corpus, jsonl, args.work, keep_ids=(i == 0)
                )
                if kept is not None:
                    ids[label] = kept
                cmds_seen[name] = cmds
                res[label].append((wall, tree, one, cpu))
                print(f"{name} {label} run {i + 1}: {wall:.2f} s, {cpu:.2f} CPU s, {tree / 2**20:.0f} MiB tree, "
                      f"{one / 2**20:.0f} MiB largest", file=sys.stderr, flush=True)
        parts = []
        for folder in ids["new"]:
            o, n = ids["old"][folder], ids["new"][folder]
            parts.append(f"{folder}: yes" if o == n else (
                f"{folder}: NO (old {len(o):,}, new {len(n):,}, only old {len(set(o) - set(n)):,}, "
                f"only new {len(set(n) - set(o)):,})"
            ))
        same = all(ids["old"][f] == ids["new"][f] for f in ids["new"])
        agree = "; ".join(parts)
        final = list(ids["new"])[-1]
        med = {k: [statistics.median(x[j] for x in v) for j in range(4)] for k, v in res.items()}
        raw[name] = {
            "runs": res,
            "kept": {k: {f: len(x) for f, x in v.items()} for k, v in ids.items()},
            "same_ids": same,
        }
        rows.append(
            f"| {name} | {med['old'][0]:.2f} | {med['new'][0]:.2f} | {med['new'][0] / med['old'][0]:.3f} "
            f"| {min(x[0] for x in res['old']):.2f}-{max(x[0] for x in res['old']):.2f} "
            f"| {min(x[0] for x in res['new']):.2f}-{max(x[0] for x in res['new']):.2f} "
            f"| {med['old'][3]:.1f} | {med['new'][3]:.1f} | {med['new'][3] / med['old'][3]:.3f} "
            f"| {med['old'][1] / 2**20:.0f} | {med['new'][1] / 2**20:.0f} | {med['new'][1] / med['old'][1]:.3f} "
            f"| {med['old'][2] / 2**20:.0f} | {med['new'][2] / 2**20:.0f} "
            f"| {len(ids['new'][final]):,} | {agree} |"
        )
    lines = [
        f"Corpus: {corpus.name}, {n_docs:,} documents; {args.runs} runs per install per scenario, "
        "alternating; medians.",
        "",
        "| scenario | old wall s | new wall s | new/old wall | old range s | new range s "
        "| old CPU s | new CPU s | new/old CPU | old peak RSS tree MiB | new peak RSS tree MiB | new/old RSS | old largest proc MiB "
        "| new largest proc MiB | kept ids (new, final folder) | same kept ids as old |",
        "| --- |" + " ---: |" * 14 + " --- |",
        *rows,
    ]
    emit(lines, args.out)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))
    for name, cmds in cmds_seen.items():
        print(name + ": " + " && ".join(" ".join(c) for c in cmds), file=sys.stderr)


if __name__ == "__main__":
    main()
