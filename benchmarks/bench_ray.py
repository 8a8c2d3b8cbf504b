"""The full example pipeline on the local and the Ray engine, side by side (`make bench-ray`).

Generates N documents (cached under benchmarks/_work/ray-corpus-N/) by joining random sentences
of the shipped example corpus (the PostgreSQL manual), with planted exact and near copies, or
takes `--corpus GLOB` (JSON Lines with a `text` field). Runs the stages of configs/full.yaml
(exact and MinHash dedup, quality scoring with language ID, filter, augment, export) with each
engine in a subprocess, and checks that every run kept the same ids. Appends a table to
benchmarks/RESULTS.md with --out.

Timed rounds (``--runs``) run each command with nothing watching it, as a user's `time` does:
wall seconds and the CPU seconds of its reaped descendants (``wait4``; a Ray worker its raylet
never reaps is missed there). The engines alternate their order from round to round (local, Ray,
then Ray, local), since a command runs slower right after another one on this VM (pages its host
took back are slower to touch: benchmarks/RESULTS.md, issue 12, ninth round). Memory rounds
(``--memory-runs``, after them) run each engine again under a sampler of the whole process tree
(RSS every 100 ms; the process list costs ~5 CPU s a run and more for Ray's bigger tree), so their
wall times are reported apart and no ratio uses them.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _measure import emit
from _measure import timed as timed_run

HERE = Path(__file__).parent
REPO = HERE.parent
WORK = HERE / "_work"

STAGES = """\
stages:
  - {kind: exact_dedup}
  - {kind: minhash_dedup, threshold: 0.8, num_perm: 128, ngram: 5}
  - {kind: quality_score, heuristics: [gopher, c4, fineweb], langid: true}
  - kind: filter
    preset: gopher_repetition
    rules:
      english: "lang == 'en'"
      enough_words: "gopher_word_count >= 50"
  - {kind: augment, ops: [{op: typo, rate: 0.03}], fraction: 0.1, max_synthetic_fraction: 0.1}
