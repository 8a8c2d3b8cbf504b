"""The full example pipeline on the local and the Ray engine, side by side (`make bench-ray`).

Generates N documents (cached under benchmarks/_work/ray-corpus-N/) by joining random sentences
of the shipped example corpus (the PostgreSQL manual), with planted exact and near copies, or
takes `--corpus GLOB` (JSON Lines with a `text` field). Runs the stages of configs/full.yaml
(exact and MinHash dedup, quality scoring with language ID, filter, augment, export) with each
engine in a subprocess, samples the resident memory of the whole process tree every 100 ms, and
checks that both engines kept the same ids. Appends a table to benchmarks/RESULTS.md with --out.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from _measure import emit

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


def run_engine(inputs: str, n: int, engine: str, workers: int, langid_max_chars: int | None = None) -> dict[str, float]:
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
    env_cmd = [sys.executable, "-m", "curate", "run", str(cfg), "-q"]
    load = os.getloadavg()[0]
    wall, tree, one, user, system = measure_cpu(env_cmd, interval=0.1)
    manifest = json.loads((WORK / f"ray-bench-run-{engine}" / "_run.json").read_text())
    steps = {s["stage"]: s["wall_seconds"] for s in manifest["steps"]}
    return {"engine": engine, "wall": wall, "docs_s": n / wall, "tree_mib": tree / 2**20, "one_mib": one / 2**20,
            "cpu_user": user, "cpu_sys": system, "load_before": load, "load_after": os.getloadavg()[0],
            "out": manifest["totals"]["docs_out"], **{f"t_{k}": v for k, v in steps.items()}}


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


def kept_ids(engine: str) -> list[str]:
    out = WORK / f"ray-bench-out-{engine}"
    return sorted(pl.read_parquet([*out.glob("train/*.parquet"), *out.glob("validation/*.parquet")])["id"].to_list())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--corpus", help="JSON Lines glob to use instead of the generated corpus")
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--out", type=Path, default=None, help="append the results table to this Markdown file")
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
    rows = []
    for engine in args.engines.split(","):
        rows.append(run_engine(inputs, n, engine, args.workers, args.langid_max_chars))
        print(json.dumps(rows[-1]), file=sys.stderr)
    same = len({tuple(kept_ids(r["engine"])) for r in rows}) == 1
    size = sum(p.stat().st_size for p in Path(inputs).parent.glob(Path(inputs).name))
    step_names = [k[2:] for k in rows[0] if k.startswith("t_")]
    lines = [
        f"### Full example pipeline, local vs Ray ({datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores)",
        "",
        f"Command: `python benchmarks/bench_ray.py --docs {args.docs} --workers {args.workers}` "
        f"({n:,} documents, {size / 1e6:,.0f} MB of JSON Lines; stages of configs/full.yaml). "
        f"Same kept ids on both engines: {'yes' if same else 'NO'}.",
        "",
        "| engine | wall s | docs/s | CPU s user + system | load before / after | peak RSS, all processes (MiB) | "
        "peak RSS, largest process (MiB) | docs out | " + " | ".join(f"{s} s" for s in step_names) + " |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in step_names) + " |",
    ]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['wall']:.1f} | {r['docs_s']:,.0f} | {r['cpu_user']:.1f} + {r['cpu_sys']:.1f} | "
            f"{r['load_before']:.1f} / {r['load_after']:.1f} | {r['tree_mib']:,.0f} | {r['one_mib']:,.0f} | {r['out']:,.0f} | "
            + " | ".join(f"{r.get('t_' + s, float('nan')):.1f}" for s in step_names) + " |"
        )
    emit(lines, args.out)


if __name__ == "__main__":
    main()
