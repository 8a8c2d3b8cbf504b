"""Throughput of the `tokens` stage per core: documents per CPU-second for each tokenizer.

    .venv/bin/python benchmarks/bench_tokens.py --corpus /work/shared/data/real_docs.parquet

Runs ``Tokens.process`` in this one process (one core, as in a worker) over the corpus's
documents of 700-1,400 bytes (~1 KB), best of ``--rounds`` by process CPU time. The ``file``
tokenizer is a 32k byte-level BPE ``tokenizer.json`` trained here on the same corpus (training
is not timed). Without ``--corpus`` the documents are generated (vocabulary words, ~1 KB).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import polars as pl

from curate.stages.base import StageContext
from curate.stages.tokens import Tokens, TokensConfig


def corpus(path: str | None, n: int) -> pl.DataFrame:
    if path:
        docs = pl.read_parquet(path, columns=["id", "text", "source"])
        return docs.filter(pl.col("text").str.len_bytes().is_between(700, 1400)).head(n)
    rng = random.Random(0)
    words = "data curation pipeline model training text quality filter shard parquet token corpus language".split()
    texts = [" ".join(rng.choice(words) for _ in range(140)) for _ in range(n)]
    return pl.DataFrame({"id": [f"{i:08d}" for i in range(n)], "text": texts, "source": ["generated"] * n})


def train_tokenizer(texts: list[str], path: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=32000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.save(str(path))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", help="Parquet with id, text, source (default: generated text)")
    ap.add_argument("--docs", type=int, default=20_000, help="at most this many ~1 KB documents")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    docs = corpus(args.corpus, args.docs)
    mean = docs["text"].str.len_bytes().mean()
    print(f"{docs.height:,} documents, mean {mean:,.0f} bytes")
    print("| tokenizer | load (s) | docs/s per core | MB/s per core | tokens/doc |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        configs = [
            TokensConfig(tokenizer="cl100k_base"),
            TokensConfig(tokenizer="o200k_base"),
            TokensConfig(tokenizer="whitespace"),
            TokensConfig(tokenizer="file", path=str(train_tokenizer(docs["text"].to_list(), Path(tmp) / "tokenizer.json"))),
        ]
        for cfg in configs:
            stage = Tokens(cfg)
            t0 = time.perf_counter()
            stage.setup()
            load = time.perf_counter() - t0
            stage.process(docs.head(100), StageContext())  # warm up
            best = float("inf")
            for _ in range(args.rounds):
                c0 = time.process_time()
                out = stage.process(docs, StageContext())
                best = min(best, time.process_time() - c0)
            label = "file (32k byte-level BPE)" if cfg.tokenizer == "file" else cfg.tokenizer
            rate = docs.height / best
            print(f"| {label} | {load:.2f} | {rate:,.0f} | {rate * mean / 1e6:.1f} | {out['token_count'].mean():.1f} |")


if __name__ == "__main__":
    main()