"""


def sentence_pool() -> pl.Series:
    """Sentences of the shipped example corpus (at least 40 characters each)."""
    texts = []
    for path in sorted((REPO / "examples/corpus/manual").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                with contextlib.suppress(ValueError, AttributeError):
                    texts.append(str(json.loads(line).get("text") or ""))
    text = pl.Series(texts, dtype=pl.String)
    sentences = text.str.replace_all(r"\s+", " ").str.split(". ").explode().str.strip_chars()
    return sentences.filter(sentences.str.len_chars() >= 40).unique(maintain_order=True)


def generate(folder: Path, n: int, files: int = 8, per_doc: int = 8, seed: int = 0) -> Path:
    """N documents of `per_doc` random sentences; 2 % exact copies and 3 % near copies (one word added)."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "_n").is_file() and (folder / "_n").read_text() == str(n):
        return folder
    rng = np.random.default_rng(seed)
    pool = sentence_pool()
    picks = rng.integers(0, pool.len(), size=(n, per_doc))
    docs = pl.DataFrame({f"s{k}": pool.gather(picks[:, k]) for k in range(per_doc)}).select(
        pl.concat_str([pl.col(f"s{k}") for k in range(per_doc)], separator=". ").alias("text")
    )
    n_exact, n_near = n // 50, 3 * n // 100
    copies = rng.integers(0, n - n_exact - n_near, size=n_exact + n_near)
    source = docs["text"].gather(copies)
    planted = pl.concat([source[:n_exact], source[n_exact:] + " Indeed."])
    docs = pl.concat([docs.slice(0, n - n_exact - n_near), planted.to_frame("text")])
    docs = docs.with_columns(pl.Series("n", np.arange(n)))
    per = -(-n // files)
    for k in range(files):
        docs.slice(k * per, per).write_ndjson(folder / f"part-{k:02d}.jsonl")
    (folder / "_n").write_text(str(n))
    return folder


def write_config(inputs: str, engine: str, workers: int, langid_max_chars: int | None = None) -> Path:
    cfg = WORK / f"ray-bench-{engine}.yaml"
    stages = STAGES
    if langid_max_chars:
        stages = stages.replace("langid: true}", f"langid: true, langid_max_chars: {langid_max_chars}}}")
    cfg.write_text(
        f"input: {{paths: ['{inputs}']}}\n"
        f"workdir: {WORK}/ray-bench-run-{engine}\n"
        f"output: {{path: {WORK}/ray-bench-out-{engine}, overwrite: true, split: {{validation: 0.01}}}}\n"
        f"engine: {{kind: {engine}, workers: {workers}}}\n"
        "seed: 1234\n" + stages
    )
    return cfg


def run_engine(cfg: Path, n: int, engine: str, watched: bool) -> dict[str, Any]:
    """One run of the pipeline with ``engine``: timed (nothing watching) or watched (memory)."""
    cmd = [sys.executable, "-m", "curate", "run", str(cfg), "-q"]
    load = os.getloadavg()[0]
    if watched:
        wall, tree, one, user, system = measure_cpu(cmd, interval=0.1)
        mem = {"tree_mib": tree / 2**20, "one_mib": one / 2**20}
    else:
        wall, user, system = timed(cmd)
        mem = {}
    manifest = json.loads((WORK / f"ray-bench-run-{engine}" / "_run.json").read_text())
    steps = {s["stage"]: s["wall_seconds"] for s in manifest["steps"]}
    return {"engine": engine, "watched": watched, "wall": wall, "docs_s": n / wall, **mem,
            "cpu_user": user, "cpu_sys": system, "load_before": load, "load_after": os.getloadavg()[0],
            "out": manifest["totals"]["docs_out"], "ids": kept_ids(engine), **{f"t_{k}": v for k, v in steps.items()}}


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds and CPU seconds (user, system) of the reaped process tree of one run of
    ``cmd`` with nothing sampling it."""
    wall, usage = timed_run(cmd, REPO)
    return wall, usage.ru_utime, usage.ru_stime


def measure_cpu(cmd: list[str], interval: float = 0.1) -> tuple[float, int, int, float, float]:
    """``_measure.measure`` plus the CPU seconds (user, system) of the whole process tree: each
    process's last sampled times, so a process that ends between two samples loses at most one
    interval. On a shared machine CPU seconds compare runs better than walls (the wall of a
    2-process command grows with every other busy process; its CPU time much less)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    peak_tree = peak_one = 0
    cpu: dict[tuple[int, float], tuple[float, float]] = {}
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            rss = []
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error), p.oneshot():
                    rss.append(p.memory_info().rss)
                    t = p.cpu_times()
                    cpu[(p.pid, p.create_time())] = (t.user, t.system)
            peak_tree = max(peak_tree, sum(rss))
            peak_one = max(peak_one, max(rss, default=0))
        time.sleep(interval)
    if proc.returncode:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return (time.perf_counter() - t0, peak_tree, peak_one, sum(u for u, _ in cpu.values()), sum(s for _, s in cpu.values()))


