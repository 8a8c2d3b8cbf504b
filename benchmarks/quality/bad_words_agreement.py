"""bad_words against datatrove's C4BadWordsFilter on real documents, with the same local word list.

datatrove downloads its lists; here its filter is given a local file instead (its download helper
is replaced in its own process), so both sides match the same words with their own code. The list
is made of words common in the corpus (the corpus has few profanities), with phrases and words
holding non-word characters, so that the boundary rules are exercised on many documents.

  .venv/bin/python benchmarks/quality/bad_words_agreement.py --corpus ../shared/data/real_docs.parquet \
      --docs 20000 --datatrove-python /tmp/dtvenv/bin/python
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from curate.stages.bad_words import BadWords, BadWordsConfig
from curate.stages.base import REJECT, StageContext

WORDS = ["perl", "debian", "c++", "gnu", "upstream release", "non-free", "sql", "e.g.", "fix", "bug", "lib", "x11", "o'reilly", "__init__"]

DT_SIDE = r"""
import sys, time
import pyarrow as pa, pyarrow.parquet as pq
import datatrove.pipeline.filters.c4_filters as c4
from datatrove.data import Document
c4.cached_asset_path_or_download = lambda *a, **k: sys.argv[3]  # the local list, never a download
df = pq.read_table(sys.argv[1], columns=["id", "text"]).to_pydict()
f = c4.C4BadWordsFilter(seed=0)
t0 = time.perf_counter()
keep = [f.filter(Document(text=t, id=i)) is True for i, t in zip(df["id"], df["text"])]
print(f"datatrove: {time.perf_counter() - t0:.2f} s")
pq.write_table(pa.table({"id": df["id"], "keep": keep}), sys.argv[2])
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--datatrove-python", default="/tmp/dtvenv/bin/python")
    args = ap.parse_args()
    df = pl.read_parquet(args.corpus, columns=["id", "text"]).sample(n=args.docs, seed=args.seed, shuffle=True)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, words, side = (Path(tmp) / n for n in ("in.parquet", "dt.parquet", "en.txt", "side.py"))
        df.write_parquet(src)
        words.write_text("\n".join(WORDS) + "\n")
        side.write_text(DT_SIDE)
        proc = subprocess.run([args.datatrove_python, str(side), str(src), str(dst), str(words)], capture_output=True, text=True, check=True)
        dt = pl.read_parquet(dst)
        stage = BadWords(BadWordsConfig(lists={"en": str(words)}))
        t0 = time.perf_counter()
        out = stage.process(df, StageContext())
        ours = time.perf_counter() - t0
    j = dt.join(out.select("id", (pl.col(REJECT).is_null()).alias("ours"), "bad_word_count", "text"), on="id")
    agree = int((j["keep"] == j["ours"]).sum())
    print(proc.stdout.strip())
    print(f"curate: {ours:.2f} s")
    print(f"documents: {j.height:,}; datatrove rejects {int((~j['keep']).sum()):,}, curate {int((~j['ours']).sum()):,}")
    print(f"same decision: {agree:,} = {agree / j.height:.3%}")
    for row in j.filter(pl.col("keep") != pl.col("ours")).head(5).iter_rows(named=True):
        print("----", row["id"], "datatrove keeps" if row["keep"] else "curate keeps", repr(row["text"][:300]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
