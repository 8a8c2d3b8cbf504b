"""Format readers: raw files -> Arrow tables of records plus the line (or row) each came from.

Readers only parse. Records that cannot be parsed at all (bad JSON, invalid UTF-8, not an
object, a malformed CSV row) come back as ``BadRecord``s so ingest can reject them with file
and line; every other check happens once, vectorised, in ``curate.ingest``.

Hostile and damaged input never crashes a run and is never dropped silently:

- JSON Lines are screened before pyarrow's parser sees them (it overflows its stack on deeply
  nested input). A line nested deeper than ``ReadLimits.max_depth`` (default 48 levels of
  ``{``/``[``; brackets inside strings do not count) is rejected as ``json_too_deep``; a line
  longer than ``ReadLimits.max_line_bytes`` is rejected as ``line_too_long`` and never held in
  memory whole (its first MiB is kept as ``raw``). The default line cap is
  ``line_cap(max_chars) = 12 * max_chars + 1 MiB`` (a text of ``max_chars`` characters takes
  at most 12 bytes per character in JSON, as ``\\ud83d\\ude00`` escapes), 13 MiB for the default
  ``max_chars`` of 1,000,000. The screen is one vectorised pass (bracket bytes per line); only
  lines with more than ``max_depth`` bracket bytes get the exact, string-aware depth scan.
- Damaged files: a truncated or corrupt gzip or zstd stream, a file named ``.gz``/``.zst``
  that is not one, a truncated or corrupt Parquet file. The records read before the damage are
  kept and ONE rejected record (``damaged_file``) names the file, the line or row and the byte
  offset where the damage was found; its ``raw`` holds the partial line cut by the damage.
  Parquet row groups after a damaged one are still read.
- A zero-byte file (any format but ``.txt``, whose empty file is an ``empty_text`` document) is
  one ``empty_file`` record; a file that cannot be opened or read (permission denied, vanished,
  I/O error) is one ``unreadable_file`` record.
- CSV: a file without the text column (for example one with no header row: its first row is
  read as the header) gives a ``missing_text_column`` record naming the columns found, and its
  rows are rejected as ``missing_text`` (their values stay in the rejected rows' columns);
  malformed rows carry their real data-row number; a conversion error part-way through a file
  (a column whose type changes after the first block) is a ``malformed_file`` record naming
  the row from which the rest of the file was not read.

Under ``input.strict`` ingest turns the first of these records into an ``InputError`` (exit 1).
"""

from __future__ import annotations

import io
import zlib
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from curate.errors import InputError
from curate.html.options import HtmlOptions
from curate.io import prefetch, store
from curate.io.discovery import InputFile, ReadTask, is_arc, open_binary, open_native
from curate.io.parquet_chunks import chunks_in
from curate.io.read_ahead import read_ahead

CHUNK_BYTES = 32 * 1024 * 1024
MAX_DEPTH = 48
"""JSON nesting a record may have. pyarrow's JSON reader crashes from ~20,000 levels, and Arrow's
nested types (the columns a nested field becomes) stop at 64 levels ("Recursion level in
ArrowSchema struct exceeded"), so a record deeper than this is rejected as ``json_too_deep``
before any parser sees it."""
RAW_LIMIT = 1 << 20
_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 13, 32]] = True

# reasons of records that stand for a whole file or the damaged rest of one (not one record)
DAMAGED = "damaged_file"
EMPTY = "empty_file"
UNREADABLE = "unreadable_file"
MALFORMED_FILE = "malformed_file"
MISSING_COLUMN = "missing_text_column"
FILE_REASONS = frozenset({DAMAGED, EMPTY, UNREADABLE, MALFORMED_FILE, MISSING_COLUMN})
CONTENT_REASONS = frozenset(
    {"not_html", "no_main_content", "html_too_large", "extract_timeout", "extract_crashed", "extract_error"}
)
"""Reasons of web pages that were read whole but gave no text (never stop an `input.strict` run)."""


def line_cap(max_chars: int) -> int:
    """The longest JSON line that can hold a text of ``max_chars`` characters, plus 1 MiB of metadata."""
    return 12 * max_chars + (1 << 20)


@dataclass(frozen=True)
class ReadLimits:
    """Caps applied before a parser sees a record (see the module docstring)."""

    max_depth: int = MAX_DEPTH
    max_line_bytes: int = line_cap(1_000_000)

    @classmethod
    def for_max_chars(cls, max_chars: int) -> ReadLimits:
        return cls(max_line_bytes=line_cap(max_chars))


@dataclass
class BadRecord:
    """A record that could not be parsed: where it was, why, and its raw text (nothing is lost).

    ``unit`` overrides the chunk's unit ("line", "row", or "file" for a problem of the whole
    file, shown without a position); ``file`` overrides the chunk's file (groups of .txt files).
    """

    line: int
    reason: str
    detail: str
    raw: str
    unit: str | None = None
    file: str | None = None


