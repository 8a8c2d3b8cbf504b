"""rensa 0.5 near-duplicate removal as one command: read Parquet, dedup, write the removed ids.

The same method as ``run.py``'s rensa (lowercased ``\\w+`` word 5-grams, RMinHash with 128
permutations, RMinHashLSH at 0.8 with 16 bands, each candidate verified by its estimated Jaccard,
the smallest id of a group kept), here with the Parquet read and the write inside the timing.

    python benchmarks/dedup/rensa_dedup.py corpus.parquet [more.parquet ...] -o removed.parquet
"""

from __future__ import annotations

import argparse

import polars as pl
from run import rensa_removed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    gone = rensa_removed(pl.read_parquet(args.inputs, columns=["id", "text"]))
    pl.DataFrame({"id": gone}, schema={"id": pl.String}).write_parquet(args.output)


if __name__ == "__main__":
    main()
