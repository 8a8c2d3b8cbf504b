"""Benchmark decontamination as users run it: `curate decontaminate` in its three modes, and datatrove.

Each round runs, as subprocesses, one after the other (order rotating by round):

  curate drop      `curate decontaminate CORPUS/corpus.parquet -o OUT --against A... --mode drop
                    --ngram 13 --workers W -q` (A: CORPUS/against.json, written by the builder)
  curate span      the same with `--mode span` (window 200, min fragment 200, max splits 10)
  curate coverage  the same with `--mode coverage` (coverage 0.5)
  datatrove        `/tmp/dtvenv/bin/python benchmarks/decontam/datatrove_side.py CORPUS OUT 13`
                   (NGramsDecontFilter over an index built with NGramsDecontIndexer.compute_hashes;
                   see that file for why the indexer's ``run`` cannot be used offline)

Definitions (``build_decontam_corpus.py`` wrote the truth: one planted eval item per planted
document, its edit kind, its character range):

  caught     drop and coverage modes, datatrove: the planted document is removed (curate: in
             OUT/rejected/ with reason ``contaminated``). Span mode: removed, or kept with none of the
             planted text's word 13-grams left in its output text (lowercased ``\\w+`` tokens, the
             stage's tokens): no 13 consecutive words of the plant survive.
  recall     caught planted documents / planted documents, per edit kind (verbatim apart).
  named      of the caught documents, those whose ``decontam_benchmarks`` (kept rows) or rejection
             detail (removed rows) name the eval set the plant came from.
  false pos  clean documents (nothing planted; the builder keeps eval text out of them) that are
             removed or, in span mode, whose text was changed; as a share of clean documents.
             ``flagged``: clean documents with a non-empty ``decontam_benchmarks`` or removed.

Speed: wall seconds of the whole process, CPU seconds of the process tree (user + system of every
reaped descendant), docs/s, docs per CPU second, peak RSS of the process tree (sampled every 50 ms,
``benchmarks/_measure.py``), the index size the stage reports (``decontam_index_bytes`` in the
manifest's counts); medians over ``--runs`` (datatrove: ``--datatrove-runs``, it is ~100x slower).

    python benchmarks/decontam/bench_decontam.py benchmarks/_work/decontam-100k --runs 3 \\
        [--out benchmarks/decontam/RESULTS-decontam.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _measure import emit, measure  # noqa: E402

REPO = HERE.parents[1]
MODES = ("drop", "span", "coverage")
WORD = re.compile(r"\w+")


def grams(text: str, n: int) -> set[tuple[str, ...]]:
    toks = WORD.findall(text.lower())
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def code_version() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    status = git("status", "--porcelain", "--untracked-files=all", "src", "setup.py", "pyproject.toml")
    dirty = sorted({"/".join(line[3:].split("/")[:4]) for line in status.splitlines() if line.strip()})
    if not dirty:
        return f"commit `{head}`"
    return f"commit `{head}` plus uncommitted changes to {', '.join(f'`{d}`' for d in dirty)}"


def timed(cmd: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, tree, _ = measure(cmd, REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rss": tree / 2**20}


def curate_result(out: Path) -> dict:
    """Removed ids (reason, detail), kept rows (id -> (text, benchmarks, chars removed)), counts."""
    manifest = json.loads((out / "_manifest.json").read_text())
    removed: dict[str, tuple[str, str]] = {}
    for f in sorted((out / "rejected").glob("*.parquet")):
        df = pl.read_parquet(f)
        detail = df["reject_detail"].cast(pl.String).to_list() if "reject_detail" in df.columns else [""] * df.height
        for i, reason, d in zip(df["id"].to_list(), df["reject_reason"].to_list(), detail, strict=True):
            removed[i] = (reason, d or "")
    data = manifest.get("curate_dataset", {}).get("data_files") or [p.name for p in out.glob("*.parquet")]
    kept: dict[str, tuple[str, list[str], int]] = {}
    for f in data:
        df = pl.read_parquet(out / f)
        chars = df["decontam_chars_removed"].to_list() if "decontam_chars_removed" in df.columns else [0] * df.height
        for i, t, b, c in zip(df["id"].to_list(), df["text"].to_list(), df["decontam_benchmarks"].to_list(),
                              chars, strict=True):
            kept[i] = (t, b or [], c or 0)
    counts: Counter = Counter()
    for s in manifest.get("steps", []):
        c = s.get("counts", {})
        for k, v in {**c, **c.get("counters", {})}.items():
            if k.startswith("decontam_") and isinstance(v, int | float):
                counts[k] = v
        if s.get("index_bytes"):
            counts["decontam_index_bytes"] = s["index_bytes"]
    steps = [(s["stage"], s.get("wall_seconds", 0.0), s.get("counts", {}).get("cpu_seconds", 0.0))
             for s in manifest.get("steps", [])]
    return {"removed": removed, "kept": kept, "counts": counts, "steps": steps}


def score(mode: str, res: dict, truth: pl.DataFrame, texts: dict[str, str], n: int) -> dict:
    removed, kept = res["removed"], res["kept"]
    planted = set(truth["id"].to_list())
    by_edit: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_set: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    named = caught_n = 0
    misses: dict[str, list[str]] = defaultdict(list)
    for row in truth.iter_rows(named=True):
        i = row["id"]
        if mode == "datatrove":
            caught = i in removed
            name_ok = caught and removed[i][1] == row["eval_set"]
        elif i in removed:
            caught = removed[i][0] == "contaminated"
            name_ok = caught and row["eval_set"] in removed[i][1]
        else:
            text, benches, _ = kept[i]
            caught = mode == "span" and not (grams(row["planted"], n) & grams(text, n))
            name_ok = caught and row["eval_set"] in benches
        by_edit[row["edit"]][1] += 1
        by_set[row["eval_set"]][1] += 1
        if caught:
            by_edit[row["edit"]][0] += 1
            by_set[row["eval_set"]][0] += 1
            caught_n += 1
            named += name_ok
        elif len(misses[row["edit"]]) < 6:
            misses[row["edit"]].append(i)
    clean = [i for i in texts if i not in planted]
    fp_removed = [i for i in clean if i in removed]
    fp_changed = [i for i in clean if i in kept and kept[i][0] != texts[i]]
    flagged = [i for i in clean if i in removed or (i in kept and kept[i][1])]
    reasons = Counter(removed[i][0] for i in fp_removed) if mode != "datatrove" else Counter()
    return {"by_edit": dict(by_edit), "by_set": dict(by_set), "named": named, "caught": caught_n,
            "clean": len(clean), "fp": len(fp_removed) + len(fp_changed), "fp_removed": len(fp_removed),
            "fp_changed": len(fp_changed), "flagged": len(flagged), "fp_ids": (fp_removed + fp_changed)[:8],
            "fp_reasons": reasons, "misses": dict(misses)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--curate", default=str(Path(sys.executable).parent / "curate"))
    ap.add_argument("--datatrove-python", default="/tmp/dtvenv/bin/python", help="empty: skip the peer")
    ap.add_argument("--datatrove-runs", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/decontam-bench-work"))
    ap.add_argument("--out", type=Path, help="append the tables to this file")
    args = ap.parse_args()
    corpus = args.corpus / "corpus.parquet"
    df = pl.read_parquet(corpus, columns=["id", "text"])
    texts = dict(zip(df["id"].to_list(), df["text"].to_list(), strict=True))
    docs = len(texts)
    mb = df["text"].str.len_bytes().sum() / 1e6
    truth = pl.read_parquet(args.corpus / "truth.parquet")
    against = [a.split("=", 1)[0] + "=" + str(args.corpus / a.split("=", 1)[1])
               for a in json.loads((args.corpus / "against.json").read_text())]
    summary = json.loads((args.corpus / "summary.json").read_text())
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load0 = os.getloadavg()[:2]
    version = code_version()
    modes = [m for m in args.modes.split(",") if m]
    methods = modes + (["datatrove"] if args.datatrove_python and args.datatrove_runs else [])

    def command(m: str, out: Path) -> list[str]:
        if m == "datatrove":
            return [args.datatrove_python, str(HERE / "datatrove_side.py"), str(args.corpus), str(out), str(args.ngram)]
        cmd = [args.curate, "decontaminate", str(corpus), "-o", str(out), "--mode", m, "--ngram", str(args.ngram),
               "--workers", str(args.workers), "-q"]
        for a in against:
            cmd += ["--against", a]
        return cmd

    res: dict[str, list[dict]] = {m: [] for m in methods}
    scores: dict[str, dict] = {}
    for r in range(args.runs):
        order = methods[r % len(methods):] + methods[:r % len(methods)]
        for m in order:
            if m == "datatrove" and r >= args.datatrove_runs:
                continue
            out = work / f"{m}-out"
            shutil.rmtree(out, ignore_errors=True)
            t = timed(command(m, out))
            if m == "datatrove":
                rem = pl.read_parquet(out / "removed.parquet")
                result = {"removed": {i: ("contaminated", task or "") for i, task in rem.iter_rows()}, "kept": {}}
                st = json.loads((out / "stats.json").read_text())
                t["index_bytes"], t["filter_s"] = st["index_bytes"], st["filter_seconds"]
            else:
                result = curate_result(out)
                t["index_bytes"] = result["counts"].get("decontam_index_bytes", 0)
                t["counts"] = result["counts"]
                t["steps"] = result["steps"]
            if m not in scores:
                scores[m] = score(m, result, truth, texts, args.ngram)
            res[m].append(t)
            print(f"run {r + 1} {m}: {t['wall']:.2f} s wall, {t['cpu']:.2f} CPU s, {t['rss']:.0f} MiB, "
                  f"caught {scores[m]['caught']:,}/{truth.height:,}, FP {scores[m]['fp']:,}", file=sys.stderr)
            shutil.rmtree(out, ignore_errors=True)

    med = statistics.median
    load = " / ".join(f"{x:.1f}" for x in (*load0, *os.getloadavg()[:2]))
    items = summary.get("eval_items", {})
    lines = [
        f"`{args.corpus}`: {docs:,} documents, {mb:.1f} MB of text, {truth.height:,} with a planted eval item, "
        f"against {sum(items.values()):,} eval items ({', '.join(f'{k} {v:,}' for k, v in items.items())}), "
        f"n = {args.ngram}; {version}; {started}; {args.runs} rounds, order rotating; {os.cpu_count()} cores, "
        f"1- and 5-minute load average before / after: {load}.", "",
        "Recall of planted items (caught / planted; span mode: removed, or no 13-gram of the plant left in the text):",
        "",
    ]
    edits = sorted({e for s in scores.values() for e in s["by_edit"]}, key=lambda e: (e != "verbatim", e))
    lines += ["| method | " + " | ".join(edits) + " | all edited | right set named |",
              "| --- |" + " ---: |" * (len(edits) + 2)]
    names = {"drop": "`curate decontaminate --mode drop`", "span": "`curate decontaminate --mode span`",
             "coverage": "`curate decontaminate --mode coverage` (0.5)",
             "datatrove": "datatrove 0.10.1 NGramsDecontFilter (`datatrove_side.py`)"}
    for m in methods:
        s = scores[m]
        cells = []
        for e in edits:
            c, nn = s["by_edit"].get(e, [0, 0])
            cells.append(f"{c / nn:.3f} ({c}/{nn})" if nn else "-")
        ec = sum(v[0] for e, v in s["by_edit"].items() if e != "verbatim")
        en = sum(v[1] for e, v in s["by_edit"].items() if e != "verbatim")
        lines.append(f"| {names[m]} | " + " | ".join(cells) + f" | {ec / en:.3f} ({ec}/{en}) | "
                     f"{s['named'] / s['caught'] if s['caught'] else 0:.3f} |")
    lines += ["", "Recall by eval set:", "", "| method | " + " | ".join(sorted(scores[methods[0]]["by_set"])) + " |",
              "| --- |" + " ---: |" * len(scores[methods[0]]["by_set"])]
    for m in methods:
        s = scores[m]
        lines.append(f"| {names[m]} | " + " | ".join(f"{v[0] / v[1]:.3f} ({v[0]}/{v[1]})"
                                                      for _, v in sorted(s["by_set"].items())) + " |")
    lines += ["", "| method | clean docs | false positives (removed + changed) | share | removed | changed | "
              "flagged (named a set) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in methods:
        s = scores[m]
        lines.append(f"| {names[m]} | {s['clean']:,} | {s['fp']:,} | {s['fp'] / s['clean']:.4%} | {s['fp_removed']:,} | "
                     f"{s['fp_changed']:,} | {s['flagged']:,} |")
    lines += ["", "| method | wall s (runs) | median wall s | docs/s (median) | CPU s (median) | docs per CPU s | "
              "peak RSS MiB (min-max) | index |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for m in methods:
        rs = res[m]
        walls = [x["wall"] for x in rs]
        cpu = med([x["cpu"] for x in rs])
        rss = [x["rss"] for x in rs]
        ib = rs[0]["index_bytes"]
        lines.append(f"| {names[m]} | {' / '.join(f'{w:.2f}' for w in walls)} | {med(walls):.2f} | "
                     f"{docs / med(walls):,.0f} | {cpu:.2f} | {docs / cpu:,.0f} | {min(rss):,.0f}-{max(rss):,.0f} | "
                     f"{ib / 2**20:.1f} MiB |")
    if "datatrove" in res:
        fs = med([x["filter_s"] for x in res["datatrove"]])
        lines.append(f"\ndatatrove's filter loop alone (inside the process): {fs:.2f} s, {docs / fs:,.0f} docs/s.")
        base = [m for m in modes if m == "drop"] or modes[:1]
        if base:
            a, b = res[base[0]][0], res["datatrove"][0]
            lines.append(f"Ratio datatrove / `curate --mode {base[0]}` (first runs): wall {b['wall'] / a['wall']:.1f}x, "
                         f"CPU {b['cpu'] / a['cpu']:.1f}x, peak RSS {b['rss'] / a['rss']:.2f}x.")
    if modes:
        lines += ["", "curate's own step times, median wall s (CPU s in brackets; `OUT/_manifest.json` `steps[]`):", "",
                  "| mode | " + " | ".join(s for s, _, _ in res[modes[0]][0]["steps"]) + " | whole command |",
                  "| --- |" + " ---: |" * (len(res[modes[0]][0]["steps"]) + 1)]
        for m in modes:
            cells = [f"{med([x['steps'][k][1] for x in res[m]]):.2f} ({med([x['steps'][k][2] for x in res[m]]):.2f})"
                     for k in range(len(res[m][0]["steps"]))]
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {med([x['wall'] for x in res[m]]):.2f} |")
    c0 = res[modes[0]][0].get("counts", {}) if modes else {}
    if c0:
        lines += ["", f"Stage counts (`--mode {modes[0]}`, run 1): " + ", ".join(f"{k} {v:,}" for k, v in sorted(c0.items()))]
    for m in methods:
        s = scores[m]
        if s["fp_ids"]:
            lines.append(f"\n{names[m]}: false-positive ids (first 8): {', '.join(s['fp_ids'])}"
                         + (f"; reasons {dict(s['fp_reasons'])}" if s["fp_reasons"] else ""))
        miss = {e: v for e, v in s["misses"].items() if v}
        if miss:
            lines.append(f"{names[m]}: missed planted docs (ids by edit): "
                         + "; ".join(f"{e}: {', '.join(v[:4])}" for e, v in sorted(miss.items())))
    emit(lines, args.out)


if __name__ == "__main__":
    main()
