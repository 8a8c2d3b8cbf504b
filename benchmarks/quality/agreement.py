"""Agreement of curate's filter presets with datatrove's filters on the same documents.

Step 1 (datatrove's venv) writes datatrove's decisions; step 2 (curate's venv) scores the
same documents, applies each preset and compares keep/drop decisions per preset.
See RESULTS-quality.md for the exact commands.
"""

from __future__ import annotations

import argparse
import sys

import polars as pl

from curate.stages.base import REJECT, StageContext
from curate.stages.filter import PRESETS, Filter, FilterConfig
from curate.stages.quality_score import QualityScore, QualityScoreConfig


def our_decisions(docs: pl.DataFrame) -> pl.DataFrame:
    """Score once with every family, then apply each preset separately (explain on)."""
    scorer = QualityScore(QualityScoreConfig(heuristics=["gopher", "c4", "fineweb"]))
    scored = scorer.process(docs, StageContext())
    out = {"id": docs["id"]}
    for preset in PRESETS:
        flt = Filter(FilterConfig(preset=preset, explain=True))
        res = flt.process(scored, StageContext())
        out[f"ours_keep_{preset}"] = res[REJECT].is_null()
        out[f"ours_reason_{preset}"] = res[REJECT]
    return pl.DataFrame(out).hstack(scored.drop(docs.columns))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("sample", help="Parquet with id, text (the documents compared)")
    ap.add_argument("datatrove", help="datatrove_side.py output for the same sample")
    ap.add_argument("--show", type=int, default=0, help="print this many disagreements per preset")
    ap.add_argument("--dump", help="write the joined decisions and signals here (Parquet)")
    args = ap.parse_args()
    docs = pl.read_parquet(args.sample, columns=["id", "text", "source"])
    dt = pl.read_parquet(args.datatrove)
    joined = docs.join(dt, on="id").join(our_decisions(docs), on="id")
    if args.dump:
        joined.write_parquet(args.dump)
    print(f"documents: {joined.height}")
    print("| preset | datatrove keeps | curate keeps | same decision | agreement |")
    print("|---|---:|---:|---:|---:|")
    for preset in PRESETS:
        theirs, ours = joined[f"keep_{preset}"], joined[f"ours_keep_{preset}"]
        agree = int((theirs == ours).sum())
        print(
            f"| {preset} | {int(theirs.sum())} | {int(ours.sum())} | {agree} | "
            f"{agree / joined.height:.2%} |"
        )
    for preset in PRESETS:
        bad = joined.filter(pl.col(f"keep_{preset}") != pl.col(f"ours_keep_{preset}"))
        if bad.height == 0:
            continue
        print(f"\n{preset}: {bad.height} disagreements")
        print(
            bad.group_by(f"reason_{preset}", f"ours_reason_{preset}", "source")
            .len()
            .sort("len", descending=True)
            .head(15)
        )
        for row in bad.head(args.show).iter_rows(named=True):
            print("----", row["id"], row[f"reason_{preset}"], row[f"ours_reason_{preset}"])
            print(repr(row["text"][:600]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
