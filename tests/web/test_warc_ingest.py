"""WARC/WET and HTML ingest: record types, metadata, charsets, damaged archives, the time cap."""

from __future__ import annotations

import codecs
import gzip
import json
import tempfile
import time
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import read_dir, read_rejected
from curate.html.options import HtmlOptions
from curate.html.watchdog import extract_pages

MAIN = "<html><head><title>T</title></head><body><nav><a href='/'>Home</a> <a href='/b'>Blog</a></nav><article><h1>{title}</h1><p>{body}</p></article></body></html>"


def page(title: str, body: str) -> bytes:
    return MAIN.format(title=title, body=body).encode()


def record(kind: str, body: bytes, uri: str | None = None, rid: str = "", ctype: str | None = None, date: str = "2024-05-06T07:08:09Z") -> bytes:
    """One WARC/1.0 record, written by hand (as any crawler writes it)."""
    head = [f"WARC-Type: {kind}", f"WARC-Record-ID: <urn:uuid:{rid or kind}>", f"WARC-Date: {date}"]
    if uri:
        head.append(f"WARC-Target-URI: {uri}")
    if ctype:
        head.append(f"Content-Type: {ctype}")
    head.append(f"Content-Length: {len(body)}")
    return ("WARC/1.0\r\n" + "\r\n".join(head) + "\r\n\r\n").encode() + body + b"\r\n\r\n"


def response(uri: str, html: bytes, rid: str, content_type: str = "text/html; charset=utf-8") -> bytes:
    http = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(html)}\r\n\r\n".encode() + html
    return record("response", http, uri, rid, "application/http; msgtype=response")


def ingest(cli, tmp_path: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    out = tmp_path / "out"
    result = cli("ingest", *inputs, "-o", out, "--workers", "1", "--quiet", "--overwrite", *extra)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "_manifest.json").read_text())
    return read_dir(out), read_rejected(out), manifest["steps"][0]["counts"]["counters"]


MIXED = [
    record("warcinfo", b"software: test-crawler\r\n", rid="info", ctype="application/warc-fields"),
    record("request", b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n", "https://example.com/a", "req", "application/http; msgtype=request"),
    response("https://example.com/a", page("Alpha", "The first page has a paragraph of real main text about alpha."), "a"),
    record("metadata", b"fetchTimeMs: 12\r\n", "https://example.com/a", "meta", "application/warc-fields"),
    response("https://example.com/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00binary", "png", "image/png"),
    record("revisit", b"HTTP/1.1 304 Not Modified\r\n\r\n", "https://example.com/a", "rev", "application/http; msgtype=response"),
    record("resource", page("Beta", "A resource record holding a saved page with its own main text."), "https://example.com/b", "b", "text/html"),
    record("conversion", "WET text of a page, already extracted: café.".encode(), "https://example.com/c", "c", "text/plain"),
]


def test_mixed_record_types_give_documents_with_metadata_and_counted_skips(cli, tmp_path: Path) -> None:
    warc = tmp_path / "crawl.warc"
    warc.write_bytes(b"".join(MIXED))
    kept, rejected, counters = ingest(cli, tmp_path, warc)
    assert rejected.height == 0
    rows = {r["warc_record_id"]: r for r in kept.to_dicts()}
    assert set(rows) == {"<urn:uuid:a>", "<urn:uuid:b>", "<urn:uuid:c>"}
    a = rows["<urn:uuid:a>"]
    assert "real main text about alpha" in a["text"] and "Blog" not in a["text"]
    assert (a["url"], a["crawl_date"], a["content_type"], a["charset"], a["html_extractor"]) == (
        "https://example.com/a", "2024-05-06T07:08:09Z", "text/html", "utf-8", "resiliparse")
    assert rows["<urn:uuid:b>"]["content_type"] == "text/html" and "saved page" in rows["<urn:uuid:b>"]["text"]
    c = rows["<urn:uuid:c>"]
    assert (c["text"], c["content_type"], c["html_extractor"]) == ("WET text of a page, already extracted: café.", "text/plain", None)
    assert {k: v for k, v in counters.items() if k.startswith("warc_")} == {
        "warc_skipped_warcinfo": 1, "warc_skipped_request": 1, "warc_skipped_metadata": 1,
        "warc_skipped_revisit": 1, "warc_skipped_non_html": 1,
    }


def test_non_html_responses_can_be_rejected_instead_of_skipped(cli, tmp_path: Path) -> None:
    warc = tmp_path / "crawl.warc"
    warc.write_bytes(b"".join(MIXED))
    kept, rejected, counters = ingest(cli, tmp_path, warc, extra=("--non-html", "reject"))
    assert kept.height == 3 and "warc_skipped_non_html" not in counters
    assert rejected["reject_reason"].to_list() == ["not_html"]
    assert "https://example.com/logo.png: content type image/png is not HTML" in rejected["reject_detail"][0]


def test_gzipped_warc_and_wet_read_like_plain(cli, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "crawl.warc").write_bytes(b"".join(MIXED))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "crawl.warc.gz").write_bytes(b"".join(gzip.compress(r) for r in MIXED))  # one member per record
    (tmp_path / "b" / "crawl.warc.wet.gz").write_bytes(gzip.compress(MIXED[-1]))
    plain, _, _ = ingest(cli, tmp_path, tmp_path / "a")
    packed, _, _ = ingest(cli, tmp_path, tmp_path / "b")
    assert sorted(packed["text"].to_list()) == sorted(plain["text"].to_list() + [plain.filter(pl.col("warc_record_id") == "<urn:uuid:c>")["text"][0]])