@dataclass
class RawChunk:
    """Parsed records of one chunk of one file, with the 1-based line (or row) of each."""

    file: InputFile
    table: pa.Table
    lines: np.ndarray
    bad: list[BadRecord] = field(default_factory=list)
    unit: str = "line"
    counters: Counter[str] = field(default_factory=Counter)
    """Counts of what the chunk's reader skipped that is no document (WARC request records)."""


def _problem(f: InputFile, reason: str, detail: str, line: int = 0, unit: str = "file", raw: str = "") -> RawChunk:
    """A chunk holding no records, only one BadRecord about the file."""
    return RawChunk(f, pa.table({}), np.zeros(0, np.int64), [BadRecord(line, reason, detail, raw, unit)], unit="line")


def _one_line(err: BaseException) -> str:
    """An error message on one printable line."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(err)).split())


def _os_reason(err: OSError) -> str:
    return (err.strerror or str(err)).lower() if isinstance(err, OSError) and err.errno else str(err)


def read_task(
    task: ReadTask,
    text_field: str,
    rows_per_chunk: int,
    limits: ReadLimits | None = None,
    html: HtmlOptions | None = None,
    non_html: str = "skip",
    text_bytes: int | None = None,
) -> Iterator[RawChunk]:
    """All chunks of a read task, in file order (``html``: how WARC and HTML pages become text).

    ``text_bytes`` (``input.shard_text_bytes``): a Parquet file's chunks are cut as they are read
    into pieces of at most that much text, the pieces ``engines.base.text_slices`` makes of a whole
    chunk (which cuts the chunks of other formats after reading)."""
    limits = limits or ReadLimits()
    for f in task.files:
        if f.format in ("txt", "html"):
            continue
        if f.size == 0:
            yield _problem(f, EMPTY, "the file is empty (0 bytes)")
            continue
        try:
            with open_binary(f.path, 1 << 16):
                pass
        except OSError as err:
            yield _problem(f, UNREADABLE, f"cannot open the file: {_os_reason(err)}")
            continue
        try:
            if f.format == "jsonl":
                yield from _read_jsonl(f, task, text_field, rows_per_chunk, limits)
            elif f.format == "parquet":
                yield from _read_parquet(f, text_field, rows_per_chunk, text_bytes)
            elif f.format in ("csv", "tsv"):
                yield from _read_csv(f, text_field)
            elif f.format == "warc" and is_arc(f.path):
                from curate.io.arc import read_arc

                yield from read_arc(f, html or HtmlOptions(), non_html, rows_per_chunk)
            elif f.format == "warc":
                from curate.io.web import read_warc

                yield from read_warc(f, html or HtmlOptions(), non_html, rows_per_chunk)
            else:  # pragma: no cover - discovery only yields known formats
                raise InputError(f"{f.relpath}: unsupported format {f.format!r}")
        except OSError as err:  # an I/O error part-way (the readers handle damage they can place)
            yield _problem(f, UNREADABLE, f"cannot read the file: {_os_reason(err)}")
    txt = [f for f in task.files if f.format == "txt"]
    if txt:
        yield from _read_txt(txt, rows_per_chunk)
    pages = [f for f in task.files if f.format == "html"]
    if pages:
        from curate.io.web import read_html_files

        yield from read_html_files(pages, html or HtmlOptions(), rows_per_chunk)


# ---------------------------------------------------------------- compressed streams


class _Damage(Exception):
    def __init__(self, detail: str, data: bytes = b"") -> None:
        super().__init__(detail)
        self.detail = detail
        self.data = data


class _Decompressed:
    """A gzip or zstd file as a stream of decompressed bytes that notices damage.

    ``read`` returns data that ends at a newline (unless a line is longer than the read), so
    a reader never sees a line cut by damage. At damage the stream ends early and ``damage``
    holds (detail, the partial line cut by it); a clean end leaves it ``None``. Damage is
    placed by compressed byte offset (exact for gzip, within a 16 KiB piece for zstd).
    """

    def __init__(self, f: InputFile) -> None:
        self.name = {"gzip": "gzip", "zstd": "zstd"}[f.compression or ""]
        self._fh = open_binary(f.path)  # closed by close()
        self._pending = b""  # compressed input not yet given to the decoder
        self._base = 0  # file offset of _pending[0]
        self._dec: object | None = None  # decoder of the current member / frame
        self._members = 0
        self._out = 0  # decompressed bytes produced
        self._carry = b""  # decompressed bytes after the last newline returned
        self._done = False
        self.damage: tuple[str, bytes] | None = None
        self.closed = False

    # file-object protocol (pyarrow's CSV reader takes this stream too)
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._fh.close()

    def __enter__(self) -> _Decompressed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        parts = [self._carry] if self._carry else []
        got = len(self._carry)
        self._carry = b""
        while got < n and not self._done:
            try:
                data = self._step(n - got)
            except _Damage as d:
                self._done = True
                parts.append(d.data)
                whole = b"".join(parts)
                cut = whole.rfind(b"\n") + 1
                self.damage = (d.detail, whole[cut:])
                return whole[:cut]
            if data:
                parts.append(data)
                got += len(data)
        whole = b"".join(parts)
        if self._done:
            return whole
        cut = whole.rfind(b"\n") + 1
        if cut == 0:
            return whole
        self._carry = whole[cut:]
        return whole[:cut]

    def _fill(self, piece: int) -> bool:
        """Make sure some compressed input is pending; False at the end of the file."""
        if not self._pending:
            self._base = self._fh.tell()
            self._pending = self._fh.read(piece)
        return bool(self._pending)

    def _step(self, want: int) -> bytes:
        if self.name == "gzip":
            return self._gzip_step(want)
        return self._zstd_step()

    def _where(self) -> str:
        return f"{self._out} bytes decompressed"

    def _start_member(self, magic: bytes, what: str) -> None:
        """Check that the next member (frame) starts like one; gzip may end in zero padding."""
        if self._members and what == "gzip":
            stripped = self._pending.lstrip(b"\0")
            self._base += len(self._pending) - len(stripped)
            self._pending = stripped
            if not self._pending:
                return
        if len(self._pending) < len(magic):
            self._pending += self._fh.read(len(magic))
        if self._pending.startswith(magic):
            return
        if not self._members:
            raise _Damage(
                f"not a {what} file: it starts with bytes {self._pending[:4].hex(' ')}, "
                f"not the {what} signature {magic.hex(' ')}"
            )
        raise _Damage(
            f"damaged {what} file: the bytes from offset {self._base} on are not {what} data "
            f"(after {self._members} complete {'member' if what == 'gzip' else 'frame'}(s), {self._where()})"
        )

    def _gzip_step(self, want: int) -> bytes:
        if not self._fill(1 << 16):
            if self._dec is not None:
                raise _Damage(
                    f"truncated gzip file: it ends at byte {self._base} inside the compressed stream "
                    f"({self._where()})"
                )
            if not self._members:
                raise _Damage("not a gzip file: no gzip data in it")
            self._done = True
            return b""
        if self._dec is None:
            self._start_member(b"\x1f\x8b", "gzip")
            if not self._pending:
                return b""
            self._dec = zlib.decompressobj(31)
            self._members += 1
        dec: zlib._Decompress = self._dec  # type: ignore[assignment]
        before = dec.copy()
        try:
            out = dec.decompress(self._pending, min(want, 1 << 24))
        except zlib.error as err:
            good, at = _locate_zlib_error(before, self._pending)
            self._out += len(good)
            raise _Damage(
                f"damaged gzip file: corrupt data at compressed byte {self._base + at} "
                f"({self._out} bytes decompressed): {_zlib_reason(err)}",
                good,
            ) from None
        self._out += len(out)
        rest = dec.unconsumed_tail
        if dec.eof:
            rest = dec.unused_data
            self._dec = None
        self._base += len(self._pending) - len(rest)
        self._pending = rest
        return out

    def _zstd_step(self) -> bytes:
        import zstandard

        if not self._fill(1 << 14):
            if self._dec is not None:
                raise _Damage(
                    f"truncated zstd file: it ends at byte {self._base} inside a compressed frame "
                    f"({self._where()})"
                )
            self._done = True
            return b""
        if self._dec is None:
            if not _zstd_skippable(self._pending):
                self._start_member(b"\x28\xb5\x2f\xfd", "zstd")
            if not self._pending:
                return b""
            self._dec = zstandard.ZstdDecompressor().decompressobj()
            self._members += 1
        dec = self._dec
        try:
            out = dec.decompress(self._pending)  # type: ignore[attr-defined]
        except zstandard.ZstdError as err:
            raise _Damage(
                f"damaged zstd file: corrupt data in compressed bytes {self._base}-{self._base + len(self._pending)} "
                f"({self._where()}): {str(err).removeprefix('zstd decompressor error: ')}"
            ) from None
        self._out += len(out)
        rest = b""
        if dec.eof:  # type: ignore[attr-defined]
            rest = dec.unused_data  # type: ignore[attr-defined]
            self._dec = None
        self._base += len(self._pending) - len(rest)
        self._pending = rest
        return out


def _zstd_skippable(data: bytes) -> bool:
    return len(data) >= 4 and data[0] & 0xF0 == 0x50 and data[1:4] == b"\x2a\x4d\x18"


def _zlib_reason(err: zlib.error) -> str:
    text = str(err)
    text = text.removeprefix("Error -3 while decompressing data: ")
    return {"incorrect data check": "checksum mismatch (CRC-32)", "incorrect length check": "length mismatch"}.get(text, text)


def _locate_zlib_error(dec: zlib._Decompress, data: bytes) -> tuple[bytes, int]:
    """Output decodable before the corrupt byte and that byte's offset in ``data`` (error path only)."""
    out: list[bytes] = []
    pos = 0
    for step in (4096, 1):
        while pos < len(data):
            trial = dec.copy()
            try:
                chunk = trial.decompress(data[pos : pos + step])
            except zlib.error:
                break
            out.append(chunk)
            dec = trial
            pos += step
            if dec.eof:
                return b"".join(out), pos
    return b"".join(out), pos


