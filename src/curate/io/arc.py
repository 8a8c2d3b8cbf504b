"""ARC files (the Internet Archive's format before WARC, ``.arc`` and ``.arc.gz``) -> documents.

An ARC file is a sequence of records, each a one-line header and that many bytes of content::

    filedesc://IA-001102.arc 0.0.0.0 19960923142103 text/plain 76      <- the version block
    http://example.com/ 192.0.2.1 19961104142103 text/html 202          <- version 1 (5 fields)
    HTTP/1.0 200 OK\\r\\nContent-Type: text/html\\r\\n\\r\\n<html>...           <- 202 bytes
    http://example.com/a 192.0.2.1 19961104142104 text/html 200 - - 0 x.arc 180   <- version 2 (10)

``.arc.gz`` files are gzip members, usually one per record, read as one stream. Each record
becomes what a WARC ``response`` record becomes (``curate.io.web._warc_record``): URL, crawl
date (the 14-digit date as ISO 8601), content type and charset from the HTTP headers, the same
HTML extraction, the same ``non_html`` rule. ARC has no record ids: ``warc_record_id`` is null.
The version block is counted as ``arc_skipped_filedesc``.

Positions are byte offsets in the file (in the decompressed stream for ``.arc.gz``). A header
line that does not parse, or a record cut short, is one ``damaged_file`` rejection naming its
offset; reading resumes at the next line that is a well-formed record header. A corrupt gzip
stream ends the file there (one rejection for the rest).
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator

from curate.html.options import HtmlOptions
from curate.io.discovery import InputFile, open_binary
from curate.io.readers import DAMAGED, RAW_LIMIT, BadRecord, RawChunk, _lossy

_MAX_HEADER = 16 << 10
_HEADER = re.compile(rb"^(\S+) (\S+) (\d{14}) (\S*)(?: \S+){0,5} (\d+)\r?\n$")
"""URL, IP, date, content type, (result code, checksum, location, offset, filename), length."""


class ArcRecord:
    """The parts of a fastwarc record that ``curate.io.web._warc_record`` reads, for one ARC record."""

    record_type = "response"

    def __init__(self, url: str, date: bytes, block: bytes, content_type: str) -> None:
        iso = f"{date[0:4].decode()}-{date[4:6].decode()}-{date[6:8].decode()}T{date[8:10].decode()}:{date[10:12].decode()}:{date[12:14].decode()}Z"
        http = block[:5] == b"HTTP/"
        self.headers = {
            "WARC-Target-URI": url,
            "WARC-Date": iso,
            "Content-Type": "application/http; msgtype=response" if http else content_type,
        }


def _parse_header(line: bytes) -> tuple[str, bytes, str, int] | None:
    m = _HEADER.match(line)
    if m is None or b"://" not in m.group(1) and not m.group(1).startswith(b"dns:"):
        return None
    try:
        url = m.group(1).decode("utf-8")
    except UnicodeDecodeError:
        url = m.group(1).decode("latin-1")
    return url, m.group(3), m.group(4).decode("latin-1"), int(m.group(5))


def read_arc(f: InputFile, opts: HtmlOptions, non_html: str, rows_per_chunk: int) -> Iterator[RawChunk]:
    """Every document of one ARC file, in file order (see the module docstring)."""
    from curate.io.web import _GROUP, WARC_COLUMNS, _Pending, _warc_record

    pending = _Pending(WARC_COLUMNS)
    with open_binary(f.path) as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = io.BufferedReader(gzip.GzipFile(fileobj=raw), 1 << 20) if gz else raw  # type: ignore[arg-type]
        pos = 0
        damage_at: int | None = None  # start of a damaged stretch, while looking for the next header
        skipped = b""
        try:
            while line := stream.readline(_MAX_HEADER):
                if damage_at is None and not line.strip():
                    pos += len(line)
                    continue
                header = _parse_header(line)
                if header is None:
                    if damage_at is None:
                        damage_at, skipped = pos, b""
                    skipped = (skipped + line)[:RAW_LIMIT]
                    pos += len(line)
                    continue
                if damage_at is not None:
                    _damaged(pending, damage_at, pos, "a line that is no ARC record header", skipped, resumed=True)
                    damage_at = None
                url, date, content_type, length = header
                block = stream.read(length)
                if len(block) < length:
                    _damaged(pending, pos, pos + len(line) + len(block), f"a record cut short ({len(block):,} of {length:,} bytes)", line + block, resumed=False)
                    pos += len(line) + len(block)
                    break
                if url.startswith("filedesc://"):
                    pending.counters["arc_skipped_filedesc"] += 1
                else:
                    _warc_record(ArcRecord(url, date, block, content_type), pos, block, pending, non_html)
                pos += len(line) + length
                if pending.pages_waiting() >= _GROUP:
                    pending.flush_html(opts, None)
                if pending.size() >= rows_per_chunk:
                    pending.flush_html(opts, None)
                    yield pending.take(f, "offset")
        except (OSError, EOFError, zlib.error) as err:  # a corrupt or truncated gzip stream
            start = damage_at if damage_at is not None else pos
            _damaged(pending, start, None, f"unreadable data ({' '.join(str(err).split())})", skipped, resumed=False)
            damage_at = None
        if damage_at is not None:
            _damaged(pending, damage_at, pos, "a line that is no ARC record header", skipped, resumed=False)
    pending.flush_html(opts, None)
    if pending.size() or pending.bad or pending.counters:
        yield pending.take(f, "offset")


def _damaged(pending: object, at: int, end: int | None, what: str, raw: bytes, *, resumed: bool) -> None:
    size = f"{end - at:,} bytes skipped, " if end is not None else ""
    where = f"resumed at the next record, offset {end:,}" if resumed and end is not None else "nothing after it could be read"
    detail = f"damaged ARC file: {what} at byte offset {at:,}; {size}{where}"
    pending.bad.append(BadRecord(at, DAMAGED, detail, _lossy(raw[:RAW_LIMIT])))  # type: ignore[attr-defined]