def test_legacy_charsets_are_detected(cli, tmp_path: Path) -> None:
    russian = "Привет, мир! Это страница на русском языке с основным текстом."
    french = "Déjà vu: à l'été, où êtes-vous allés? Très bien, merci beaucoup."
    japanese = "日本語のページです。本文はここにあります。文字コードの判定を確かめます。" * 3
    records = [
        # declared only in <meta>
        response("https://ex.ru/", f"<html><head><meta charset='windows-1251'></head><body><p>{russian}</p></body></html>".encode("cp1251"), "ru", "text/html"),
        # declared only by HTTP
        response("https://ex.fr/", f"<html><body><p>{french}</p></body></html>".encode("latin-1"), "fr", "text/html; charset=ISO-8859-1"),
        # declared nowhere: detected from the bytes
        response("https://ex.jp/", f"<html><body><p>{japanese}</p></body></html>".encode("shift_jis"), "jp", "text/html"),
    ]
    warc = tmp_path / "legacy.warc"
    warc.write_bytes(b"".join(records))
    kept, rejected, _ = ingest(cli, tmp_path, warc)
    assert rejected.height == 0
    got = dict(zip(kept["url"].to_list(), zip(kept["text"].to_list(), kept["charset"].to_list(), strict=True), strict=True))
    charset = {url: codecs.lookup(c).name for url, (_, c) in got.items()}
    assert got["https://ex.ru/"][0] == russian and charset["https://ex.ru/"] == "cp1251"
    assert got["https://ex.fr/"][0] == french and charset["https://ex.fr/"] == "cp1252"  # WHATWG: latin-1 means windows-1252
    assert got["https://ex.jp/"][0] == japanese and charset["https://ex.jp/"] in ("shift_jis", "cp932")