def _open_stream(f: InputFile, start: int) -> io.BufferedIOBase | _Decompressed:
    if f.compression in ("gzip", "zstd"):
        return _Decompressed(f)
    fh = open_binary(f.path)
    fh.seek(start)
    return fh  # type: ignore[return-value]


# ---------------------------------------------------------------- JSON Lines


@dataclass
class _LongLine:
    """A line over the length cap, skipped while streaming: its first bytes and its length."""

    prefix: bytes
    length: int


def _read_block(stream: io.BufferedIOBase | _Decompressed, lead: bytes, want: int) -> tuple[memoryview, int]:
    """``lead`` followed by up to ``want`` bytes of the stream: (buffer, bytes read from the stream).

    A plain file is read straight into one buffer that already holds ``lead`` (no copy of the
    block to join it to the tail of the previous one). The buffer is a numpy array: not zeroed
    first, as a bytearray is, and given transparent huge pages by numpy (~2.5x less CPU for a
    32 MiB block). Other streams are read and joined."""
    readinto = getattr(stream, "readinto", None)
    if want <= 0:
        return memoryview(lead), 0
    if readinto is None:
        block = stream.read(want)
        return memoryview(lead + block if lead else block), len(block)
    view = memoryview(np.empty(len(lead) + want, dtype=np.uint8))
    view[: len(lead)] = lead
    got = 0
    while got < want:
        n = readinto(view[len(lead) + got :])
        if not n:
            break
        got += n
    return view, got


