"""Web sources: WARC/WET archives and HTML files -> records of extracted main text.

WARC (``.warc``, ``.warc.gz``, ``.warc.zst``, WET ``.wet``/``.warc.wet.gz``) is read with fastwarc.
Documents are ``response`` and ``resource`` records holding HTML (by their HTTP or WARC
``Content-Type``, or by sniffing ``<html``/``<!doctype html`` when none is given), extracted to
text by ``curate.html``, and WET ``conversion`` records (already text). Each keeps ``url``,
``crawl_date`` (the ``WARC-Date`` as written), ``content_type``, ``charset`` (the one the page
was decoded with), ``warc_record_id`` and ``html_extractor`` (the extractor whose output was
kept; null for WET text). A document's position is the byte offset of its record.

Other records are not documents: ``warcinfo``, ``request``, ``metadata``, ``revisit`` and
``continuation`` records are counted (``warc_skipped_<type>``); responses of other media types
(images, PDF) are counted as ``warc_skipped_non_html`` or, with ``non_html: reject``, rejected as
``not_html``. Pages the extractor gives up on are rejected with its reason (``no_main_content``,
``extract_timeout``, ``extract_crashed``, ``extract_error``, ``html_too_large``), their HTML in ``raw``.

A damaged archive (a record without ``Content-Length``, a record cut short, bytes that are no
record, a corrupt gzip member) gives one ``damaged_file`` record per damaged stretch, naming the
byte offset where it starts and where reading resumed: the reader looks for the next record start
(a version line ``WARC/1.0`` or ``WARC/1.1`` in a plain file, a gzip member that opens with one in
a ``.gz`` file) and
reads on from there. In a zstd archive everything after the damage is one rejected stretch.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator

import numpy as np
import polars as pl

from curate.html.options import HtmlOptions
from curate.html.watchdog import extract_pages
from curate.io.discovery import InputFile, open_binary
from curate.io.readers import DAMAGED, RAW_LIMIT, BadRecord, RawChunk, _lossy, _os_reason

NOT_HTML = "not_html"
WARC_COLUMNS = ("text", "url", "crawl_date", "content_type", "charset", "warc_record_id", "html_extractor")
HTML_FILE_COLUMNS = ("text", "path", "charset", "html_extractor")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_DOC_TYPES = frozenset({"response", "resource", "conversion"})
_GROUP = 256
_SCAN = 1 << 20


def _sniff_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:512]


def _frame(rows: dict[str, list], columns: tuple[str, ...]) -> pl.DataFrame:
    return pl.DataFrame({c: rows[c] for c in columns}, schema={c: pl.String for c in columns})


class _Pending:
    """Documents read but not yet extracted, and extracted rows not yet handed on."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.html: list[tuple[bytes | str, str | None]] = []
        self.html_meta: list[tuple[int, dict[str, str | None], str]] = []  # (position, metadata, where)
        self.rows: dict[str, list] = {c: [] for c in columns}
        self.lines: list[int] = []
        self.bad: list[BadRecord] = []
        self.counters: Counter[str] = Counter()
        self.ready: dict[int, str] = {}  # place in `html` -> text of a document that needs no extraction

    def add_text(self, pos: int, text: str, meta: dict[str, str | None]) -> None:
        self.rows["text"].append(text)
        for c in self.columns[1:]:
            self.rows[c].append(meta.get(c))
        self.lines.append(pos)

    def queue_text(self, pos: int, text: str, meta: dict[str, str | None]) -> None:
        """A document that is text already (WET), queued behind the pages before it (file order)."""
        if not self.html:
            self.add_text(pos, text, meta)
            return
        self.ready[len(self.html)] = text
        self.html.append(("", None))
        self.html_meta.append((pos, meta, ""))

    def flush_html(self, opts: HtmlOptions, unit: str | None) -> None:
        if not self.html:
            return
        todo = [i for i in range(len(self.html)) if i not in self.ready]
        pages = dict(zip(todo, extract_pages([self.html[i] for i in todo], opts), strict=True))
        for i, ((data, _), (pos, meta, where)) in enumerate(zip(self.html, self.html_meta, strict=True)):
            if i in self.ready:
                self.add_text(pos, self.ready[i], meta)
                continue
            page = pages[i]
            if page.text is None:
                detail = f"{where}{page.detail}" if where else str(page.detail)
                raw = data[:RAW_LIMIT] if isinstance(data, str) else _lossy(data)
                self.bad.append(BadRecord(pos, str(page.reason), detail, raw, unit=unit, file=meta.get("path") if unit == "file" else None))
                continue
            self.counters[f"html_extractor_{page.extractor}"] += 1
            self.add_text(pos, page.text, {**meta, "charset": page.charset, "html_extractor": page.extractor})
        self.html.clear()
        self.html_meta.clear()
        self.ready.clear()

    def take(self, f: InputFile, unit: str) -> RawChunk:
        table = _frame(self.rows, self.columns).to_arrow()
        chunk = RawChunk(f, table, np.asarray(self.lines, dtype=np.int64), list(self.bad), unit=unit, counters=Counter(self.counters))
        self.rows = {c: [] for c in self.columns}
        self.lines.clear()
        self.bad.clear()
        self.counters.clear()
        return chunk

    def size(self) -> int:
        return len(self.lines) + len(self.html)

    def pages_waiting(self) -> int:
        return len(self.html) - len(self.ready)