def test_a_damaged_record_is_rejected_with_its_offset_and_the_rest_is_read(cli, tmp_path: Path) -> None:
    a = response("https://ex.com/a", page("A", "Page a has main text that survives the damage."), "a")
    b = response("https://ex.com/b", page("B", "Page b comes after garbage and is still read."), "b")
    no_length = record("response", b"HTTP/1.1 200 OK\r\n\r\n<html></html>", "https://ex.com/x", "x").replace(b"Content-Length: ", b"Content-Lenxth: ")
    c = response("https://ex.com/c", page("C", "Page c follows a record without a length."), "c")
    d = response("https://ex.com/d", page("D", "Page d is cut short at the end of the file."), "d")
    garbage = b"this is not a WARC record\r\n\r\n"
    data = a + garbage + b + no_length + c + d[:-40]
    warc = tmp_path / "damaged.warc"
    warc.write_bytes(data)
    kept, rejected, _ = ingest(cli, tmp_path, warc)
    assert sorted(kept["url"].to_list()) == ["https://ex.com/a", "https://ex.com/b", "https://ex.com/c"]
    assert rejected["reject_reason"].to_list() == ["damaged_file"] * 3
    details = sorted(rejected["reject_detail"].to_list(), key=lambda d: int(d.split(":offset ")[1].split(":")[0]))
    at_garbage, at_no_length, at_d = len(a), len(a + garbage + b), len(a + garbage + b + no_length + c)
    assert details[0].startswith(f"damaged.warc:offset {at_garbage}: damaged WARC file: unreadable data")
    assert f"at byte offset {at_garbage:,}; {len(garbage)} bytes skipped, resumed at the next record, offset {at_garbage + len(garbage):,}" in details[0]
    assert f"a record without Content-Length at byte offset {at_no_length:,}" in details[1]
    assert "a record cut short" in details[2] and f"at byte offset {at_d:,}" in details[2] and "nothing after it could be read" in details[2]
    assert garbage.decode() in rejected["raw"].to_list()