def kept_ids(engine: str) -> int:
    """A digest of the sorted ids ``engine``'s run kept (compared across runs and engines)."""
    out = WORK / f"ray-bench-out-{engine}"
    ids = pl.read_parquet([*out.glob("train/*.parquet"), *out.glob("validation/*.parquet")], columns=["id"])["id"]
    return int(ids.sort().hash(seed=0).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--corpus", help="JSON Lines glob to use instead of the generated corpus")
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--out", type=Path, default=None, help="append the results table to this Markdown file")
    ap.add_argument("--runs", type=int, default=1, help="timed rounds (nothing watching) of each engine")
    ap.add_argument("--memory-runs", type=int, default=1, help="rounds of each engine with the process tree sampled")
    ap.add_argument("--langid-max-chars", type=int, default=None, help="language ID reads each text's first N characters")
    args = ap.parse_args()
    if args.corpus:
        inputs = args.corpus
        n = int(pl.scan_ndjson(inputs).select(pl.len()).collect().item())
    else:
        t0 = time.perf_counter()
        inputs = str(generate(WORK / f"ray-corpus-{args.docs}", args.docs) / "*.jsonl")
        n = args.docs
        print(f"corpus ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    engines = args.engines.split(",")
    configs = {e: write_config(inputs, e, args.workers, args.langid_max_chars) for e in engines}
    rows = []
    for k in range(args.runs):  # timed; the order alternates from round to round
        for engine in engines if k % 2 == 0 else engines[::-1]:
            rows.append(run_engine(configs[engine], n, engine, watched=False))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "ids"}), file=sys.stderr)
    for k in range(args.memory_runs):
        for engine in engines if k % 2 == 0 else engines[::-1]:
            rows.append(run_engine(configs[engine], n, engine, watched=True))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "ids"}), file=sys.stderr)
    same = len({r["ids"] for r in rows}) == 1
    size = sum(p.stat().st_size for p in Path(inputs).parent.glob(Path(inputs).name))
    timed_rows = [r for r in rows if not r["watched"]]
    watched_rows = [r for r in rows if r["watched"]]
    step_names = [k[2:] for k in rows[0] if k.startswith("t_")]
    med = statistics.median

    def of(engine: str, group: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in group if r["engine"] == engine]

    lines = [
        f"### Full example pipeline, local vs Ray ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores)",
        "",
        f"Command: `python benchmarks/bench_ray.py --docs {args.docs} --workers {args.workers} --engines {args.engines} "
        f"--runs {args.runs} --memory-runs {args.memory_runs}` ({n:,} documents, {size / 1e6:,.0f} MB of JSON Lines; "
        f"stages of configs/full.yaml). Same kept ids in every run and on every engine: {'yes' if same else 'NO'}.",
        "",
        f"Timed rounds (nothing watching; medians of {args.runs}, each run's wall in brackets, the order alternating):",
        "",
        "| engine | wall s | docs/s | CPU s user + system (reaped) | docs out | " + " | ".join(f"{s} s" for s in step_names) + " |",
        "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in step_names) + " |",
    ]
    for engine in engines:
        rs = of(engine, timed_rows)
        if not rs:
            continue
        walls = " / ".join(f"{r['wall']:.1f}" for r in rs)
        lines.append(
            f"| {engine} | {med(r['wall'] for r in rs):.1f} ({walls}) | {n / med(r['wall'] for r in rs):,.0f} | "
            f"{med(r['cpu_user'] for r in rs):.1f} + {med(r['cpu_sys'] for r in rs):.1f} | {rs[0]['out']:,.0f} | "
            + " | ".join(f"{med(r.get('t_' + s, float('nan')) for r in rs):.1f}" for s in step_names) + " |"
        )
    if len(engines) == 2 and of(engines[0], timed_rows) and of(engines[1], timed_rows):
        a, b = (of(e, timed_rows) for e in engines)
        pairs = " / ".join(f"{y['wall'] / x['wall']:.2f}" for x, y in zip(a, b, strict=False))
        lines += ["", f"{engines[1]} / {engines[0]}, median walls: **{med(r['wall'] for r in b) / med(r['wall'] for r in a):.2f}** "
                  f"(round by round: {pairs})."]
    if watched_rows:
        lines += [
            "",
            "Memory rounds (the process tree sampled every 100 ms; their walls include the sampler's cost):",
            "",
            "| engine | wall s | CPU s user + system (sampled) | load before / after | peak RSS, all processes (MiB) | peak RSS, largest process (MiB) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in watched_rows:
            lines.append(
                f"| {r['engine']} | {r['wall']:.1f} | {r['cpu_user']:.1f} + {r['cpu_sys']:.1f} | "
                f"{r['load_before']:.1f} / {r['load_after']:.1f} | {r['tree_mib']:,.0f} | {r['one_mib']:,.0f} |"
            )
    emit(lines, args.out)
    if not same:
        raise SystemExit("the runs kept different ids")

if __name__ == "__main__":
    main()
