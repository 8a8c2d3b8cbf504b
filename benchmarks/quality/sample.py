"""Draw a reproducible random sample of documents from a Parquet corpus (for the agreement run)."""

from __future__ import annotations

import argparse

import polars as pl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    df = pl.read_parquet(args.corpus, columns=["id", "text", "source"])
    df.sample(n=min(args.n, df.height), seed=args.seed, shuffle=True).write_parquet(args.out)


if __name__ == "__main__":
    main()
