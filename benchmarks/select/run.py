"""Data selection, measured as users run it: which selection trains the best model of a target domain?

Target domain: the PostgreSQL manual in the shared real text (``--corpus``, default
``../shared/data/real_docs.parquet``). Its documents are split by a seeded hash into a target
sample (what a user gives as "data like what I want"), a held-out test part (never seen by any
method), and target-like documents mixed into a pool with every other source (perl and GNU
manuals, Debian changelogs and copyright files).

Every step is the command a user types, run as a subprocess: ``curate tokens`` (cl100k counts),
``curate train-classifier`` + ``curate score --fasttext`` (a fastText classifier, target sample
against a random pool sample, DCLM-style), ``curate dsir``, ``curate learnability`` (static, and
online once per budget), then ``curate select --unit tokens --budget`` per method and budget.

Metric: a fixed-size word trigram LM (:class:`curate.select.ngram_lm.NgramModel`, 2**22 buckets
per table, its own hash seed, so not the learnability models' tables) trained on each selection;
its cross-entropy in bits per word on the held-out test part (lower is better); also the unigram
cross-entropy and the selection's share of target documents. Budgets are shares of the pool's
tokens; the achieved share is reported (quota: within 0.5 % below the budget).

    python benchmarks/select/run.py --out benchmarks/select/RESULTS-select.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
CURATE = str(ROOT / ".venv" / "bin" / "curate")
TARGET_SOURCE = "postgresql_docs"


def run(args: list[str], cwd: Path) -> float:
    """Run a curate command like a user; its wall seconds."""
    t0 = time.perf_counter()
    proc = subprocess.run([CURATE, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"curate {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - t0


def build(corpus: Path, work: Path, seed: int) -> dict[str, int]:
    """target.jsonl, test.parquet, pool.parquet and negatives.jsonl under ``work``."""
    from curate.hashing import hash_strings

    docs = pl.read_parquet(corpus, columns=["id", "text", "source"])
    docs = docs.with_columns(pl.Series("_h", hash_strings(docs["id"], seed) % np.uint64(4)).cast(pl.Int64))
    target_docs = docs.filter(pl.col("source") == TARGET_SOURCE)
    target = target_docs.filter(pl.col("_h") == 0)
    test = target_docs.filter(pl.col("_h") == 1)
    pool = pl.concat([docs.filter(pl.col("source") != TARGET_SOURCE), target_docs.filter(pl.col("_h") >= 2)])
    pool = pool.with_columns(pl.Series("_o", hash_strings(pool["id"], seed + 1))).sort("_o").drop("_o", "_h")
    work.mkdir(parents=True, exist_ok=True)
    target.select("text").write_ndjson(work / "target.jsonl")
    test.select("id", "text").write_parquet(work / "test.parquet")
    pool.write_parquet(work / "pool.parquet")
    negatives = pool.sample(n=target.height, seed=seed)
    negatives.select("text").write_ndjson(work / "negatives.jsonl")
    return {"target": target.height, "test": test.height, "pool": pool.height,
            "pool_target_like": int((pool["source"] == TARGET_SOURCE).sum())}


def read_out(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(folder.glob("*.parquet")))


def evaluate(selected: pl.DataFrame, test: pl.DataFrame, seed: int) -> dict[str, float]:
    """Held-out cross-entropy (bits per word) of trigram and unigram LMs trained on a selection."""
    from curate.select.ngram_lm import NgramModel, word_ids

    texts = selected["text"]
    repeats = selected["select_repeats"].to_numpy() if "select_repeats" in selected.columns else np.ones(len(texts), dtype=np.int64)
    out: dict[str, float] = {}
    test_offsets, test_ids, _ = word_ids(test["text"], seed)
    for name, order in (("ce3", 3), ("ce1", 1)):
        model = NgramModel(order=order, vocab_bits=20, table_bits=22)
        for start in range(0, len(texts), 20_000):
            offsets, ids, _ = word_ids(texts.slice(start, 20_000), seed)
            reps = repeats[start : start + 20_000]
            for r in range(1, int(reps.max(initial=1)) + 1):
                keep = reps >= r
                if not keep.any():
                    continue
                doc = np.repeat(np.arange(len(keep)), np.diff(offsets))
                lens = np.diff(offsets)[keep]
                sub = np.zeros(len(lens) + 1, dtype=np.int64)
                np.cumsum(lens, out=sub[1:])
                model.add(ids[keep[doc]], sub)
        out[name] = float(-model.log2_probs(test_ids, test_offsets).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "data" / "real_docs.parquet")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "select")
    ap.add_argument("--budgets", default="0.01,0.05,0.2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, help="append the tables here (e.g. benchmarks/select/RESULTS-select.md)")
    a = ap.parse_args()
    work = a.work
    if work.exists():
        import shutil

        shutil.rmtree(work)
    sizes = build(a.corpus, work, a.seed)
    w = ["-w", str(a.workers), "-q"]
    timings: dict[str, float] = {}
    timings["tokens"] = run(["tokens", "pool.parquet", "-o", "tok", *w], work)
    timings["train_classifier"] = run(["train-classifier", "-p", "target.jsonl", "-n", "negatives.jsonl", "-o", "target_clf.bin", "--seed", str(a.seed)], work)
    timings["score_fasttext"] = run(["score", "tok", "-o", "ft", "--heuristics", "", "--fasttext", "target=target_clf.bin", *w], work)
    timings["dsir"] = run(["dsir", "ft", "-o", "ds", "--target", "target.jsonl", "--seed", str(a.seed), *w], work)
    timings["learnability_static"] = run(["learnability", "ds", "-o", "ls", "--target", "target.jsonl", "--seed", str(a.seed), *w], work)
    pool = read_out(work / "ls")
    total_tokens = int(pool["token_count"].sum())
    test = pl.read_parquet(work / "test.parquet")
    budgets = [float(b) for b in a.budgets.split(",")]
    methods = {
        "random": [],
        "fastText top-k": ["--score", "fasttext_target", "--method", "top_k"],
        "DSIR (importance resampling)": ["--score", "dsir_score", "--method", "gumbel", "--weight", "exp"],
        "learnability static (top-k)": ["--score", "learnability", "--method", "top_k"],
        "learnability online (JEST)": ["--score", "learnability_kept * 1000 + learnability", "--method", "top_k"],
    }
    rows = []
    for budget in budgets:
        tokens = int(round(budget * total_tokens))
        online = f"lo_{budget}"
        timings[f"learnability_online_{budget}"] = run(
            ["learnability", "ds", "-o", online, "--target", "target.jsonl", "--mode", "online", "--keep-fraction", str(budget), "--seed", str(a.seed), *w], work
        )
        for m, (name, extra) in enumerate(methods.items()):
            src = online if "online" in name else "ls"
            dst = f"sel_{m}_{budget}"
            run(["select", src, "-o", dst, "--unit", "tokens", "--budget", str(tokens), "--seed", str(a.seed), *extra, *w], work)
            sel = read_out(work / dst)
            achieved = int((sel["token_count"] * sel.get_column("select_repeats")).sum()) if "select_repeats" in sel.columns else int(sel["token_count"].sum())
            ce = evaluate(sel, test, a.seed + 7)
            rows.append({"budget": budget, "method": name, "docs": sel.height, "tokens": achieved, "target_tokens": tokens,
                         "target_share": float((sel["source"] == TARGET_SOURCE).mean()), **ce})
            print(json.dumps(rows[-1]), flush=True)
    report(rows, sizes, total_tokens, timings, pool.height, a.out)


def report(rows: list[dict], sizes: dict[str, int], total_tokens: int, timings: dict[str, float], n: int, out: Path | None) -> None:
    lines = [
        "## Selection towards a target domain (`make bench-select`)",
        "",
        f"Pool: {sizes['pool']:,} real documents ({total_tokens:,} cl100k tokens), of which {sizes['pool_target_like']:,} from the "
        f"PostgreSQL manual; target sample given to the methods: {sizes['target']:,} manual documents; held-out test: "
        f"{sizes['test']:,} other manual documents. Metric: bits per word on the held-out test of a word trigram "
        "(CE3) and unigram (CE1) LM trained on each selection (lower is better); Δ = relative to random at the same budget.",
        "",
        "| budget | method | docs | tokens (of budget) | target share | CE3 | Δ CE3 vs random | CE1 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        base = next(x for x in rows if x["budget"] == r["budget"] and x["method"] == "random")
        delta = (r["ce3"] - base["ce3"]) / base["ce3"]
        lines.append(
            f"| {r['budget']:.0%} | {r['method']} | {r['docs']:,} | {r['tokens']:,} ({r['tokens'] / r['target_tokens']:.4f}) | "
            f"{r['target_share']:.3f} | {r['ce3']:.3f} | {delta:+.1%} | {r['ce1']:.3f} |"
        )
    lines += ["", "Whole commands (wall seconds, subprocess, 2 workers; the machine is shared):", "",
              "| command | s | docs/s |", "| --- | ---: | ---: |"]
    for k, v in timings.items():
        lines.append(f"| {k} | {v:.1f} | {n / v:,.0f} |" if k != "train_classifier" else f"| {k} | {v:.1f} | |")
    from _measure import emit

    emit(lines, out)


if __name__ == "__main__":
    main()
