"""What the report (and the diff against the release it replaces) adds to a run.

Runs ``curate run`` on N generated documents (bench_backbone's corpus, ~1 KB each) twice into the
same output: the first run has no previous release, the second diffs against the first. Each
run records ``report_seconds`` (collect + diff + gates + both writes of report.json/html) in its
report.json; the overhead is report_seconds / (run wall - report_seconds). Then ``build_report``
and ``render`` alone on the final release, ``--repeats`` times in this process (median).

    .venv/bin/python benchmarks/reporting/bench_report.py --docs 1000000 --stages quality
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench_backbone import generate  # noqa: E402

STAGES = {
    "none": [],
    "quality": [
        {"kind": "exact_dedup"},
        {"kind": "quality_score", "heuristics": ["gopher"]},
        {"kind": "filter", "rules": {"enough_words": "gopher_word_count >= 50", "few_symbols": "gopher_hash_ratio <= 0.1"}},
    ],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--stages", choices=sorted(STAGES), default="quality")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", type=Path, default=HERE.parent / "_work")
    args = ap.parse_args()
    corpus = generate(args.work / f"corpus-{args.docs}", args.docs)
    out, workdir = args.work / f"report-out-{args.docs}-{args.stages}", args.work / f"report-run-{args.docs}-{args.stages}"
    cfg = {
        "input": {"sources": [{"paths": [str(p) for p in corpus]}]},
        "workdir": str(workdir),
        "output": {"path": str(out), "overwrite": True},
        "engine": {"workers": args.workers},
        "stages": STAGES[args.stages],
    }
    config = args.work / f"report-{args.docs}-{args.stages}.yaml"
    config.write_text(json.dumps(cfg))
    curate = Path(sys.executable).with_name("curate")
    shutil.rmtree(out, ignore_errors=True)  # the first run has no previous release
    print(f"{args.docs:,} documents, stages: {args.stages}, {args.workers} workers")
    print("| run | run wall s | report s | overhead | sampled rows |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label in ("first (no previous release)", "second (diff against the first)"):
        t0 = time.monotonic()
        subprocess.run([str(curate), "run", str(config), "-q"], check=True)
        wall = time.monotonic() - t0
        report = json.loads((out / "report.json").read_text())
        r = report["report_seconds"]
        print(f"| {label} | {wall:.1f} | {r:.2f} | {100 * r / (wall - r):.2f} % | {report['sample'].get('rows', 0):,} |")
    from curate.reporting.collect import build_report
    from curate.reporting.folders import open_folder
    from curate.reporting.html import render

    times = []
    for _ in range(args.repeats):
        t0 = time.monotonic()
        render(build_report(open_folder(out)))
        times.append(time.monotonic() - t0)
    print(f"\nbuild_report + render alone on the release: median {statistics.median(times):.2f} s of {args.repeats}")


if __name__ == "__main__":
    main()
