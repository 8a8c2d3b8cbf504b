"""Scoring throughput: heuristic signals, a fastText model and language ID, vs datatrove's filters.

Runs on one core (POLARS_MAX_THREADS=1, fastText thread=1) so figures are per core.
Usage (see RESULTS-quality.md):
  .venv/bin/python benchmarks/quality/throughput.py --corpus real_docs.parquet --docs 100000 \
      --datatrove-python /tmp/dtvenv/bin/python --dt-docs 3000
Without --corpus it generates a synthetic corpus (so it runs anywhere).
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402

from curate.quality.heuristics import SIGNALS, compute_signals  # noqa: E402

HERE = Path(__file__).parent


def synthetic(n: int, seed: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    words = ["the", "of", "and", "to", "in", "data", "model", "text", "quality", "filter", "line", "word", "page", "a", "is", "for", "with"]
    docs = []
    for i in range(n):
        lines = [" ".join(rng.choices(words, k=rng.randint(3, 18))) + rng.choice([".", "", "!", ":"])
                 for _ in range(rng.randint(1, 30))]
        docs.append({"id": f"{i:08d}", "text": "\n".join(lines), "source": "synthetic"})
    return pl.DataFrame(docs)


def load(corpus: str | None, n: int) -> pl.DataFrame:
    if corpus is None:
        return synthetic(n)
    df = pl.read_parquet(corpus, columns=["id", "text", "source"])
    reps = -(-n // df.height)
    out = pl.concat([df] * reps).head(n)
    return out.with_columns(pl.format("{}-{}", pl.col("id"), pl.int_range(pl.len())).alias("id"))


def time_heuristics(text: pl.Series, batch: int, families: list[str]) -> float:
    t0 = time.perf_counter()
    for start in range(0, text.len(), batch):
        compute_signals(text.slice(start, batch), families)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", help="Parquet with id, text, source (default: synthetic)")
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=10_000, help="documents per batch (a shard)")
    ap.add_argument("--datatrove-python", help="python of a venv with datatrove[processing] + spacy")
    ap.add_argument("--dt-docs", type=int, default=3000, help="documents timed with datatrove")
    ap.add_argument("--skip-fasttext", action="store_true")
    args = ap.parse_args()

    docs = load(args.corpus, args.docs)
    text = docs["text"]
    mb = text.str.len_bytes().sum() / 1e6
    print(f"corpus: {docs.height:,} docs, {mb:.1f} MB of text; polars threads "
          f"{os.environ['POLARS_MAX_THREADS']}")
    compute_signals(text.head(200), list(SIGNALS))  # compile kernels, build char tables

    rows = []
    for fams in (["gopher_quality"], ["gopher_repetition"], ["c4"], ["fineweb"], list(SIGNALS)):
        sec = time_heuristics(text, args.batch, fams)
        label = "+".join(fams) if len(fams) == 1 else "all heuristic families"
        rows.append((label, docs.height, sec))
        print(f"curate {label}: {sec:.2f} s, {docs.height / sec:,.0f} docs/s, {mb / sec:.1f} MB/s")

    if not args.skip_fasttext:
        from curate.quality.fasttext_model import FastTextScorerModel, train_classifier

        pos = docs.filter(pl.col("source") != "debian_changelog")["text"].head(3000).to_list()
        neg = docs.filter(pl.col("source") == "debian_changelog")["text"].head(3000).to_list()
        if len(pos) < 10 or len(neg) < 10:
            pos, neg = text.head(3000).to_list(), text.tail(3000).to_list()
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            rep = train_classifier(pos, neg, Path(tmp) / "hq.bin", thread=1, epoch=5, dim=64)
            print(f"fastText train ({rep.n_train} docs, dim 64, bigrams): {time.perf_counter() - t0:.1f} s; "
                  f"valid precision {rep.precision:.3f} recall {rep.recall:.3f} AUC {rep.roc_auc:.3f}")
            scorer = FastTextScorerModel(Path(tmp) / "hq.bin")
            t0 = time.perf_counter()
            scorer.score(text, 4096)
            sec = time.perf_counter() - t0
            rows.append(("fastText scorer", docs.height, sec))
            print(f"curate fastText scorer: {sec:.2f} s, {docs.height / sec:,.0f} docs/s")
        try:
            from curate.quality.langid import LanguageIdentifier

            sub = text.head(10_000)
            for backend, label in (("fasttext", "fastText lid.176.ftz, shipped"), ("py3langid", "py3langid kernel")):
                lid = LanguageIdentifier(backend=backend)
                lid.identify(sub.head(64))  # numba: compile or load from the cache
                t0 = time.perf_counter()
                lid.identify(sub)
                sec = time.perf_counter() - t0
                print(f"curate langid ({label}): {sec:.2f} s, {sub.len() / sec:,.0f} docs/s")
        except ImportError:
            pass

    if args.datatrove_python:
        sub = docs.head(args.dt_docs)
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "sub.parquet", Path(tmp) / "dt.parquet"
            sub.write_parquet(src)
            proc = subprocess.run(
                [args.datatrove_python, str(HERE / "datatrove_side.py"), str(src), str(dst)],
                capture_output=True, text=True, check=True,
            )
        print(proc.stdout.strip())
        m = re.search(r"datatrove all four: ([\d.]+) s", proc.stdout)
        dt_sec = float(m.group(1)) if m else float("nan")
        ours = time_heuristics(sub["text"], args.batch, list(SIGNALS))
        print(f"same {sub.height} docs: curate all families {ours:.2f} s "
              f"({sub.height / ours:,.0f} docs/s) vs datatrove Gopher+C4+FineWeb {dt_sec:.2f} s "
              f"({sub.height / dt_sec:,.0f} docs/s): {dt_sec / ours:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