_FIND_STEP = 1 << 16


def _find_newline(view: memoryview, start: int, end: int) -> int:
    """Offset of the first newline in ``view[start:end]``, or -1 (searched 64 KiB at a time)."""
    for lo in range(start, end, _FIND_STEP):
        k = bytes(view[lo : min(lo + _FIND_STEP, end)]).find(b"\n")
        if k >= 0:
            return lo + k
    return -1


def _rfind_newline(view: memoryview, start: int, end: int) -> int:
    """Offset of the last newline in ``view[start:end]``, or -1 (searched 64 KiB at a time)."""
    hi = end
    while hi > start:
        lo = max(start, hi - _FIND_STEP)
        k = bytes(view[lo:hi]).rfind(b"\n")
        if k >= 0:
            return lo + k
        hi = lo
    return -1


def _line_chunks(
    stream: io.BufferedIOBase | _Decompressed, limit: int | None, max_line: int
) -> Iterator[bytes | memoryview | _LongLine]:
    """Blocks of about CHUNK_BYTES that end at a newline (the last one may not).

    Blocks are bytes-like (zero-copy views of the buffer read into). A line longer than
    ``max_line`` that does not fit in a block is never held whole: it comes out as a
    ``_LongLine`` and the stream is skipped to the next newline.
    """
    remaining = limit
    tail = b""
    skipping: _LongLine | None = None
    while True:
        want = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
        data, got = _read_block(stream, tail, want)
        if remaining is not None:
            remaining -= got
        if not got:
            if skipping is not None:
                yield skipping
            elif tail:
                if getattr(stream, "damage", None):  # a line cut by damage belongs to the damage record
                    detail, raw = stream.damage  # type: ignore[union-attr,misc]
                    stream.damage = (detail, tail + raw)  # type: ignore[union-attr]
                else:
                    yield tail
            return
        end = len(tail) + got
        start = 0
        if skipping is not None:  # tail is empty while skipping
            cut = _find_newline(data, 0, end)
            if cut < 0:
                skipping.length += got
                continue
            skipping.length += cut
            yield skipping
            skipping = None
            start = cut + 1
        cut = _rfind_newline(data, start, end)
        if cut < 0:
            tail = bytes(data[start:end])
        else:
            yield data[start : cut + 1]
            tail = bytes(data[cut + 1 : end])
        if len(tail) > max_line:
            skipping = _LongLine(tail[:RAW_LIMIT], len(tail))
            tail = b""