# ---------------------------------------------------------------- WARC


def _is_gzip(f: InputFile) -> bool:
    """Gzip members or plain records: by the first bytes, else (damage at the start) by the name."""
    with open_binary(f.path, 1 << 12) as fh:
        head = fh.read(5)
    if head.startswith(b"\x1f\x8b"):
        return True
    return False if head.startswith(b"WARC/") else f.compression == "gzip"


def _member_end(fh, pos: int) -> int | None:
    """Where the gzip member starting at ``pos`` ends, or None if it does not end cleanly."""
    fh.seek(pos)
    dec = zlib.decompressobj(31)
    read = 0
    try:
        while block := fh.read(_SCAN):
            dec.decompress(block)
            if dec.eof:
                return pos + read + len(block) - len(dec.unused_data)
            read += len(block)
    except zlib.error:
        return None
    return None


def _plain_end(fh, pos: int) -> int | None:
    """Where the plain WARC record starting at ``pos`` ends (after its closing CRLF CRLF)."""
    fh.seek(pos)
    head = fh.read(64 * 1024)
    cut = head.find(b"\r\n\r\n")
    if cut < 0:
        return None
    length = None
    for line in head[:cut].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None
    return None if length is None else pos + cut + 4 + length + 4


def _next_record(fh, start: int, gz: bool) -> int | None:
    """The offset of the first record start at or after ``start`` (see the module docstring)."""
    pos = start
    while True:
        fh.seek(pos)
        block = fh.read(_SCAN + 16)
        if not block:
            return None
        k = 0
        while True:
            k = block.find(b"\x1f\x8b\x08", k) if gz else block.find(b"WARC/1.", k)
            if k < 0 or k >= _SCAN:
                break
            at = pos + k
            if gz:
                fh.seek(at)
                try:
                    if zlib.decompressobj(31).decompress(fh.read(4096), 16).startswith(b"WARC/1."):
                        return at
                except zlib.error:
                    pass
            elif block[k + 7 : k + 10] in (b"0\r\n", b"1\r\n"):  # a version line: WARC/1.0 or WARC/1.1
                return at
            k += 1
        if len(block) <= _SCAN:
            return None
        pos += _SCAN


def _only_padding(fh, pos: int) -> bool:
    """Whether the file holds nothing but whitespace and NUL bytes from ``pos`` on."""
    fh.seek(pos)
    while block := fh.read(_SCAN):
        if block.strip(b" \t\r\n\0"):
            return False
    return True


def _header(record, name: str) -> str | None:
    value = record.headers.get(name)
    return value if value else None