def test_a_corrupt_gzip_member_is_rejected_and_the_next_members_read(cli, tmp_path: Path) -> None:
    members = [gzip.compress(response(f"https://ex.com/{k}", page(k, f"Main text of page {k} in its own gzip member."), k)) for k in "abc"]
    bad = bytearray(members[1])
    bad[len(bad) // 2 :] = b"\x00" * (len(bad) - len(bad) // 2)  # a member whose data turned to zeros
    warc = tmp_path / "damaged.warc.gz"
    warc.write_bytes(members[0] + bytes(bad) + members[2])
    kept, rejected, _ = ingest(cli, tmp_path, warc)
    assert sorted(kept["url"].to_list()) == ["https://ex.com/a", "https://ex.com/c"]
    assert rejected["reject_reason"].to_list() == ["damaged_file"]
    assert f"at byte offset {len(members[0]):,}" in rejected["reject_detail"][0]
    assert f"resumed at the next record, offset {len(members[0]) + len(bad):,}" in rejected["reject_detail"][0]


def test_html_files_are_one_document_each_and_boilerplate_pages_are_rejected(cli, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "index.html").write_bytes(page("Index", "The index page of the site, with a welcome paragraph."))
    (site / "docs" / "latin.htm").write_bytes("<html><head><meta charset='iso-8859-1'></head><body><p>Crème brûlée et café au lait, voilà.</p></body></html>".encode("latin-1"))
    (site / "docs" / "nav.html").write_bytes(b"<html><body><nav><a href='/'>Home</a></nav><footer>(c) 2024</footer></body></html>")
    kept, rejected, counters = ingest(cli, tmp_path, site)
    assert sorted(kept["path"].to_list()) == ["docs/latin.htm", "index.html"]
    assert kept.filter(pl.col("path") == "docs/latin.htm")["text"][0] == "Crème brûlée et café au lait, voilà."
    assert rejected["reject_reason"].to_list() == ["no_main_content"]
    assert rejected["reject_detail"][0].startswith("docs/nav.html: no main content found by resiliparse")
    assert "<nav>" in rejected["raw"][0]  # the page itself is kept in the rejected set
    assert counters["html_extractor_resiliparse"] == 2


def test_a_page_that_makes_the_extractor_spin_is_capped_and_the_next_pages_extracted() -> None:
    # resiliparse's main-content pass is quadratic in nesting depth here: 5,000 nested <div>s take
    # ~0.8 s, so these 40,000 take about a minute; the watchdog gives up after 0.5 s
    bomb = "<html><body>" + "<div>" * 40_000 + "deep" + "</div>" * 40_000 + "</body></html>"
    ok = page("Fine", "A normal page with a paragraph of main text in it.").decode()
    t0 = time.monotonic()
    pages = extract_pages([(ok, None), (bomb, None), (ok, None)], HtmlOptions(timeout_s=0.5))
    elapsed = time.monotonic() - t0
    assert [p.reason for p in pages] == [None, "extract_timeout", None]
    assert "took over timeout_s=0.5 s" in str(pages[1].detail)
    assert pages[2].text == pages[0].text and "normal page" in str(pages[0].text)
    assert elapsed < 20  # start-up of two watchdog processes and the 0.5 s cap, not the page's minute


def test_pages_over_max_bytes_are_rejected_before_parsing() -> None:
    big = "<html><body><p>" + "word " * 1000 + "</p></body></html>"
    (p,) = extract_pages([(big, None)], HtmlOptions(max_bytes=1000, timeout_s=0))
    assert (p.reason, p.detail) == ("html_too_large", f"page of {len(big):,} bytes, over max_bytes=1,000")


def test_a_url_with_credentials_is_refused_and_makes_no_local_folder(cli, tmp_path: Path) -> None:
    warc = tmp_path / "crawl.warc"
    warc.write_bytes(b"".join(MIXED))
    result = cli("ingest", warc, "-o", "s3://KEY:secret@bucket/out", "-q")
    assert result.exit_code == 2 and "credentials in a URL are refused" in result.output and "secret" not in result.output
    assert not (Path.cwd() / "s3:").exists()


def test_strict_mode_stops_at_damage_but_not_at_pages_without_main_content(cli, tmp_path: Path) -> None:
    nav_only = response("https://ex.com/nav", b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "nav")
    good = response("https://ex.com/a", page("A", "A page with main text."), "a")
    (tmp_path / "ok.warc").write_bytes(nav_only + good)
    kept, rejected, _ = ingest(cli, tmp_path, tmp_path / "ok.warc", extra=("--strict",))
    assert kept["url"].to_list() == ["https://ex.com/a"] and rejected["reject_reason"].to_list() == ["no_main_content"]
    (tmp_path / "bad.warc").write_bytes(good + b"garbage\r\n\r\n" + good)
    result = cli("ingest", tmp_path / "bad.warc", "-o", tmp_path / "o2", "--strict", "--workers", "1", "-q")
    assert result.exit_code == 1 and f"bad.warc:offset {len(good)}: damaged WARC file" in result.output


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.just("html"), st.just("wet"), st.just("request"), st.text("abcdefgh \r\n", min_size=1, max_size=40).filter(str.strip)), max_size=12),
    st.booleans(),
)
def test_every_record_is_a_document_a_counted_skip_or_inside_one_damaged_stretch(items: list[str], gz: bool) -> None:
    from curate.io.discovery import InputFile
    from curate.io.web import read_warc

    parts, urls, requests, runs, prev_garbage = [], [], 0, 0, False
    for k, item in enumerate(items):
        if item == "html":
            urls.append(f"https://ex.com/{k}")
            data = response(urls[-1], page(str(k), f"Main text number {k} of this page."), str(k))
        elif item == "wet":
            urls.append(f"https://ex.com/{k}")
            data = record("conversion", f"Text {k}, already extracted.".encode(), urls[-1], f"w{k}", "text/plain")
        elif item == "request":
            requests += 1
            data = record("request", b"GET / HTTP/1.1\r\n\r\n", f"https://ex.com/{k}", f"r{k}", "application/http; msgtype=request")
        else:
            data = item.encode()
            runs += not prev_garbage
        prev_garbage = item not in ("html", "wet", "request")
        parts.append(gzip.compress(data) if gz and not prev_garbage else data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("x.warc.gz" if gz else "x.warc")
        path.write_bytes(b"".join(parts))
        f = InputFile(str(path), path.name, "warc", "gzip" if gz else None, path.stat().st_size, 0)
        chunks = list(read_warc(f, HtmlOptions(timeout_s=0), "skip", 1000)) if path.stat().st_size else []
    got = [u for c in chunks for u in (c.table.column("url").to_pylist() if c.table.num_rows else [])]
    bad = [b for c in chunks for b in c.bad]
    assert got == urls  # file order, WET text and extracted pages alike
    assert [b.reason for b in bad] == ["damaged_file"] * runs
    assert sum(c.counters.get("warc_skipped_request", 0) for c in chunks) == requests