def _read_jsonl(
    f: InputFile, task: ReadTask, text_field: str, rows_per_chunk: int, limits: ReadLimits
) -> Iterator[RawChunk]:
    limit = None if f.compression else (task.end if task.end is not None else f.size) - task.start
    line = task.first_line if not f.compression else 1
    with _open_stream(f, task.start) as stream:
        for chunk in _line_chunks(stream, limit, limits.max_line_bytes):
            if isinstance(chunk, _LongLine):
                detail = f"line of {chunk.length:,} bytes, over the limit of {limits.max_line_bytes:,}"
                detail += _json_hint(chunk.prefix, line)
                yield RawChunk(
                    f, pa.table({}), np.zeros(0, np.int64), [BadRecord(line, "line_too_long", detail, _lossy(chunk.prefix))]
                )
                line += 1
                continue
            line += yield from _parse_jsonl_chunk(f, chunk, line, text_field, rows_per_chunk, limits)
        damage = getattr(stream, "damage", None)
    if damage is not None:
        detail, raw = damage
        if raw:
            detail += f"; line {line} was cut off by it ({len(raw):,} bytes, in raw)"
        yield RawChunk(f, pa.table({}), np.zeros(0, np.int64), [BadRecord(line, DAMAGED, detail, _lossy(raw))])


def _json_hint(raw: bytes, line: int) -> str:
    """A hint for a file that is one JSON document rather than JSON Lines (seen on its first line)."""
    if line != 1:
        return ""
    head = raw.lstrip()[:1]
    if head == b"[":
        return "; the file looks like a JSON array, not JSON Lines: one object per line expected"
    if raw.strip() == b"{":
        return "; the file looks like pretty-printed JSON, not JSON Lines: one object per line expected"
    return ""


def _positions(buf: np.ndarray, byte: int, fold: bool = False) -> np.ndarray:
    """Offsets of every ``byte`` in ``buf`` (with ``fold``, of ``byte`` or ``byte & ~0x20``:
    ``{`` or ``[``), found by ``memchr`` in compiled code: numpy's ``equal`` then ``flatnonzero``
    made a mask and read every byte twice (per 64 MB of JSON Lines: newlines 17.3 -> 9.4 ms,
    brackets 18.0 -> 13.3 ms)."""
    from curate.dedup import _native

    return np.frombuffer(_native.byte_positions(buf, byte, fold), dtype=np.int64)


