"""`curate filter --preset fineweb` against datatrove's FineWeb heuristic chain, whole commands.

Same documents (a seeded sample of a real corpus, split into one Parquet file per worker), same
worker count. Both tools run as whole processes (start-up, reading, writing kept and removed
documents included), alternating, for --rounds rounds; the speed figure is the median ratio.
Then kept ids and kept texts are compared, and disagreements are tabulated by the rule each side
applied (datatrove's filter and reason, curate's reject reason).

  .venv/bin/python benchmarks/quality/fineweb_chain.py --corpus ../shared/data/real_docs.parquet \
      --docs 20000 --workers 1 --rounds 3 --datatrove-python /tmp/dtvenv/bin/python

--c4-defaults compares C4's defaults instead of FineWeb's (the terminal-punctuation line rule on:
curate runs the presets gopher, c4 and fineweb_quality, datatrove C4QualityFilter()).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
DT_STAGE = {"1_gopher_rep": "gopher_repetition", "2_gopher_qual": "gopher_quality", "3_c4": "c4", "4_fineweb_qual": "fineweb_quality"}


def write_input(corpus: str, n: int, seed: int, files: int, folder: Path) -> pl.DataFrame:
    df = pl.read_parquet(corpus, columns=["id", "text", "source"])
    df = df.sample(n=min(n, df.height), seed=seed, shuffle=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    per = -(-df.height // files)
    for k in range(files):
        df.slice(k * per, per).write_parquet(folder / f"part-{k:03d}.parquet")
    return df


def timed(cmd: list[str], log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0


def read_jsonl(files: list[Path]) -> pl.DataFrame:
    rows = []
    for f in files:
        with open(f) as fh:
            for line in fh:
                d = json.loads(line)
                rows.append({"id": str(d["id"]), "text": d["text"], "reason": (d.get("metadata") or {}).get("filter_reason")})
    return pl.DataFrame(rows, schema={"id": pl.String, "text": pl.String, "reason": pl.String})


def datatrove_results(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    kept = read_jsonl(sorted((out / "output").glob("*.jsonl")))
    removed = []
    for folder, name in DT_STAGE.items():
        r = read_jsonl(sorted((out / "removed" / folder).glob("*.jsonl")))
        removed.append(r.select("id", pl.format("{}:{}", pl.lit(name), pl.col("reason").fill_null("?")).alias("dt_rule")))
    return kept, pl.concat(removed)


def curate_results(out: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    kept = pl.concat([pl.read_parquet(f, columns=["id", "text"]) for f in sorted(out.glob("part-*.parquet"))])
    rej = [pl.read_parquet(f, columns=["id", "reject_reason"]) for f in sorted((out / "rejected").glob("*.parquet"))]
    removed = pl.concat(rej).rename({"reject_reason": "curate_rule"}) if rej else pl.DataFrame(schema={"id": pl.String, "curate_rule": pl.String})
    return kept, removed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", required=True, help="Parquet with id, text, source")
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--datatrove-python", default="/tmp/dtvenv/bin/python")
    ap.add_argument("--work", default=str(ROOT / "benchmarks" / "_work" / "fineweb"))
    ap.add_argument("--c4-defaults", action="store_true", help="C4's default line rules (terminal punctuation on)")
    ap.add_argument("--show", type=int, default=0, help="print this many disagreements")
    args = ap.parse_args()

    work = Path(args.work)
    docs = write_input(args.corpus, args.docs, args.seed, args.workers, work / "input")
    print(f"documents: {docs.height:,} ({docs['text'].str.len_bytes().sum() / 1e6:.1f} MB), workers: {args.workers}")
    curate = [str(ROOT / ".venv" / "bin" / "curate"), "filter", str(work / "input"), "-o", str(work / "curate"),
              "--workers", str(args.workers), "--overwrite", "--quiet"]
    presets = ["gopher", "c4", "fineweb_quality"] if args.c4_defaults else ["fineweb"]
    for p in presets:
        curate += ["--preset", p]
    dt = [args.datatrove_python, str(HERE / "datatrove_fineweb.py"), str(work / "input"), str(work / "datatrove"),
          "--workers", str(args.workers)] + (["--c4-terminal-punct"] if args.c4_defaults else [])
    times: dict[str, list[float]] = {"curate": [], "datatrove": []}
    for r in range(args.rounds):
        shutil.rmtree(work / "datatrove", ignore_errors=True)
        times["datatrove"].append(timed(dt, work / "datatrove.log"))
        times["curate"].append(timed(curate, work / "curate.log"))
        print(f"round {r + 1}: datatrove {times['datatrove'][-1]:.1f} s, curate {times['curate'][-1]:.1f} s")
    ratios = [d / c for d, c in zip(times["datatrove"], times["curate"], strict=True)]

    dt_kept, dt_removed = datatrove_results(work / "datatrove")
    cu_kept, cu_removed = curate_results(work / "curate")
    assert dt_kept.height + dt_removed.height == docs.height, "datatrove lost documents"
    assert cu_kept.height + cu_removed.height == docs.height, "curate lost documents"
    j = (
        docs.select("id", "source", pl.col("text").alias("original"))
        .join(dt_kept.select("id", pl.col("text").alias("dt_text")), on="id", how="left")
        .join(cu_kept.select("id", pl.col("text").alias("cu_text")), on="id", how="left")
        .join(dt_removed, on="id", how="left")
        .join(cu_removed, on="id", how="left")
        .with_columns(dt_keep=pl.col("dt_text").is_not_null(), cu_keep=pl.col("cu_text").is_not_null())
    )
    agree = int((j["dt_keep"] == j["cu_keep"]).sum())
    both = j.filter("dt_keep", "cu_keep")
    same = int((both["dt_text"] == both["cu_text"]).sum())
    rewritten = int((both["dt_text"] != both["original"]).sum())
    print()
    print("| | datatrove 0.10.1 | curate |")
    print("|---|---:|---:|")
    print(f"| kept | {int(j['dt_keep'].sum()):,} | {int(j['cu_keep'].sum()):,} |")
    print(f"| whole command, median of {args.rounds} (s) | {statistics.median(times['datatrove']):.1f} | {statistics.median(times['curate']):.1f} |")
    print()
    print(f"kept-id agreement: {agree:,} / {j.height:,} = {agree / j.height:.3%}")
    print(f"kept by both: {both.height:,}; identical text: {same:,} = {same / max(both.height, 1):.3%}; rewritten by C4 cleaning: {rewritten:,}")
    print(f"speed: datatrove / curate = {statistics.median(ratios):.1f}x (median of per-round ratios {', '.join(f'{x:.1f}' for x in ratios)})")
    bad = j.filter(pl.col("dt_keep") != pl.col("cu_keep"))
    if bad.height:
        print("\ndisagreements by rule (datatrove's filter:reason, curate's reason; null = kept):")
        table = bad.group_by("dt_rule", "curate_rule").len().sort("len", descending=True)
        print("| datatrove | curate | documents |")
        print("|---|---|---:|")
        for a, b, n in table.iter_rows():
            print(f"| {a or 'kept'} | {b or 'kept'} | {n} |")
    diff = both.filter(pl.col("dt_text") != pl.col("cu_text"))
    for row in bad.head(args.show).iter_rows(named=True):
        print("----", row["id"], row["source"], row["dt_rule"], row["curate_rule"])
        print(repr(row["original"][:800]))
    for row in diff.head(args.show).iter_rows(named=True):
        print("---- text differs", row["id"])
        print(repr(row["dt_text"][:400]))
        print(repr(row["cu_text"][:400]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
