"""PII detection as users run it: `curate pii` against datatrove's PIIFormatter, accuracy and speed.

Each round runs both as subprocesses, one after the other, alternating which goes first:

  curate     `curate pii CORPUS/corpus.parquet -o OUT --default-policy tag_only --spans --workers 1 -q`
             (every detector on; tag_only keeps the text as it is, so the spans in ``pii_spans``
             are offsets into the planted text)
  datatrove  `/tmp/dtvenv/bin/python benchmarks/pii/datatrove_side.py CORPUS/corpus.parquet OUT`
             (``PIIFormatter().format`` per document: emails and public IPv4 only)

Scoring (``build_pii_corpus.py`` wrote the truth): a detection matches a planted value when it has
the same type and their character ranges overlap. Per type: precision = matching detections /
detections, recall = planted values matched / planted values. A detection that overlaps no
planted value but whose text curate also detects in the same document before planting
(CORPUS/source.parquet, run once, untimed) is PII that was already in the real text: it is
counted apart ("pre-existing"), neither TP nor FP; datatrove's detections are judged against the
same pre-existing set (curate's detections before planting, by document and text). Hard negatives: a negative counts as a false
positive when any detection, of any type, overlaps it (per kind, share of that kind's negatives).

Speed: wall seconds of the whole process, CPU seconds of its process tree (user + system of every
reaped descendant), docs/s and docs per CPU second, peak RSS of the process tree (sampled every
50 ms, ``benchmarks/_measure.py``); medians of ``--runs``.

With ``--real PATH`` (e.g. real_docs.parquet) it also runs `curate pii` once on ``--real-docs``
unmodified real documents (a seeded sample), counts detections per type, and writes a seeded
random sample of at most ``--sample`` detections with context to ``--sample-out`` for review.

    python benchmarks/pii/bench_pii.py benchmarks/_work/pii-100k --runs 3 \\
        [--real /work/shared/data/real_docs.parquet] [--out benchmarks/pii/RESULTS-pii.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
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
TYPES = ("email", "phone", "ipv4", "ipv6", "credit_card", "iban", "secret")
DT_TYPES = ("email", "ipv4")


# ------------------------------------------------------------------------------- curate output

def curate_cmd(curate: str, inp: Path, out: Path, workers: int) -> list[str]:
    return [curate, "pii", str(inp), "-o", str(out), "--default-policy", "tag_only", "--spans",
            "--workers", str(workers), "-q"]


def norm_type(label: str, value: str) -> str:
    """curate's label -> the corpus's type (secret kinds fold into ``secret``)."""
    t = label.lower()
    if t in TYPES:
        return t
    if t in ("ip", "ip_address", "ipaddress"):
        return "ipv6" if ":" in value else "ipv4"
    if t in ("phone_number", "telephone"):
        return "phone"
    if t in ("card", "creditcard", "credit_card_number", "payment_card"):
        return "credit_card"
    if t in ("email_address",):
        return "email"
    return "secret"


def data_files(out: Path) -> list[Path]:
    manifest = json.loads((out / "_manifest.json").read_text())
    names = manifest.get("curate_dataset", {}).get("data_files") or [p.name for p in out.glob("*.parquet")]
    return [out / n for n in names]


def curate_spans(out: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """(id, start, end, type, label, value) of every detection, and id -> text of the output."""
    rows: dict[str, list] = {"id": [], "start": [], "end": [], "type": [], "label": [], "value": []}
    texts: dict[str, str] = {}
    for f in data_files(out):
        df = pl.read_parquet(f, columns=["id", "text", "pii_spans"])
        for i, text, spans in zip(df["id"].to_list(), df["text"].to_list(), df["pii_spans"].to_list(), strict=True):
            texts[i] = text
            for s in spans or []:
                label = s.get("type") or s.get("label") or s.get("kind") or ""
                a, b = int(s["start"]), int(s["end"])
                v = text[a:b]
                rows["id"].append(i), rows["start"].append(a), rows["end"].append(b)
                rows["type"].append(norm_type(label, v)), rows["label"].append(label), rows["value"].append(v)
    schema = {"id": pl.String, "start": pl.Int64, "end": pl.Int64, "type": pl.String, "label": pl.String,
              "value": pl.String}
    return pl.DataFrame(rows, schema=schema), texts


# ------------------------------------------------------------------------------- scoring

def _overlaps(dets: pl.DataFrame, spans: pl.DataFrame, same_type: bool) -> pl.DataFrame:
    """Rows of the join (detection x span) of the same document whose ranges overlap."""
    keys = ["id", "type"] if same_type else ["id"]
    j = dets.with_row_index("det").join(spans.with_row_index("span"), on=keys, how="inner", suffix="_s")
    return j.filter((pl.col("start") < pl.col("end_s")) & (pl.col("start_s") < pl.col("end")))


def score(dets: pl.DataFrame, truth: pl.DataFrame, negs: pl.DataFrame, pre: set[tuple[str, str]],
          types: tuple[str, ...]) -> dict:
    """Per type (tp, fp, pre, planted, found), per negative kind (n, hit) and per truth subtype recall."""
    dets = dets.select("id", "start", "end", "type", "value")
    tr = truth.select("id", "start", "end", "type", "subtype")
    hit = _overlaps(dets, tr, True)
    good_det = set(hit["det"].to_list())
    found_span = set(hit["span"].to_list())
    out: dict = {"types": {}, "neg": {}, "subtypes": {}, "fp_examples": defaultdict(list)}
    det_rows = dets.with_row_index("det").to_dicts()
    per = defaultdict(lambda: Counter())
    for d in det_rows:
        c = per[d["type"]]
        if d["det"] in good_det:
            c["tp"] += 1
        elif (d["id"], d["value"]) in pre:
            c["pre"] += 1
        else:
            c["fp"] += 1
            if len(out["fp_examples"][d["type"]]) < 8:
                out["fp_examples"][d["type"]].append((d["id"], d["value"]))
    tr_rows = tr.with_row_index("span").to_dicts()
    planted, found = Counter(), Counter()
    sub_n, sub_f = Counter(), Counter()
    misses = defaultdict(list)
    for s in tr_rows:
        planted[s["type"]] += 1
        key = (s["type"], s["subtype"].split(":")[0] if s["type"] in ("credit_card", "iban", "secret") else s["subtype"])
        sub_n[key] += 1
        if s["span"] in found_span:
            found[s["type"]] += 1
            sub_f[key] += 1
        elif len(misses[s["type"]]) < 8:
            misses[s["type"]].append(s["id"])
    for t in types:
        c = per[t]
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
        r = found[t] / planted[t] if planted[t] else float("nan")
        f = 2 * p * r / (p + r) if p + r > 0 else float("nan")
        out["types"][t] = {"tp": c["tp"], "fp": c["fp"], "pre": c["pre"], "planted": planted[t],
                           "found": found[t], "p": p, "r": r, "f1": f}
    out["other_types"] = {t: dict(per[t]) for t in per if t not in types}
    nh = _overlaps(dets.select("id", "start", "end", "type"), negs.select("id", "start", "end", "kind"), False)
    neg_hit = set(nh["span"].to_list())
    kinds = negs["kind"].to_list()
    n_by, hit_by = Counter(kinds), Counter(k for i, k in enumerate(kinds) if i in neg_hit)
    by_det_type = Counter((r["kind"], r["type"]) for r in nh.select("kind", "type").to_dicts())
    for k in sorted(n_by):
        out["neg"][k] = {"n": n_by[k], "hit": hit_by[k],
                         "as": ", ".join(f"{t} {c}" for (kk, t), c in sorted(by_det_type.items()) if kk == k)}
    out["subtypes"] = {k: (sub_f[k], sub_n[k]) for k in sorted(sub_n)}
    out["misses"] = dict(misses)
    return out


# ------------------------------------------------------------------------------- helpers

def code_version() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    status = git("status", "--porcelain", "--untracked-files=all", "src", "setup.py", "pyproject.toml")
    dirty = sorted({"/".join(line[3:].split("/")[:4]) for line in status.splitlines() if line.strip()})
    if not dirty:
        return f"commit `{head}`"
    return f"commit `{head}` plus uncommitted changes to {', '.join(f'`{d}`' for d in dirty)}"


def steps_of(out: Path) -> list[tuple[str, float, float]]:
    manifest = json.loads((out / "_manifest.json").read_text())
    return [(s["stage"], s.get("wall_seconds", 0.0), s.get("counts", {}).get("cpu_seconds", 0.0))
            for s in manifest.get("steps", [])]


def timed(cmd: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, tree, _ = measure(cmd, REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rss": tree / 2**20}


def fmt3(x: float) -> str:
    return "-" if x != x else f"{x:.3f}"


def real_text(args: argparse.Namespace, work: Path) -> list[str]:
    """Section 3: curate pii over unmodified real documents; counts and a sample to review."""
    df = pl.read_parquet(args.real, columns=["id", "text", "source"])
    df = df.sample(min(args.real_docs, df.height), seed=args.seed, shuffle=True)
    inp = work / "real-input.parquet"
    df.write_parquet(inp)
    out = work / "real-out"
    shutil.rmtree(out, ignore_errors=True)
    t = timed(curate_cmd(args.curate, inp, out, 1))
    dets, texts = curate_spans(out)
    src = dict(zip(df["id"].to_list(), df["source"].to_list(), strict=True))
    counts = dets.group_by("label").agg(pl.len().alias("n"), pl.col("id").n_unique().alias("docs")).sort("n", descending=True)
    rows = dets.to_dicts()
    rng = random.Random(args.seed)
    # stratified: every label gets up to a fair share (rare labels all their detections), seeded
    by_label: dict[str, list[int]] = defaultdict(list)
    for k, d in enumerate(rows):
        by_label[d["label"]].append(k)
    sample, left = [], args.sample
    for n_left, label in enumerate(sorted(by_label, key=lambda lab: len(by_label[lab])), start=0):
        share = left // (len(by_label) - n_left)
        got = rng.sample(by_label[label], min(share, len(by_label[label])))
        sample += got
        left -= len(got)
    sample.sort()
    lines = [f"# `curate pii` on {df.height:,} unmodified real documents: a random sample of detections",
             "", f"Source `{args.real}`, seed {args.seed}; {len(rows):,} detections, {len(sample)} shown "
             "(stratified by label: each label up to an equal share of the sample, rare labels whole; 40 characters "
             "of context each side, the detection in [[ ]]).", ""]
    for k in sample:
        d = rows[k]
        text = texts[d["id"]]
        a, b = d["start"], d["end"]
        ctx = (text[max(0, a - 40):a] + "[[" + text[a:b] + "]]" + text[b:b + 40]).replace("\n", "⏎")
        lines.append(f"{k}. `{d['label']}` in {d['id']} ({src.get(d['id'], '?')}): `{ctx}`")
    Path(args.sample_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.sample_out).write_text("\n".join(lines) + "\n")
    by_source = dets.with_columns(pl.col("id").replace_strict(src, default="?").alias("source")).group_by(
        "label", "source").len().sort("label", "source")
    out_lines = [
        "", f"Unmodified real text: {df.height:,} documents of `{Path(args.real).name}` (seeded sample), "
        f"one run, {t['wall']:.2f} s wall, {t['cpu']:.2f} CPU s, {t['rss']:.0f} MiB; sample of "
        f"{len(sample)} detections for review in `{args.sample_out}`.", "",
        "| label | detections | documents | by source |", "| --- | ---: | ---: | --- |"]
    for label, n, nd in counts.rows():
        bs = ", ".join(f"{s} {c}" for lab, s, c in by_source.rows() if lab == label)
        out_lines.append(f"| {label} | {n:,} | {nd:,} | {bs} |")
    return out_lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--curate", default=str(Path(sys.executable).parent / "curate"))
    ap.add_argument("--datatrove-python", default="/tmp/dtvenv/bin/python",
                    help="Python of a venv with datatrove (empty: skip the peer)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/pii-bench-work"))
    ap.add_argument("--real", help="Parquet of real documents for the unmodified-text section")
    ap.add_argument("--real-docs", type=int, default=20_000)
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--sample-out", default="benchmarks/pii/real-text-sample.md")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="append the tables to this file")
    ap.add_argument("--real-only", action="store_true", help="only the unmodified-text section")
    args = ap.parse_args()
    if args.real_only:
        args.workdir.mkdir(parents=True, exist_ok=True)
        emit(real_text(args, args.workdir), args.out)
        return
    corpus = args.corpus / "corpus.parquet"
    truth = pl.read_parquet(args.corpus / "truth.parquet")
    negs = pl.read_parquet(args.corpus / "negatives.parquet")
    cdf = pl.read_parquet(corpus, columns=["id", "text"])
    texts = dict(zip(cdf["id"].to_list(), cdf["text"].to_list(), strict=True))
    docs = cdf.height
    mb = pl.read_parquet(corpus, columns=["text"])["text"].str.len_bytes().sum() / 1e6
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load0 = os.getloadavg()[:2]
    version = code_version()

    # pre-existing PII: curate on the documents before planting (untimed)
    pre_out = work / "source-out"
    shutil.rmtree(pre_out, ignore_errors=True)
    timed(curate_cmd(args.curate, args.corpus / "source.parquet", pre_out, 1))
    pre_dets, _ = curate_spans(pre_out)
    pre = set(zip(pre_dets["id"].to_list(), pre_dets["value"].to_list(), strict=True))
    shutil.rmtree(pre_out, ignore_errors=True)

    methods = ["curate"] + (["datatrove"] if args.datatrove_python else [])
    res: dict[str, list[dict]] = {m: [] for m in methods}
    scores: dict[str, dict] = {}
    for r in range(args.runs):
        for m in methods if r % 2 == 0 else methods[::-1]:
            out = work / f"{m}-out"
            shutil.rmtree(out, ignore_errors=True)
            if m == "curate":
                t = timed(curate_cmd(args.curate, corpus, out, 1))
                dets, _ = curate_spans(out)
                t["steps"] = steps_of(out)
                labels = dets.group_by("label", "type").len().sort("label").rows()
            else:
                t = timed([args.datatrove_python, str(HERE / "datatrove_side.py"), str(corpus), str(out)])
                dets = pl.read_parquet(out / "spans.parquet")
                dets = dets.with_columns(pl.Series("value", [texts[i][a:b] for i, a, b in dets.select(
                    "id", "start", "end").iter_rows()], dtype=pl.String))
                t["loop"] = json.loads((out / "stats.json").read_text())["loop_seconds"]
            if m not in scores:
                scores[m] = score(dets, truth, negs, pre,
                                  TYPES if m == "curate" else DT_TYPES)
                if m == "curate":
                    scores[m]["labels"] = labels
            res[m].append(t)
            print(f"run {r + 1} {m}: {t['wall']:.2f} s wall, {t['cpu']:.2f} CPU s, {t['rss']:.0f} MiB",
                  file=sys.stderr)
            shutil.rmtree(out, ignore_errors=True)

    med = statistics.median
    load = " / ".join(f"{x:.1f}" for x in (*load0, *os.getloadavg()[:2]))
    n = args.runs
    lines = [
        f"`{args.corpus}`: {docs:,} documents, {mb:.1f} MB of text, {truth.height:,} planted values, "
        f"{negs.height:,} hard negatives; {version}; {started}; {n} rounds, order alternating (round 1: curate "
        f"first); {os.cpu_count()} cores, 1- and 5-minute load average before / after: {load}.", "",
        "Accuracy per type (a detection matches a planted value of the same type that it overlaps; "
        "`pre-existing`: detections of PII already in the real text, found by the same command on the "
        "documents before planting, left out of precision):", "",
        "| type | planted | curate P | curate R | curate F1 | curate FP | pre-existing | datatrove P | "
        "datatrove R | datatrove F1 | datatrove FP |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    cs, ds = scores["curate"], scores.get("datatrove")
    for t in TYPES:
        c = cs["types"][t]
        d = ds["types"].get(t) if ds else None
        dcols = (f"{fmt3(d['p'])} | {fmt3(d['r'])} | {fmt3(d['f1'])} | {d['fp']:,}" if d else "- | - | - | -")
        lines.append(f"| {t} | {c['planted']:,} | {fmt3(c['p'])} | {fmt3(c['r'])} | {fmt3(c['f1'])} | "
                     f"{c['fp']:,} | {c['pre']:,} | {dcols} |")
    if cs["other_types"]:
        lines += ["", "Detections of types outside the corpus's: " + ", ".join(
            f"{t} {dict(v)}" for t, v in cs["other_types"].items())]
    lines += ["", "Hard negatives flagged (any detection overlapping one; curate's detections by type):", "",
              "| kind | negatives | curate flagged | share | as | datatrove flagged | share |",
              "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
    for k, v in cs["neg"].items():
        dv = ds["neg"][k] if ds else None
        dcols = f"{dv['hit']:,} | {dv['hit'] / v['n']:.3f}" if dv else "- | -"
        lines.append(f"| {k} | {v['n']:,} | {v['hit']:,} | {v['hit'] / v['n']:.3f} | {v['as']} | {dcols} |")
    lines += ["", "curate recall by subtype (phone: region and format; card: brand; iban: country; secret: kind):",
              "", "| type | subtype | found / planted | recall |", "| --- | --- | ---: | ---: |"]
    for (t, sub), (f, nn) in cs["subtypes"].items():
        if f < nn or t in ("phone", "secret"):
            lines.append(f"| {t} | {sub} | {f:,} / {nn:,} | {f / nn:.3f} |")
    lines += ["", "curate labels seen: " + ", ".join(f"`{lab}` -> {t} ({c:,})" for lab, t, c in cs["labels"])]
    lines += ["", "| command | wall s (" + " / ".join(str(i + 1) for i in range(n)) + ") | median wall s | "
              "docs/s (median) | CPU s (median) | docs per CPU s | peak RSS MiB (min-max) |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    names = {"curate": "`curate pii --workers 1` (all detectors, tag_only, spans)",
             "datatrove": "datatrove 0.10.1 `PIIFormatter` (email + public IPv4), `datatrove_side.py`"}
    for m in methods:
        rs = res[m]
        walls = [x["wall"] for x in rs]
        rss = [x["rss"] for x in rs]
        cpu = med([x["cpu"] for x in rs])
        lines.append(f"| {names[m]} | {' / '.join(f'{w:.2f}' for w in walls)} | {med(walls):.2f} | "
                     f"{docs / med(walls):,.0f} | {cpu:.2f} | {docs / cpu:,.0f} | {min(rss):,.0f}-{max(rss):,.0f} |")
    if "datatrove" in res:
        loop = med([x["loop"] for x in res["datatrove"]])
        lines.append(f"\ndatatrove's `format` loop alone (inside the process, median): {loop:.2f} s, "
                     f"{docs / loop:,.0f} docs/s.")
        lines += ["", "| ratio, datatrove / curate | " + " | ".join(f"run {i + 1}" for i in range(n)) + " | median |",
                  "| --- |" + " ---: |" * (n + 1)]
        for key, label in (("wall", "wall time"), ("cpu", "CPU time"), ("rss", "peak RSS")):
            ratios = [b[key] / a[key] for a, b in zip(res["curate"], res["datatrove"], strict=True)]
            lines.append(f"| {label} | " + " | ".join(f"{x:.2f}x" for x in ratios) + f" | {med(ratios):.2f}x |")
    st = res["curate"][0]["steps"]
    lines += ["", "curate's own step times, median wall s (CPU s in brackets; `OUT/_manifest.json` `steps[]`): "
              + ", ".join(f"{name} {med([x['steps'][k][1] for x in res['curate']]):.2f} "
                          f"({med([x['steps'][k][2] for x in res['curate']]):.2f})" for k, (name, _, _) in enumerate(st))
              + f"; whole command {med([x['wall'] for x in res['curate']]):.2f}."]
    fp_ex = {t: v for t, v in cs["fp_examples"].items() if v}
    if fp_ex:
        lines += ["", "Examples of curate false positives (id, text):", ""]
        for t, v in fp_ex.items():
            lines.append(f"- {t}: " + "; ".join(f"{i} `{x[:80]}`" for i, x in v[:5]))
    miss = {t: v for t, v in cs["misses"].items() if v}
    if miss:
        lines += ["", "Examples of missed planted values (type: value):", ""]
        tv = truth.select("id", "type", "value")
        for t, ids in miss.items():
            vals = tv.filter((pl.col("type") == t) & pl.col("id").is_in(ids[:5]))["value"].to_list()
            lines.append(f"- {t}: " + "; ".join(f"`{x[:80]}`" for x in vals[:5]))
    if args.real:
        lines += real_text(args, work)
    emit(lines, args.out)


if __name__ == "__main__":
    main()