def _line_bounds(chunk: bytes | memoryview) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end and non-blank flag of every line in a chunk.

    Newlines are found vectorised; only lines that are empty or start with whitespace (rare
    in JSON Lines) are looked at one by one to see whether they hold anything.
    """
    buf = np.frombuffer(chunk, dtype=np.uint8)
    nl = _positions(buf, 10)
    ends = nl if len(buf) and buf[-1] == 10 else np.append(nl, len(buf))
    starts = np.concatenate(([0], nl + 1))[: len(ends)]
    nonblank = np.ones(len(ends), dtype=bool)
    if len(buf):
        first = buf[np.minimum(starts, len(buf) - 1)]
        for i in np.flatnonzero((ends == starts) | _WS[first]).tolist():
            nonblank[i] = bool(bytes(chunk[starts[i] : ends[i]]).strip())
    return starts, ends, nonblank


def json_depth(line: bytes | np.ndarray) -> int:
    """Deepest nesting of ``{``/``[`` in one JSON text, ignoring brackets inside strings (vectorised)."""
    seg = np.frombuffer(line, dtype=np.uint8) if isinstance(line, bytes) else line
    if not len(seg):
        return 0
    quote = seg == 34
    backslash = seg == 92
    if backslash.any():
        idx = np.arange(len(seg))
        last_plain = np.maximum.accumulate(np.where(backslash, -1, idx))
        run = np.zeros(len(seg), dtype=np.int64)  # backslashes right before each byte
        run[1:] = idx[:-1] - last_plain[:-1]
        quote &= run % 2 == 0
    outside = np.cumsum(quote) % 2 == 0
    folded = seg | 0x20  # '[' -> '{', ']' -> '}'
    step = (outside & (folded == 0x7B)).astype(np.int32) - (outside & (folded == 0x7D))
    return int(np.cumsum(step).max(initial=0))


def _screen_lines(
    chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray, nonblank: np.ndarray, first_line: int, limits: ReadLimits
) -> list[tuple[int, BadRecord]]:
    """Lines too long or nested too deep for the parsers, found before any parser sees them.

    One vectorised pass counts bracket bytes per line; a line can only nest deeper than
    ``max_depth`` if it holds more brackets than that, and only such lines get the exact scan.
    """
    lengths = ends - starts
    out: list[tuple[int, BadRecord]] = []
    too_long = nonblank & (lengths > limits.max_line_bytes)
    for i in np.flatnonzero(too_long).tolist():
        raw = bytes(chunk[starts[i] : min(ends[i], starts[i] + RAW_LIMIT)])  # all that is kept of it
        detail = f"line of {int(lengths[i]):,} bytes, over the limit of {limits.max_line_bytes:,}"
        out.append((i, BadRecord(first_line + i, "line_too_long", detail + _json_hint(raw[:64], first_line + i), _lossy(raw))))
    buf = np.frombuffer(chunk, dtype=np.uint8)
    opens = _positions(buf, 0x7B, fold=True)  # '{' and '[' (0x5B | 0x20 == 0x7B)
    if len(opens) > limits.max_depth:
        per_line = np.searchsorted(opens, ends) - np.searchsorted(opens, starts)
        for i in np.flatnonzero(nonblank & ~too_long & (per_line > limits.max_depth)).tolist():
            depth = json_depth(buf[starts[i] : ends[i]])
            if depth > limits.max_depth:
                detail = f"JSON nested {depth:,} levels deep, over the limit of {limits.max_depth:,}"
                raw = bytes(chunk[starts[i] : ends[i]])
                out.append((i, BadRecord(first_line + i, "json_too_deep", detail, _lossy(raw))))
    out.sort(key=lambda t: t[0])
    return out


def _parse_jsonl_chunk(
    f: InputFile, chunk: bytes | memoryview, first_line: int, text_field: str, rows_per_chunk: int, limits: ReadLimits
) -> Generator[RawChunk, None, int]:
    """The records of one block of whole lines, in chunks of ``rows_per_chunk``; returns the
    number of lines in the block (blank and rejected ones included)."""
    starts, ends, nonblank = _line_bounds(chunk)
    n_lines = len(ends)
    screened = _screen_lines(chunk, starts, ends, nonblank, first_line, limits)
    if screened:  # blank the screened lines out (keeping their newlines, so line numbers hold)
        pieces, pos = [], 0
        for i, _ in screened:
            pieces.append(chunk[pos : starts[i]])
            pos = int(ends[i])
        pieces.append(chunk[pos:])
        chunk = b"".join(pieces)
        starts, ends, nonblank = _line_bounds(chunk)
    lines = first_line + np.flatnonzero(nonblank)
    table = _fast_jsonl(chunk, len(lines))
    if table is None:
        table, lines, bad = _slow_jsonl(chunk, starts, ends, nonblank, first_line, text_field)
    else:
        bad = []
    if screened:
        bad = sorted(bad + [b for _, b in screened], key=lambda b: b.line)
    for off in range(0, max(table.num_rows, 1), rows_per_chunk):
        yield RawChunk(
            f,
            table.slice(off, max(0, min(rows_per_chunk, table.num_rows - off))),
            lines[off : off + rows_per_chunk],
            bad if off == 0 else [],
        )
    return n_lines


def _valid_utf8(data: pa.Buffer) -> bool:
    """Whether a buffer is valid UTF-8 (Arrow's validator: no copy, and no Python str built).

    It rejects what Python's strict decoder rejects: overlong forms, surrogates, code points
    over U+10FFFF, stray or missing continuation bytes."""
    offsets = pa.py_buffer(np.array([0, data.size], dtype=np.int64))
    try:
        pa.LargeStringArray.from_buffers(1, offsets, data).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _fast_jsonl(chunk: bytes | memoryview, expected_rows: int) -> pa.Table | None:
    """pyarrow's multithreaded parser, used only when the whole chunk is valid UTF-8 and parses."""
    if not expected_rows:
        return pa.table({})
    data = pa.py_buffer(chunk)  # zero-copy
    if not _valid_utf8(data):  # pyarrow silently replaces invalid UTF-8; we must reject it
        return None
    try:
        table = pajson.read_json(
            pa.BufferReader(data),
            read_options=pajson.ReadOptions(block_size=max(1 << 20, min(len(chunk), 16 << 20))),
        )
    except pa.ArrowInvalid:
        return None
    return table if table.num_rows == expected_rows else None


def _slow_jsonl(
    chunk: bytes | memoryview, starts: np.ndarray, ends: np.ndarray, nonblank: np.ndarray, first_line: int, text_field: str
) -> tuple[pa.Table, np.ndarray, list[BadRecord]]:
    """Line by line, for chunks holding a malformed record: find which lines are bad and why."""
    records: list[dict] = []
    lines: list[int] = []
    bad: list[BadRecord] = []
    for i in np.flatnonzero(nonblank).tolist():
        raw = bytes(chunk[starts[i] : ends[i]])
        line = first_line + i
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as err:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as uerr:
                bad.append(BadRecord(line, "invalid_utf8", f"invalid UTF-8 at byte {uerr.start}", _lossy(raw)))
                continue
            detail = str(err).split("\n")[0] + _json_hint(raw, line)
            bad.append(BadRecord(line, "invalid_json", detail, _lossy(raw)))
            continue
        if not isinstance(obj, dict):
            detail = f"expected a JSON object, got {type(obj).__name__}" + _json_hint(raw, line)
            bad.append(BadRecord(line, "not_an_object", detail, _lossy(raw)))
            continue
        text = obj.get(text_field)
        if text is not None and not isinstance(text, str):
            bad.append(BadRecord(line, "invalid_text_type", f"{text_field!r} is a {type(text).__name__}, not a string", _lossy(raw)))
            continue
        records.append(obj)
        lines.append(line)
    return table_from_records(records), np.asarray(lines, dtype=np.int64), bad


def _lossy(raw: bytes, limit: int = RAW_LIMIT) -> str:
    return raw[:limit].decode("utf-8", errors="replace").rstrip("\r")


def table_from_records(records: list[dict]) -> pa.Table:
    """Records -> table; a field with mixed types across records becomes JSON text, not an error."""
    if not records:
        return pa.table({})
    try:
        return pa.Table.from_pylist(records)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r))
    columns = {}
    for name in names:
        values = [r.get(name) for r in records]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array(
                [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values],
                type=pa.string(),
            )
    return pa.table(columns)


# ---------------------------------------------------------------- Parquet, CSV, txt


def _read_parquet(f: InputFile, text_field: str, rows_per_chunk: int, text_bytes: int | None = None) -> Iterator[RawChunk]:
    """An object in a store is read through the store's random-access reader: the footer, then
    the column chunks of each row group, never the whole object at once."""
    if store.is_remote(f.path):
        with open_native(f.path) as native:
            yield from _read_parquet_from(f, native, rows_per_chunk, text_field, text_bytes)
    else:
        yield from _read_parquet_from(f, f.path, rows_per_chunk, text_field, text_bytes)


def _read_parquet_from(
    f: InputFile, source: object, rows_per_chunk: int, text_field: str = "text", text_bytes: int | None = None
) -> Iterator[RawChunk]:
    try:
        pf = pq.ParquetFile(source)
        md = pf.metadata
    except (pa.ArrowException, OSError) as err:
        yield _problem(f, DAMAGED, f"damaged Parquet file ({f.size:,} bytes): its footer cannot be read: {_one_line(err)}")
        return
    group_rows = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
    group_start = np.concatenate(([1], 1 + np.cumsum(group_rows, dtype=np.int64))).tolist()
    row = 1  # the next row to hand on

    def chunk(batch: pa.RecordBatch | pa.Table) -> RawChunk:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        return RawChunk(f, table, np.arange(row, row + table.num_rows, dtype=np.int64), unit="row")

    if md.num_rows == 0:
        yield RawChunk(f, pf.schema_arrow.empty_table(), np.zeros(0, np.int64), unit="row")
        return
    try:
        # decoded (and joined into chunks) on a thread of its own while the caller checks the chunk
        # before; perhaps begun before curate had loaded (the command's own input: ``prefetch``)
        early = prefetch.take(source, text_field, rows_per_chunk, text_bytes) if isinstance(source, str) else None
        for table in early if early is not None else read_ahead(chunks_in(pf, rows_per_chunk, text_field, text_bytes)):
            yield chunk(table)
            row += table.num_rows
        return
    except (pa.ArrowException, OSError):
        pass
    # damage somewhere: read the rest one row group at a time, to keep every readable group
    first = int(np.searchsorted(group_start, row, side="right")) - 1
    for g in range(first, md.num_row_groups):
        skip = row - group_start[g]  # rows of this group already handed on (in a batch across groups)
        try:
            for batch in pf.iter_batches(batch_size=rows_per_chunk, row_groups=[g]):
                drop = min(skip, batch.num_rows)
                skip -= drop
                if batch.num_rows > drop:
                    yield chunk(batch.slice(drop))
                    row += batch.num_rows - drop
        except (pa.ArrowException, OSError) as err:
            last = group_start[g + 1] - 1
            detail = (
                f"damaged Parquet file: row group {g} (rows {group_start[g]:,}-{last:,}) cannot be read "
                f"from row {row:,} on ({last - row + 1:,} rows not read): {_one_line(err)}"
            )
            yield RawChunk(f, pa.table({}), np.zeros(0, np.int64), [BadRecord(row, DAMAGED, detail, "")], unit="row")
            row = last + 1


def _read_csv(f: InputFile, text_field: str) -> Iterator[RawChunk]:
    bad: list[BadRecord] = []
    skipped: list[int] = []  # 0-based data-row index of every malformed (skipped) row

    def on_invalid(row: pacsv.InvalidRow) -> str:
        number = row.number - 1 if row.number is not None else -1  # pyarrow counts the header row
        if number > 0:
            skipped.append(number - 1)
        detail = f"expected {row.expected_columns} columns, got {row.actual_columns}"
        bad.append(BadRecord(number, "malformed_row", detail, row.text, unit="row"))
        return "skip"

    delimiter = "\t" if f.format == "tsv" else ","
    what = f.format.upper()
    if f.compression in ("gzip", "zstd"):
        source = _Decompressed(f)
    elif store.is_remote(f.path):
        source = open_native(f.path)  # read in blocks of CHUNK_BYTES, one request each
    else:
        source = pa.input_stream(f.path, compression=f.compression)
    kept = 0
    try:
        try:
            reader = pacsv.open_csv(
                source,
                read_options=pacsv.ReadOptions(block_size=CHUNK_BYTES, use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(column_types={text_field: pa.binary()}),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as err:
            yield from _csv_stop(f, source, bad, 0, f"cannot read as {what}: {_one_line(err)} (check the delimiter and the encoding, UTF-8)")
            return
        names = reader.schema.names
        if text_field not in names:
            shown = ", ".join(repr(n) for n in names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            detail = (
                f"no {text_field!r} column: the header row has {shown}; a file without a header row has its "
                f"first row read as the header (set text_field to the column that holds the text)"
            )
            bad.append(BadRecord(0, MISSING_COLUMN, detail, delimiter.join(names), unit="file"))
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, UnicodeDecodeError) as err:
                row = int(_csv_rows(kept, 1, skipped)[0])
                yield from _csv_stop(f, source, bad, row, f"cannot read as {what} from row {row:,} on: {_one_line(err)}")
                return
            table = pa.Table.from_batches([batch])
            lines = _csv_rows(kept, table.num_rows, skipped)
            kept += table.num_rows
            yield RawChunk(f, table, lines, list(bad), unit="row")
            bad.clear()
        yield from _csv_stop(f, source, bad, int(_csv_rows(kept, 1, skipped)[0]), None)
    finally:
        source.close()


def _csv_rows(first: int, n: int, skipped: list[int]) -> np.ndarray:
    """1-based data-row numbers of kept rows ``first .. first+n-1``, counting the skipped rows too."""
    k = np.arange(first, first + n, dtype=np.int64)
    if skipped:
        s = np.sort(np.asarray(skipped, dtype=np.int64))
        k = k + np.searchsorted(s - np.arange(len(s)), k, side="right")
    return k + 1


def _csv_stop(
    f: InputFile, source: object, bad: list[BadRecord], row: int, error: str | None
) -> Iterator[RawChunk]:
    """The rest of a CSV file: its pending malformed rows, then damage or a reading error, if any."""
    damage = getattr(source, "damage", None)
    if damage is not None:
        detail, raw = damage
        bad.append(BadRecord(row, DAMAGED, f"{detail}; the rows from row {row:,} on were not read", _lossy(raw), unit="row"))
    elif error is not None:
        bad.append(BadRecord(row, MALFORMED_FILE, error, "", unit="row"))
    if bad:
        yield RawChunk(f, pa.table({}), np.zeros(0, np.int64), list(bad), unit="row")


def _read_whole(f: InputFile) -> tuple[bytes, BadRecord | None]:
    """A .txt file's bytes, or what could be read and a record saying why the rest could not."""
    try:
        if f.compression not in ("gzip", "zstd"):
            with open_binary(f.path, 1 << 16) as fh:
                return fh.read(), None
        with _Decompressed(f) as stream:
            data = stream.read()
            damage = stream.damage
    except OSError as err:
        return b"", BadRecord(1, UNREADABLE, f"cannot read the file: {_os_reason(err)}", "", unit="file", file=f.relpath)
    if damage is None:
        return data, None
    detail, raw = damage
    partial = data + raw
    detail += f"; the document was cut off by it ({len(partial):,} bytes read, in raw)"
    return b"", BadRecord(1, DAMAGED, detail, _lossy(partial), unit="file", file=f.relpath)


def _read_txt(files: list[InputFile], rows_per_chunk: int) -> Iterator[RawChunk]:
    for off in range(0, len(files), rows_per_chunk):
        group = files[off : off + rows_per_chunk]
        texts, paths, bad = [], [], []
        for f in group:
            data, problem = _read_whole(f)
            if problem is not None:
                bad.append(problem)
                continue
            texts.append(data)
            paths.append(f.relpath)
        table = pa.table({"text": pa.array(texts, type=pa.binary()), "path": pa.array(paths, type=pa.string())})
        # one document per file: the "line" of each record is its position in the group
        yield RawChunk(group[0], table, np.ones(len(texts), dtype=np.int64), bad, unit="file")
