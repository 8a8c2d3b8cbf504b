"""ARC files (the format before WARC): records become documents as WARC responses do."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import read_dir, read_rejected

PAGE = "<html><body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1><p>{body}</p></article></body></html>"
_VERSION_BLOCK = b"1 0 Test Crawler\nURL IP-address Archive-date Content-type Archive-length\n"
FILEDESC = b"filedesc://crawl.arc 0.0.0.0 19960923142103 text/plain %d\n%s\n" % (len(_VERSION_BLOCK), _VERSION_BLOCK)


def arc_record(url: str, content: bytes, ctype: str = "text/html", date: str = "19961104142103", v2: bool = False) -> bytes:
    fields = [url, "192.0.2.1", date, ctype] + (["200", "-", "-", "0", "crawl.arc"] if v2 else []) + [str(len(content))]
    return (" ".join(fields) + "\n").encode() + content + b"\n"


def http(html: bytes, ctype: str = "text/html; charset=utf-8") -> bytes:
    return f"HTTP/1.0 200 OK\r\nContent-Type: {ctype}\r\n\r\n".encode() + html


def page(title: str) -> bytes:
    return PAGE.format(title=title, body=f"The main text of page {title}, long enough to be kept as content by the extractor.").encode()


def ingest(cli, tmp_path: Path, path: Path, *extra: str) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    out = tmp_path / "out"
    result = cli("ingest", path, "-o", out, "--workers", "1", "--quiet", "--overwrite", *extra)
    assert result.exit_code == 0, result.output
    counters = json.loads((out / "_manifest.json").read_text())["steps"][0]["counts"]["counters"]
    return read_dir(out), read_rejected(out), counters


def test_arc_records_become_documents_with_url_date_and_type(cli, tmp_path: Path) -> None:
    arc = tmp_path / "crawl.arc"
    latin = http("<html><body><article><p>Caf\u00e9 cr\u00e8me, a page in a legacy charset, with enough words to be main text.</p></article></body></html>".encode("latin-1"), "text/html; charset=ISO-8859-1")
    arc.write_bytes(FILEDESC + arc_record("http://ex.com/a", http(page("A"))) + arc_record("http://ex.com/b", latin, v2=True))
    kept, rejected, counters = ingest(cli, tmp_path, arc)
    rows = {r["url"]: r for r in kept.to_dicts()}
    assert set(rows) == {"http://ex.com/a", "http://ex.com/b"} and rejected.height == 0
    assert rows["http://ex.com/a"]["crawl_date"] == "1996-11-04T14:21:03Z"
    assert rows["http://ex.com/a"]["content_type"] == "text/html" and "main text of page A" in rows["http://ex.com/a"]["text"]
    assert "Café crème" in rows["http://ex.com/b"]["text"]
    assert counters["arc_skipped_filedesc"] == 1


def test_gzipped_arc_with_a_member_per_record_reads_the_same(cli, tmp_path: Path) -> None:
    records = [FILEDESC, arc_record("http://ex.com/a", http(page("A"))), arc_record("http://ex.com/b", http(page("B")))]
    (tmp_path / "plain.arc").write_bytes(b"".join(records))
    (tmp_path / "members.arc.gz").write_bytes(b"".join(gzip.compress(r) for r in records))
    plain, _, _ = ingest(cli, tmp_path / "p", tmp_path / "plain.arc")
    zipped, _, _ = ingest(cli, tmp_path / "z", tmp_path / "members.arc.gz")
    assert plain.select("url", "text").equals(zipped.select("url", "text"))


def test_non_html_records_are_counted_or_rejected(cli, tmp_path: Path) -> None:
    arc = tmp_path / "crawl.arc"
    arc.write_bytes(arc_record("http://ex.com/a", http(page("A"))) + arc_record("http://ex.com/logo.png", http(b"\x89PNG....", "image/png")))
    kept, _, counters = ingest(cli, tmp_path, arc)
    assert kept.height == 1 and counters["warc_skipped_non_html"] == 1
    _, rejected, _ = ingest(cli, tmp_path / "r", arc, "--non-html", "reject")
    assert rejected["reject_reason"].to_list() == ["not_html"]


def test_a_damaged_header_is_rejected_with_its_offset_and_reading_resumes(cli, tmp_path: Path) -> None:
    good_a = arc_record("http://ex.com/a", http(page("A")))
    broken = b"this line is no header\n" + http(page("lost")) + b"\n"
    good_b = arc_record("http://ex.com/b", http(page("B")))
    arc = tmp_path / "crawl.arc"
    arc.write_bytes(good_a + broken + good_b)
    kept, rejected, _ = ingest(cli, tmp_path, arc)
    assert kept["url"].to_list() == ["http://ex.com/a", "http://ex.com/b"]
    assert rejected["reject_reason"].to_list() == ["damaged_file"]
    assert f"at byte offset {len(good_a):,}" in rejected["reject_detail"][0] and "resumed at the next record" in rejected["reject_detail"][0]


def test_a_record_cut_short_is_rejected(cli, tmp_path: Path) -> None:
    whole = arc_record("http://ex.com/a", http(page("A")))
    cut = arc_record("http://ex.com/b", http(page("B")))[:-40]
    arc = tmp_path / "crawl.arc"
    arc.write_bytes(whole + cut)
    kept, rejected, _ = ingest(cli, tmp_path, arc)
    assert kept["url"].to_list() == ["http://ex.com/a"]
    assert "record cut short" in rejected["reject_detail"][0] and f"offset {len(whole):,}" in rejected["reject_detail"][0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["html", "png"]), st.binary(min_size=1, max_size=60)), max_size=8))
def test_every_record_is_kept_skipped_or_rejected(tmp_path_factory, parts: list) -> None:
    """Whatever the bytes between records, every good record is read and nothing is raised."""
    from curate.html.options import HtmlOptions
    from curate.io.arc import read_arc
    from curate.io.discovery import InputFile

    tmp = tmp_path_factory.mktemp("arc")
    blob, expected = b"", 0
    for i, p in enumerate(parts):
        if p == "html":
            blob += arc_record(f"http://ex.com/{i}", http(page(str(i))))
            expected += 1
        elif p == "png":
            blob += arc_record(f"http://ex.com/{i}.png", http(b"\x89PNG", "image/png"))
        else:
            blob += p.replace(b"\n", b" ") + b"\n"  # a stray line: never a header (no URL scheme)
    path = tmp / "x.arc"
    path.write_bytes(blob)
    f = InputFile(str(path), "x.arc", "warc", None, len(blob), 0)
    chunks = list(read_arc(f, HtmlOptions(), "skip", 1000))
    kept = sum(c.table.num_rows for c in chunks if c.table is not None)
    damaged = sum(1 for c in chunks for b in c.bad if b.reason == "damaged_file")
    no_content = sum(1 for c in chunks for b in c.bad if b.reason == "no_main_content")
    assert kept + no_content == expected
    assert damaged <= sum(1 for p in parts if isinstance(p, bytes))
