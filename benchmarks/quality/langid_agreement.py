"""Language ID: fastText's lid.176.ftz (shipped, the default) against the py3langid kernel.

Times both backends of ``curate.quality.langid.LanguageIdentifier`` in one process (one polars
thread, fastText single-threaded, the numba kernel warmed up and cached first) on the same
documents, and counts how often they name the same top language: overall, per ``source``, and
on documents of at least ``--min-chars`` characters. Prints Markdown tables.

    .venv/bin/python benchmarks/quality/langid_agreement.py /work/shared/data/real_docs.parquet
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # before polars is imported: one core

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import polars as pl  # noqa: E402

from curate.quality.langid import LanguageIdentifier  # noqa: E402

BACKENDS = ("fasttext", "py3langid")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", help="Parquet file with `text` (and `source`) columns")
    ap.add_argument("--batch", type=int, default=4096, help="texts per prediction call (the stage default)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per backend, interleaved")
    ap.add_argument("--min-chars", type=int, default=200)
    ap.add_argument("--show", type=int, default=12, help="most frequent disagreeing pairs to list")
    ap.add_argument("--truncate", type=int, default=0,
                    help="also time fastText on the first N chars of each document (0: skip)")
    args = ap.parse_args()

    docs = pl.read_parquet(args.corpus, columns=["text", "source"])
    text = docs["text"]
    mb = text.str.len_bytes().sum() / 1e6
    print(f"{docs.height:,} documents, {mb:.1f} MB of text; batch {args.batch}; "
          f"POLARS_MAX_THREADS={os.environ['POLARS_MAX_THREADS']}\n")

    models, load_s = {}, {}
    for b in BACKENDS:
        t0 = time.perf_counter()
        models[b] = LanguageIdentifier(backend=b)  # type: ignore[arg-type]
        load_s[b] = time.perf_counter() - t0
        models[b].identify(text.head(64), args.batch)  # numba: compile or load from the cache

    # wall time is what users wait for; CPU time of this (single-threaded) process is what the
    # backend costs, and is far less disturbed by other jobs on a shared machine
    wall: dict[str, list[float]] = {b: [] for b in BACKENDS}
    cpu: dict[str, list[float]] = {b: [] for b in BACKENDS}
    results: dict[str, pl.DataFrame] = {}
    for _ in range(args.repeats):
        for b in BACKENDS:
            t0, c0 = time.perf_counter(), time.process_time()
            results[b] = models[b].identify(text, args.batch)
            wall[b].append(time.perf_counter() - t0)
            cpu[b].append(time.process_time() - c0)

    print("| backend | load | docs/s, wall (median / best) | docs/s, CPU time (median) | MB/s, CPU time |")
    print("|---|---:|---:|---:|---:|")
    for b in BACKENDS:
        w, c = statistics.median(wall[b]), statistics.median(cpu[b])
        print(f"| {b} | {load_s[b]:.2f} s | {docs.height / w:,.0f} / {docs.height / min(wall[b]):,.0f} | "
              f"{docs.height / c:,.0f} | {mb / c:.1f} |")
    ratio = statistics.median(cpu["py3langid"]) / statistics.median(cpu["fasttext"])
    print(f"\nfastText speed / py3langid speed (median CPU time): {ratio:.2f}x")
    for b in BACKENDS:
        print(f"  {b} passes, wall: {' '.join(f'{t:.2f}' for t in wall[b])} s; "
              f"CPU: {' '.join(f'{t:.2f}' for t in cpu[b])} s")

    short = text.filter(text.str.len_chars() < args.min_chars)
    if short.len():
        print(f"\nDocuments under {args.min_chars} chars only ({short.len():,}, "
              f"median {short.str.len_chars().median():.0f} chars), median of {args.repeats} passes:")
        for b in BACKENDS:
            c = []
            for _ in range(args.repeats):
                c0 = time.process_time()
                models[b].identify(short, args.batch)
                c.append(time.process_time() - c0)
            print(f"  {b}: {short.len() / statistics.median(c):,.0f} docs/s (CPU time)")
    if args.truncate:
        cut = text.str.slice(0, args.truncate)
        c = []
        for _ in range(args.repeats):
            c0 = time.process_time()
            trunc = models["fasttext"].identify(cut, args.batch)
            c.append(time.process_time() - c0)
        same = int(trunc["lang"].eq_missing(results["fasttext"]["lang"]).sum())
        print(f"\nfastText on the first {args.truncate} chars of each document: "
              f"{docs.height / statistics.median(c):,.0f} docs/s (CPU time); same top language as "
              f"on the whole text for {same:,} of {docs.height:,} ({same / docs.height:.2%})")
    print()

    cmp = docs.select(
        "source",
        pl.col("text").str.len_chars().alias("chars"),
        results["fasttext"]["lang"].alias("ft"),
        results["fasttext"]["lang_score"].alias("ft_p"),
        results["py3langid"]["lang"].alias("py"),
    ).with_columns(same=pl.col("ft").eq_missing(pl.col("py")))

    def row(name: str, frame: pl.DataFrame) -> str:
        n, same = frame.height, int(frame["same"].sum())
        top_ft = frame["ft"].value_counts(sort=True).head(3)
        top_py = frame["py"].value_counts(sort=True).head(3)
        fmt = lambda vc: ", ".join(f"{r[0]} {r[1] / n:.1%}" for r in vc.iter_rows())  # noqa: E731
        return f"| {name} | {n:,} | {same:,} | {same / n:.2%} | {fmt(top_ft)} | {fmt(top_py)} |"

    print("| documents | n | same top language | agreement | fastText's top 3 | py3langid's top 3 |")
    print("|---|---:|---:|---:|---|---|")
    print(row("all", cmp))
    long = cmp.filter(pl.col("chars") >= args.min_chars)
    print(row(f">= {args.min_chars} chars", long))
    for src in sorted(cmp["source"].unique().to_list()):
        print(row(f"source = {src}", cmp.filter(pl.col("source") == src)))
        print(row(f"source = {src}, >= {args.min_chars} chars", long.filter(pl.col("source") == src)))

    diff = cmp.filter(~pl.col("same"))
    print(f"\nMost frequent disagreements (fastText -> py3langid), of {diff.height:,}:\n")
    print("| fastText | py3langid | documents | median chars | median fastText p |")
    print("|---|---|---:|---:|---:|")
    pairs = (
        diff.group_by("ft", "py")
        .agg(pl.len().alias("n"), pl.col("chars").median().alias("chars"), pl.col("ft_p").median().alias("p"))
        .sort(["n", "ft", "py"], descending=[True, False, False])
        .head(args.show)
    )
    for ft, py, n, chars, p in pairs.iter_rows():
        print(f"| {ft} | {py} | {n:,} | {chars:,.0f} | {p:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