def read_warc(f: InputFile, opts: HtmlOptions, non_html: str, rows_per_chunk: int) -> Iterator[RawChunk]:
    """Every document of one WARC/WET file (see the module docstring), in file order."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    pending = _Pending(WARC_COLUMNS)
    gz = _is_gzip(f)
    zstd = f.compression == "zstd"
    with open_binary(f.path) as fh:  # an object in a store: streamed behind a read buffer
        start = 0
        while start is not None:
            fh.seek(start)
            last_good: int | None = None  # start of the last good record read since `start`
            damage: tuple[int, str] | None = None
            try:
                for record in ArchiveIterator(fh, parse_http=False, record_types=WarcRecordType.any_type, fsspec_args=False):
                    pos = int(record.stream_pos)
                    if record.headers.get("Content-Length") is None:
                        damage = (pos, "a record without Content-Length")
                        break
                    block = record.reader.read()
                    if len(block) < record.content_length:
                        damage = (pos, f"a record cut short ({len(block):,} of {record.content_length:,} bytes)")
                        break
                    _warc_record(record, pos, block, pending, non_html)
                    last_good = pos
                    if pending.pages_waiting() >= _GROUP:
                        pending.flush_html(opts, None)
                    if pending.size() >= rows_per_chunk:
                        pending.flush_html(opts, None)
                        yield pending.take(f, "offset")
            except OSError as err:  # fastwarc: bytes that are no record, a corrupt gzip member
                msg = " ".join(str(err).split())
                at = start
                if last_good is not None:  # the damage starts where the last good record ends
                    at = (_member_end(fh, last_good) if gz else _plain_end(fh, last_good)) or last_good + 1
                damage = (at, f"unreadable data ({msg})")
            if damage is None and not zstd:
                # fastwarc ends quietly at bytes that do not start a record (at the start of a
                # file, after the last gzip member): anything but padding after the last record
                # read is damage too
                end = start if last_good is None else (_member_end(fh, last_good) if gz else _plain_end(fh, last_good))
                if end is not None and not _only_padding(fh, end):
                    damage = (end, "bytes that are no WARC record")
            if damage is None:
                break
            at, what = damage
            resume = None if zstd else _next_record(fh, at + 1, gz)
            size = (resume if resume is not None else f.size) - at
            fh.seek(at)
            raw = fh.read(min(size, RAW_LIMIT))
            where = f"resumed at the next record, offset {resume:,}" if resume is not None else "nothing after it could be read"
            detail = f"damaged WARC file: {what} at byte offset {at:,}; {size:,} bytes skipped, {where}"
            pending.bad.append(BadRecord(at, DAMAGED, detail, _lossy(raw)))
            start = resume
    pending.flush_html(opts, None)
    if pending.size() or pending.bad or pending.counters:
        yield pending.take(f, "offset")


def _warc_record(record, pos: int, block: bytes, pending: _Pending, non_html: str) -> None:
    """Route one well-formed record: a document, a skipped record (counted) or a rejection."""
    kind = str(record.record_type)
    if kind not in _DOC_TYPES:
        pending.counters[f"warc_skipped_{kind}"] += 1
        return
    url = _header(record, "WARC-Target-URI")
    meta: dict[str, str | None] = {
        "url": url,
        "crawl_date": _header(record, "WARC-Date"),
        "warc_record_id": _header(record, "WARC-Record-ID"),
    }
    declared = None
    content_type = _header(record, "Content-Type")
    body = block
    if kind == "response" and (content_type or "").lower().startswith("application/http"):
        head, sep, body = block.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = block.partition(b"\n\n")
        content_type = None
        for line in head.split(b"\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-type":
                content_type = value.strip().decode("latin-1")
    mime, declared = _parse_content_type(content_type)
    meta["content_type"] = mime
    if kind == "conversion":
        text = body.decode("utf-8", errors="replace")
        pending.queue_text(pos, text, {**meta, "charset": "utf-8", "html_extractor": None})
        return
    if mime in _HTML_TYPES or (mime is None and _sniff_html(body)):
        pending.html.append((body, declared))
        pending.html_meta.append((pos, meta, f"{url}: " if url else ""))
        return
    if non_html == "reject":
        detail = f"{url or 'record ' + str(meta['warc_record_id'])}: content type {mime or 'unknown'} is not HTML"
        pending.bad.append(BadRecord(pos, NOT_HTML, detail, _lossy(body[:4096])))
    else:
        pending.counters["warc_skipped_non_html"] += 1


def _parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """``text/html; charset=ISO-8859-1`` -> (``text/html``, ``ISO-8859-1``)."""
    if not value:
        return None, None
    parts = value.split(";")
    mime = parts[0].strip().lower() or None
    charset = None
    for p in parts[1:]:
        name, _, v = p.partition("=")
        if name.strip().lower() == "charset":
            charset = v.strip().strip("\"'") or None
    return mime, charset


# ---------------------------------------------------------------- HTML files


def read_html_files(files: list[InputFile], opts: HtmlOptions, rows_per_chunk: int) -> Iterator[RawChunk]:
    """One document per ``.html`` file, extracted; the position of each is its place in the group."""
    from curate.io.readers import _read_whole

    pending = _Pending(HTML_FILE_COLUMNS)
    for off in range(0, len(files), rows_per_chunk):
        group = files[off : off + rows_per_chunk]
        for f in group:
            try:
                data, problem = _read_whole(f)
            except OSError as err:  # pragma: no cover - _read_whole reports it
                problem = BadRecord(1, "unreadable_file", _os_reason(err), "", unit="file", file=f.relpath)
            if problem is not None:
                pending.bad.append(problem)
                continue
            pending.html.append((data, None))
            pending.html_meta.append((1, {"path": f.relpath}, ""))
            if len(pending.html) >= _GROUP:
                pending.flush_html(opts, "file")
        pending.flush_html(opts, "file")
        yield pending.take(group[0], "file")
