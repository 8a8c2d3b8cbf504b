"""A fused map chain before and after "text written once" (issue 12), side by side.

`curate run` of ingest (Parquet) -> quality_score (gopher, c4, fineweb) -> filter (three rules)
-> export (Parquet), 2 workers, with two source trees of curate run by the same interpreter
(``PYTHONPATH=TREE/src``): each run gets fresh folders, the two trees alternate run by run.
Reported per tree: wall seconds and peak RSS of the process tree (benchmarks/_measure.py), and
the bytes the run wrote: every file it left in the workdir and the output (a run deletes nothing
but temporaries, which are renamed into place), with the text-holding part (kept data files of
the step folders) apart. After the runs it checks that both trees kept the same ids.

    python benchmarks/bench_chain.py --before /tmp/tree-before --after /tmp/tree-after \\
        --corpus /work/shared/data/real_docs.parquet --copies 5 [--runs 3] [--dedup] [--out benchmarks/RESULTS.md]

``--dedup`` puts exact_dedup first (every copy after the first is then removed).

``--copies N`` repeats the corpus N times under new ids (``<id>-<k>``), written once to the work
folder before the runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from _measure import emit, measure

CONFIG = """\
input:
  sources:
    - {{paths: ["{corpus}"]}}
workdir: {work}/wd
output: {{path: {work}/out, format: parquet, overwrite: true}}
engine: {{workers: 2}}
seed: 1234
stages:{dedup}
  - {{kind: quality_score, heuristics: [gopher, c4, fineweb]}}
  - kind: filter
    rules:
      gopher_min_words: "gopher_word_count >= 50"
      gopher_max_hash_ratio: "gopher_hash_ratio <= 0.1"
      c4_terminal_punct: "c4_terminal_punct_frac >= 0.1"
"""


def build_corpus(src: Path, copies: int, out: Path) -> int:
    base = pl.read_parquet(src, columns=["id", "text", "source"])
    frames = [base.with_columns((pl.col("id") + f"-{k}").alias("id")) for k in range(copies)]
    corpus = pl.concat(frames)
    corpus.write_parquet(out, row_group_size=20_000)
    return corpus.height


def bytes_under(folder: Path) -> tuple[int, int]:
    """(all bytes in files under ``folder``, bytes of kept data files of step folders)."""
    total = kept = 0
    for p in folder.rglob("*"):
        if not p.is_file():
            continue
        size = p.stat().st_size
        total += size
        rel = p.relative_to(folder).parts
        if len(rel) == 2 and rel[1].startswith("part-") and rel[1].endswith(".parquet"):
            kept += size
    return total, kept


def kept_ids(out: Path) -> list[str]:
    files = sorted(p for p in out.rglob("*.parquet") if not any(part.startswith(("_", ".")) for part in p.relative_to(out).parts))
    return sorted(i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="source tree of curate before the change")
    ap.add_argument("--after", type=Path, required=True, help="source tree of curate after the change")
    ap.add_argument("--corpus", type=Path, required=True, help="Parquet with id, text, source")
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--dedup", action="store_true", help="put exact_dedup before the chain (its apply heads the chain after the change)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-chain-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.parquet"
    docs = build_corpus(args.corpus, args.copies, corpus)
    trees = {"before": args.before.absolute(), "after": args.after.absolute()}
    figures: dict[str, list[tuple[float, int, int, int, int]]] = {name: [] for name in trees}
    ids: dict[str, list[str]] = {}
    for run in range(args.runs):
        for name, tree in trees.items():
            folder = work / f"{name}-{run}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            cfg = folder / "pipeline.yaml"
            cfg.write_text(CONFIG.format(corpus=corpus, work=folder, dedup="\n  - {kind: exact_dedup}" if args.dedup else ""))
            os.environ["PYTHONPATH"] = str(tree / "src")
            check = subprocess.run([sys.executable, "-c", "import curate; print(curate.__file__)"], capture_output=True, text=True, check=True)
            assert check.stdout.startswith(str(tree)), check.stdout
            wall, peak, _ = measure([sys.executable, "-m", "curate", "run", str(cfg), "-q"], folder)
            total, kept = bytes_under(folder / "wd")
            out_total, _ = bytes_under(folder / "out")
            figures[name].append((wall, peak, total + out_total, kept, out_total))
            print(f"{name} run {run + 1}: {wall:.1f} s, {(total + out_total) / 1e6:,.0f} MB written ({kept / 1e6:,.0f} MB kept step data)", flush=True)
            if run == 0:
                ids[name] = kept_ids(folder / "out")
            shutil.rmtree(folder)
    if ids["before"] != ids["after"]:
        raise SystemExit("the two trees kept different ids")
    lines = [
        f"| tree | wall s (median of {args.runs}) | runs s | MB written (workdir + output) | of which kept step data MB | output MB | peak RSS MiB |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, rows in figures.items():
        walls = [r[0] for r in rows]
        lines.append(
            f"| {name} | {statistics.median(walls):.1f} | {', '.join(f'{w:.1f}' for w in walls)} | "
            f"{statistics.median(r[2] for r in rows) / 1e6:,.0f} | {statistics.median(r[3] for r in rows) / 1e6:,.0f} | "
            f"{statistics.median(r[4] for r in rows) / 1e6:,.0f} | {max(r[1] for r in rows) / 2**20:,.0f} |"
        )
    lines.append("")
    lines.append(f"{docs:,} documents ({corpus.stat().st_size / 1e6:,.0f} MB of Parquet input); both trees kept the same {len(ids['after']):,} ids.")
    emit(lines, args.out)


if __name__ == "__main__":
    main()
