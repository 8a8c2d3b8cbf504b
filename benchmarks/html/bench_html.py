"""HTML extraction benchmark: real manual pages packed into a WARC, each extractor and the union.

Pages: the HTML manual of a Debian ``*-doc`` package (default: PostgreSQL 15's, from
``postgresql-doc-15``; `make bench-html` installs it). They are packed with warcio into a gzipped
WARC as a crawl would be (a ``warcinfo`` record, then a ``request`` and a ``response`` record per
page) and read back through the product's path: ``curate.io.web.read_warc`` with the watchdog
process, as `curate ingest crawl.warc.gz` reads it.

Reference text: the page's own main text, known from its DocBook structure: everything in
``<body>`` except the ``navheader`` and ``navfooter`` blocks or ``nav`` tables (the "Prev / Up /
Home / Next" bars; `--pages /usr/share/doc/valgrind/html` is a second DocBook manual, held out),
scripts and styles, its text nodes joined by spaces. Scores are word-level (lowercased ``\\w+``
tokens, as multisets), micro-averaged over pages: precision = shared words / extracted words,
recall = shared words / reference words.

A second reference, when given (``--shared``): the plain-text corpus made from the same manual
(``real_docs.parquet``, source ``postgresql_docs``: every page's text in chunks, navigation
bars included), its chunks joined per page; only pages present there are scored against it.

Speed: pages per second per core = pages / CPU seconds of this process and the watchdog process
together, once the watchdog has started and imported its extractor (a once-per-worker cost of
~0.2 s, or ~1 s with trafilatura), median of the rounds; modes run in a rotating order each round. Also shown: the extractor alone, in this
process (no WARC, no watchdog), on the same pages.
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import re
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from curate.html import watchdog
from curate.html.extract import EXTRACT, decode, extract_page
from curate.html.options import HtmlOptions
from curate.html.watchdog import extract_pages
from curate.io.discovery import InputFile
from curate.io.web import read_warc

WORD = re.compile(r"\w+")
MODES = {
    "resiliparse": HtmlOptions(extractor="resiliparse"),
    "trafilatura": HtmlOptions(extractor="trafilatura"),
    "justext": HtmlOptions(extractor="justext"),
    "union (trafilatura, resiliparse)": HtmlOptions(extractor="union", union_of=["trafilatura", "resiliparse"]),
}
BASE_URL = "https://www.postgresql.org/docs/15/"


def build_warc(pages: list[tuple[str, bytes]], path: Path) -> None:
    """Pages -> a gzipped WARC with warcinfo, request and response records (warcio)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "curate bench_html"}))
        for name, data in pages:
            url = BASE_URL + name
            req = StatusAndHeaders("GET /docs/15/" + name + " HTTP/1.1", [("Host", "www.postgresql.org")], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", http_headers=req))
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=UTF-8")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(data), http_headers=headers))


def reference(data: bytes) -> Counter[str]:
    """The words of a page's main text, from its DocBook structure (see the module docstring)."""
    import lxml.html

    tree = lxml.html.fromstring(data)
    drop = (
        '//head|//script|//style|//div[contains(concat(" ",@class," ")," navheader ")]'
        '|//div[contains(concat(" ",@class," ")," navfooter ")]|//table[@class="nav"]'
    )
    for el in tree.xpath(drop):
        el.drop_tree()
    return Counter(WORD.findall(" ".join(tree.itertext()).lower()))


def score(texts: dict[str, str], refs: dict[str, Counter[str]]) -> tuple[float, float, int]:
    shared = got = want = 0
    for url, ref in refs.items():
        words = Counter(WORD.findall(texts.get(url, "").lower()))
        shared += sum((words & ref).values())
        got += sum(words.values())
        want += sum(ref.values())
    return shared / max(got, 1), shared / max(want, 1), len(texts)


def shared_reference(path: str, names: set[str]) -> dict[str, Counter[str]]:
    """Words per page of the shared plain-text corpus of the same manual (empty if absent)."""
    if not os.path.isfile(path):
        return {}
    import polars as pl

    docs = (
        pl.scan_parquet(path)
        .filter(pl.col("source") == "postgresql_docs")
        .select(pl.col("origin").str.split("#").list.first().alias("page"), pl.col("origin").str.split("#").list.last().cast(pl.Int64).alias("part"), "text")
        .collect()
        .sort("page", "part")
        .group_by("page", maintain_order=True)
        .agg(pl.col("text").str.join("\n"))
    )
    found = {BASE_URL + p: Counter(WORD.findall(t.lower())) for p, t in docs.iter_rows() if p in names}
    return found if len(found) * 2 >= len(names) else {}  # another manual: its pages are not in the corpus


def union_sweep(pref: dict[str, str], other: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """The union's output under other margins (and the ratio rule it replaced), from the two outputs."""
    from curate.html.extract import pick_union

    out = []
    for margin in (0, 10, 20, 30, 40, 50, 80):
        picked = {u: pick_union(("a", pref.get(u, "")), ("b", other.get(u, "")), margin)[1] for u in set(pref) | set(other)}
        out.append((f"margin {margin}" + (" (default)" if margin == HtmlOptions().union_margin_words else ""), picked))
    for ratio in (0.5, 1.0):
        picked = {}
        for u in set(pref) | set(other):
            a, b = pref.get(u, ""), other.get(u, "")
            picked[u] = b if len(a.split()) < ratio * len(b.split()) else a
        out.append((f"ratio {ratio} (other kept when the preferred has fewer than {ratio} x its words)", picked))
    return out


def cpu() -> float:
    """CPU seconds of this process and its watchdog processes (the running one, and those
    restarted after a timeout: reaped, so in RUSAGE_CHILDREN)."""
    import psutil

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    proc = watchdog._watchdog().proc
    if proc is not None and proc.poll() is None:
        t = psutil.Process(proc.pid).cpu_times()
        total += t.user + t.system
    return total


def run_warc(warc: Path, opts: HtmlOptions) -> tuple[dict[str, str], Counter[str], float, float]:
    """Read the WARC through the product's reader: (text by url, winners and rejections, CPU s, wall s)."""
    st = warc.stat()
    f = InputFile(str(warc), warc.name, "warc", "gzip", st.st_size, st.st_mtime_ns)
    extract_pages([(b"<html><body><p>warm-up</p></body></html>", None)], opts)  # start-up outside the clock
    c0, w0 = cpu(), time.perf_counter()
    texts: dict[str, str] = {}
    tally: Counter[str] = Counter()
    for chunk in read_warc(f, opts, "skip", 1_000_000):
        table = chunk.table
        if table.num_rows:
            for url, text, ex in zip(table.column("url").to_pylist(), table.column("text").to_pylist(), table.column("html_extractor").to_pylist(), strict=True):
                texts[url] = text
                tally[ex] += 1
        for bad in chunk.bad:
            tally["rejected: " + bad.reason] += 1
    return texts, tally, cpu() - c0, time.perf_counter() - w0


def run_inline(pages: list[tuple[str, bytes]], name: str) -> float:
    """CPU seconds of one extractor alone on every page, in this process."""
    opts = HtmlOptions(extractor=name, timeout_s=0)
    EXTRACT[name](decode(pages[0][1])[0], opts)  # imports outside the clock
    c0 = cpu()
    for _, data in pages:
        extract_page(data, None, opts)
    return cpu() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", default="/usr/share/doc/postgresql-doc-15/html", help="folder of HTML pages")
    ap.add_argument("--work", default="benchmarks/_work/html", help="folder for the WARC")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N pages (0: all)")
    ap.add_argument("--out", help="write the Markdown results here")
    ap.add_argument("--shared", default="/work/shared/data/real_docs.parquet", help="the shared plain-text corpus (optional second reference)")
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.pages, "*.html")))
    if not files:
        sys.exit(f"no HTML pages in {args.pages}: install postgresql-doc-15 (`make bench-html` does) or pass --pages")
    if args.limit:
        files = files[: args.limit]
    pages = [(os.path.basename(p), Path(p).read_bytes()) for p in files]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    warc = work / "pages.warc.gz"
    build_warc(pages, warc)
    refs = {BASE_URL + name: reference(data) for name, data in pages}
    shared = shared_reference(args.shared, {name for name, _ in pages})
    mb = sum(len(d) for _, d in pages) / 1e6
    print(f"{len(pages)} pages, {mb:.1f} MB of HTML, WARC {warc.stat().st_size / 1e6:.1f} MB", file=sys.stderr)

    speed: dict[str, list[float]] = {m: [] for m in MODES}
    inline: dict[str, list[float]] = {m: [] for m in EXTRACT}
    quality: dict[str, tuple[float, float, int]] = {}
    shared_q: dict[str, tuple[float, float, int]] = {}
    seen: dict[str, set[tuple[float, float, int]]] = {m: set() for m in MODES}
    timeouts: Counter[str] = Counter()
    outputs: dict[str, dict[str, str]] = {}
    tallies: dict[str, Counter[str]] = {}
    names = list(MODES)
    for r in range(args.rounds):
        for m in names[r % len(names) :] + names[: r % len(names)]:
            texts, tally, cpu_s, wall_s = run_warc(warc, MODES[m])
            speed[m].append(len(pages) / cpu_s)
            quality[m], tallies[m] = score(texts, refs), tally
            seen[m].add(quality[m])
            outputs[m] = texts
            timeouts[m] += tally["rejected: extract_timeout"]
            if shared:
                shared_q[m] = score({u: t for u, t in texts.items() if u in shared}, shared)
            print(f"round {r + 1} {m}: {len(pages) / cpu_s:,.0f} pages/s per core ({wall_s:.1f} s wall), P={quality[m][0]:.4f} R={quality[m][1]:.4f}", file=sys.stderr)
        for name in EXTRACT:
            inline[name].append(len(pages) / run_inline(pages, name))

    lines = [
        "| mode | pages/s per core (WARC + watchdog) | extractor alone, pages/s per core | precision | recall | pages kept | kept output by extractor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in MODES:
        p, rec, kept = quality[m]
        alone = "" if MODES[m].extractor == "union" else f"{statistics.median(inline[MODES[m].extractor]):,.0f}"
        who = ", ".join(f"{k} {v}" for k, v in sorted(tallies[m].items(), key=lambda kv: str(kv[0])))
        lines.append(f"| {m} | {statistics.median(speed[m]):,.0f} | {alone} | {p:.4f} | {rec:.4f} | {kept:,} | {who} |")
    lines += ["", "The union rule's margin (trafilatura preferred, resiliparse kept when it has more than N words "
              "more), from the two extractors' outputs above:", "", "| rule | precision | recall |", "| --- | ---: | ---: |"]
    for label, texts in union_sweep(outputs["trafilatura"], outputs["resiliparse"]):
        p, rec, _ = score(texts, refs)
        lines.append(f"| {label} | {p:.4f} | {rec:.4f} |")
    if shared_q:
        lines += ["", f"Against the shared plain-text corpus of the manual ({len(shared):,} pages, navigation bars included):", "",
                  "| mode | precision | recall |", "| --- | ---: | ---: |"]
        lines += [f"| {m} | {shared_q[m][0]:.4f} | {shared_q[m][1]:.4f} |" for m in MODES]
    table = "\n".join(lines)
    print(table)
    if args.out:
        cmd = "python benchmarks/html/bench_html.py " + " ".join(sys.argv[1:])
        varied = [m for m in MODES if len(seen[m]) > 1]
        same = "precision and recall (of the last round) are the same in every round"
        if varied:
            same = (f"precision and recall are of the last round; they differed between rounds for {', '.join(varied)} "
                    f"(pages over the 2 s cap, rejected as extract_timeout, over all rounds: "
                    f"{', '.join(f'{m} {timeouts[m]}' for m in varied)})")
        Path(args.out).write_text(
            f"<!-- generated by {cmd} -->\n{table}\n\n{len(pages)} pages ({mb:.1f} MB of HTML), medians of "
            f"{args.rounds} rounds; {same}.\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
