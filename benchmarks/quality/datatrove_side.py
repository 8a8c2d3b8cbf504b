"""Run datatrove's Gopher, C4 and FineWeb filters on a Parquet sample (run in datatrove's own venv).

Writes one row per document: id, keep flag per filter, and datatrove's reason for a drop.
Usage: /tmp/dtvenv/bin/python benchmarks/quality/datatrove_side.py IN.parquet OUT.parquet
"""

from __future__ import annotations

import sys
import time

import polars as pl
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    df = pl.read_parquet(src, columns=["id", "text"])
    filters = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4_quality": C4QualityFilter(),
        "fineweb_quality": FineWebQualityFilter(),
    }
    out: dict[str, list] = {"id": df["id"].to_list()}
    timings = {}
    for name, flt in filters.items():
        keeps, reasons = [], []
        t0 = time.perf_counter()
        for i, text in zip(df["id"], df["text"], strict=True):
            doc = Document(text=text, id=i)
            try:
                res = flt.filter(doc)
            except ZeroDivisionError:
                res = (False, "zero_division")
            keep, reason = (res, None) if isinstance(res, bool) else res
            keeps.append(bool(keep))
            reasons.append(reason)
        timings[name] = time.perf_counter() - t0
        out[f"keep_{name}"] = keeps
        out[f"reason_{name}"] = reasons
    pl.DataFrame(out).write_parquet(dst)
    for name, sec in timings.items():
        print(f"datatrove {name}: {sec:.2f} s, {df.height / sec:,.0f} docs/s")
    total = sum(timings.values())
    print(f"datatrove all four: {total:.2f} s, {df.height / total:,.0f} docs/s")


if __name__ == "__main__":
    main()
