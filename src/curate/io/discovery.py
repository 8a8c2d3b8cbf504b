"""Expand the configured input paths into an ordered list of read tasks (before any data is read)."""

from __future__ import annotations

import fnmatch
import glob
import io
import json
import mmap
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np

from curate.config import InputConfig, SourceConfig
from curate.errors import ConfigError, CurateError, MissingInputError
from curate.io import store

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "txt",
    ".warc": "warc",
    ".wet": "warc",
    ".arc": "warc",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
_GROUPED = ("txt", "html")
"""Formats of one document per file: small files are read in groups, one task per group."""
_COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
MANIFEST = "_manifest.json"
CURATED = "curated"
"""Format of a data shard of a folder curate wrote: adopted as it is (no re-ingest)."""
CURATED_JSONL = "curated_jsonl"
"""A JSON Lines file of a release curate wrote: converted to a shard with the release's schema,
never re-validated."""
_SPLIT_BLOCK = 1 << 24
REMOTE_BUFFER = 8 << 20
"""Read buffer over an object in a store: each read of the store's own reader is one request."""


@dataclass(frozen=True)
class InputFile:
    """One matched file: where it is, how to read it, and the name used in ids and messages.

    ``path`` is an absolute local path or an object's URL (``s3://bucket/key``); ``relpath`` is
    relative to the folder, prefix or glob base the source named, the same for both, so ids
    and rejection positions do not depend on where the files are kept."""

    path: str
    relpath: str
    format: str
    compression: str | None
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ReadTask:
    """A unit of ingest work: a byte range of one file, one whole file, or a group of .txt files."""

    index: int
    source_index: int
    files: tuple[InputFile, ...]
    start: int = 0
    end: int | None = None
    first_line: int = 1

    @property
    def label(self) -> str:
        f = self.files[0]
        return f.relpath if len(self.files) == 1 else f"{f.relpath} (+{len(self.files) - 1} files)"


def detect_format(path: str, declared: str) -> tuple[str | None, str | None]:
    """(format, compression) from the extension; ``declared`` wins unless it is ``auto``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression = _COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = declared if declared != "auto" else (_EXTENSIONS.get(suffixes[-1]) if suffixes else None)
    return fmt, compression


def open_binary(path: str, buffer: int = REMOTE_BUFFER) -> BinaryIO:
    """A seekable binary reader over an input file: ``open(path, "rb")`` for a local one; an
    object in a store is streamed through :func:`curate.io.store.open_input` behind a read
    buffer (so small reads are not one request each), never downloaded first.

    Store failures are ``OSError``s here, as local ones are, so readers report them the same way."""
    if not store.is_remote(path):
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    return io.BufferedReader(open_native(path), buffer)  # type: ignore[arg-type]


def open_native(path: str):  # noqa: ANN201 - a pyarrow NativeFile
    """The store's own random-access reader of an object (what pyarrow's Parquet and CSV readers
    take directly); an ``OSError`` when it cannot be opened."""
    try:
        return store.open_input(path)
    except CurateError as err:
        raise OSError(str(err)) from None


def _glob_base(pattern: str) -> str:
    """The folder part of a pattern before its first wildcard (ids are relative to it)."""
    parts = Path(pattern).parts
    base: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        base.append(part)
    if len(base) == len(parts):  # no wildcard: a file (base = its folder) or a folder
        p = Path(pattern)
        return str(p if p.is_dir() else p.parent)
    return str(Path(*base)) if base else "."


def default_source_name(pattern: str) -> str:
    """`data/raw/*.jsonl` -> `raw`; `corpus.jsonl.gz` -> `corpus`; `docs/` -> `docs` (URLs alike)."""
    if store.is_remote(pattern):
        url = store.normalise(pattern)
        if glob.has_magic(url):
            return store.name(_remote_glob_base(url)[0]) or "input"
        name = store.name(url)
        if "." in name and _remote_is_folder(url):
            return name
        return name.split(".")[0] or "input"
    p = Path(pattern)
    if glob.has_magic(pattern):
        base = Path(_glob_base(pattern))
        return base.name or "input"
    if p.is_dir():
        return p.name or "input"
    return p.name.split(".")[0] or "input"


def curated_manifest(folder: str | Path) -> dict | None:
    """The ``curate_dataset`` block of a folder curate wrote (a step folder, a command's output,
    an exported release), or None for a folder of user files."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _dataset_block(data)


def _dataset_block(data: object) -> dict | None:
    block = data.get("curate_dataset") if isinstance(data, dict) else None
    return block if isinstance(block, dict) and isinstance(block.get("data_files"), list) else None


def curated_source(path: str) -> tuple[str, dict] | None:
    """(folder, ``curate_dataset`` block) when ``path`` is something curate wrote, else None.

    Locally: a folder with such a manifest. In a store, also an output published there: its
    ``_release.json`` names the release folder that is the output now (the folder returned),
    which holds what a local output folder holds. Store errors are CurateErrors."""
    if not store.is_remote(path):
        block = curated_manifest(path) if os.path.isdir(path) else None
        return None if block is None else (path, block)
    url = store.normalise(path)
    if glob.has_magic(url):
        return None
    release = store.current_release(url)
    folder = release or url
    raw = store.read_bytes(store.join(folder, MANIFEST))
    try:
        block = _dataset_block(json.loads(raw)) if raw is not None else None
    except ValueError:
        block = None
    if block is None and release is not None:
        raise MissingInputError(
            f"{url}: its {store.RELEASE_MARKER} names the release {folder}, which has no readable {MANIFEST}",
            hint="the release was changed or removed after it was published; publish it again",
        )
    return None if block is None else (folder, block)


def _curated_files(folder: str, block: dict, where: str, i: int) -> list[InputFile]:
    """The kept data files a curated folder's manifest lists (never its rejected set or sidecars)."""
    if block.get("materialized") is False:
        # a link inside a fused chain: its kept rows were never written (text is written once per chain)
        where_from, end = block.get("recompute_from", "an earlier step"), block.get("chain_end", "a later step")
        step = store.name(folder) if store.is_remote(folder) else Path(folder).name
        chain_end = store.join(store.parent(folder), end) if store.is_remote(folder) else Path(folder).parent / end
        raise MissingInputError(
            f"{where}.paths[{i}]: {folder} is a step inside a fused chain and holds no kept data files "
            f"(its rows are recomputed from {where_from}; the chain's data is in {end})",
            hint=f"read {chain_end} instead, or write this step's rows with "
            f"`curate run CONFIG --until {step} --resume` on that workdir",
        )
    files = []
    columns = block.get("columns")
    complete = columns is None or {"id", "text", "source"} <= set(columns)
    remote = store.is_remote(folder)
    listed = {f.url: f for f in store.list_files(folder)} if remote else {}
    for rel in block["data_files"]:
        if remote:
            full = store.join(folder, rel)
            found = listed.get(full)
            size, mtime_ns = (found.size, found.mtime_ns) if found is not None else (0, 0)
        else:
            full = os.path.abspath(os.path.join(folder, rel))
            found = os.path.isfile(full)
            if found:
                st = os.stat(full)
                size, mtime_ns = st.st_size, st.st_mtime_ns
        if not found:
            raise MissingInputError(
                f"{where}.paths[{i}]: {folder} is a curate output whose manifest lists {rel}, which is missing",
                hint="the folder was changed after curate wrote it; rerun the command that made it",
            )
        fmt, compression = detect_format(full, "auto")
        # kept shards are adopted as they are (a JSON Lines release is read with the schema its
        # manifest records); a release without the core columns is ordinary input, ingested
        kind = (CURATED if fmt == "parquet" else CURATED_JSONL) if complete else (fmt or "jsonl")
        files.append(InputFile(full, rel, kind, compression, size, mtime_ns))
    return files


def _walk(root: Path, where: str) -> list[Path]:
    """Every file under ``root``; a subfolder that cannot be read is an error, never a silent gap."""

    def fail(err: OSError) -> None:
        raise MissingInputError(
            f"{where}: cannot read the folder {err.filename}: {err.strerror}",
            hint="fix its permissions, or name the readable folders in `paths`",
        )

    files = []
    for folder, dirs, names in os.walk(root, onerror=fail):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_")) and d != "rejected"]
        files += [Path(folder) / n for n in names if os.path.isfile(os.path.join(folder, n))]
    return files


def _hidden(rel: Path) -> bool:
    """Files a folder walk skips: names starting with `.` or `_` (sidecars, temporaries) at any
    depth, and anything under a `rejected/` folder (a rejected set is never input)."""
    return any(part.startswith((".", "_")) or part == "rejected" for part in rel.parts)


def expand_source(src: SourceConfig, where: str) -> list[InputFile]:
    """Every file a source names, sorted and without repeats; a path matching nothing is an error.

    A folder that curate wrote is recognised by its manifest and yields exactly the kept data
    files the manifest lists (format ``curated``): its rejected set, keys and sidecars never
    come back as input, whatever their names. URLs of a store (``s3://bucket/prefix``, globs,
    one object, a published curate output) follow the same rules against the store's listing.
    """
    seen: dict[str, InputFile] = {}
    for i, pattern in enumerate(src.paths):
        if store.is_remote(pattern):
            for f in _expand_remote(pattern, src, where, i):
                seen.setdefault(f.path, f)
            continue
        base = _glob_base(pattern)
        block = curated_manifest(pattern) if os.path.isdir(pattern) else None
        if block is not None:
            for f in _curated_files(pattern, block, where, i):
                seen.setdefault(f.path, f)
            continue
        if glob.has_magic(pattern):
            matches = sorted(m for m in glob.glob(pattern, recursive=True) if os.path.isfile(m))
        elif os.path.isdir(pattern):
            root = Path(pattern)
            matches = sorted(
                str(p)
                for p in _walk(root, f"{where}.paths[{i}]")
                if not _hidden(p.relative_to(root)) and detect_format(str(p), src.format)[0] is not None
            )
        elif os.path.isfile(pattern):
            matches = [pattern]
        else:
            matches = []
        if not matches:
            raise MissingInputError(
                f"{where}.paths[{i}]: no input file matches {pattern!r}",
                hint="check the path; relative paths are resolved against the config file's folder",
            )
        for m in matches:
            fmt, compression = _checked_format(m, src, where)
            full = os.path.abspath(m)
            if full in seen:
                continue
            st = os.stat(full)
            rel = os.path.relpath(full, os.path.abspath(base))
            seen[full] = InputFile(full, rel, fmt, compression, st.st_size, st.st_mtime_ns)
    return list(seen.values())


def is_arc(path: str) -> bool:
    """An ARC file (``x.arc``, ``x.arc.gz``): read by :mod:`curate.io.arc`, WARC by :mod:`curate.io.web`."""
    return "arc" in (part.lower() for part in path.rsplit("/", 1)[-1].split(".")[1:])


def _checked_format(m: str, src: SourceConfig, where: str) -> tuple[str, str | None]:
    """(format, compression) of one matched file, or the ConfigError that says why it cannot be read."""
    fmt, compression = detect_format(m, src.format)
    if fmt is None:
        raise ConfigError(
            f"{where}.format: cannot tell the format of {m!r} from its extension",
            hint="set format to one of: jsonl, parquet, csv, tsv, txt, warc, html",
        )
    if fmt == "parquet" and compression:
        raise ConfigError(f"{where}: compressed Parquet files are not supported ({m})")
    return fmt, compression


# ---------------------------------------------------------------- inputs in a store


def _remote_glob_base(url: str) -> tuple[str, list[str]]:
    """(the prefix before the first wildcard segment, the pattern's segments after it)."""
    scheme, rest = url.split("://", 1)
    parts = rest.split("/")
    k = next(j for j, part in enumerate(parts) if glob.has_magic(part))
    return f"{scheme}://" + "/".join(parts[:k]), parts[k:]


def _glob_match(pattern: list[str], parts: list[str]) -> bool:
    """Whether the key segments ``parts`` match ``pattern`` as :func:`glob.glob` (recursive) would
    match local paths: ``*``, ``?`` and ``[...]`` within one segment, ``**`` as a whole segment
    for any number of folders, and names starting with ``.`` only matched by a pattern that does."""
    if not pattern:
        return not parts
    seg = pattern[0]
    if seg == "**":
        if _glob_match(pattern[1:], parts):
            return True
        return bool(parts) and not parts[0].startswith(".") and _glob_match(pattern, parts[1:])
    if not parts or (len(pattern) > 1 and len(parts) == 1):  # a segment before the last names a folder
        return False
    name = parts[0]
    if glob.has_magic(seg):
        if (name.startswith(".") and not seg.startswith(".")) or not fnmatch.fnmatchcase(name, seg):
            return False
    elif name != seg:
        return False
    return _glob_match(pattern[1:], parts[1:])


def _remote_is_folder(url: str) -> bool:
    """Whether a URL names a prefix rather than one object (one request)."""
    return store.info(url) is None


def _expand_remote(pattern: str, src: SourceConfig, where: str, i: int) -> list[InputFile]:
    """The files one URL names; a store that cannot be reached or read is a MissingInputError
    naming the key and the URL (never the client's paragraph of text, never a credential)."""
    key = f"{where}.paths[{i}]"
    store.check_url(pattern, key)
    url = store.normalise(pattern)
    try:
        return _remote_matches(url, src, where, i)
    except (ConfigError, MissingInputError):
        raise
    except CurateError as err:
        raise MissingInputError(
            f"{key}: {err.message}",
            hint="check the URL, the credentials in the environment (AWS_ACCESS_KEY_ID, ...) and AWS_ENDPOINT_URL for an S3-compatible store",
        ) from None


def _remote_matches(url: str, src: SourceConfig, where: str, i: int) -> list[InputFile]:
    key = f"{where}.paths[{i}]"
    if glob.has_magic(url):
        base, pat = _remote_glob_base(url)
        if "://" not in base or base.endswith("://"):
            raise ConfigError(f"{key}: {url!r} has a wildcard in the bucket name", hint="name the bucket; wildcards may follow it")
        listed = [(f, f.url[len(base) + 1 :]) for f in store.list_files(base)]
        found = [(f, rel) for f, rel in listed if _glob_match(pat, rel.split("/"))]
    else:
        one = store.info(url)
        if one is not None:  # one object: named relative to its "folder", as a local file is
            found = [(one, store.name(url))]
        else:
            curated = curated_source(url)
            if curated is not None:
                return _curated_files(curated[0], curated[1], where, i)
            found = [
                (f, rel)
                for f in store.list_files(url)
                if not _hidden(PurePosixPath(rel := f.url[len(url) + 1 :])) and detect_format(rel, src.format)[0] is not None
            ]
    if not found:
        raise MissingInputError(f"{key}: {_nothing_at(url)}", hint="check the URL (a folder is a prefix: s3://BUCKET/PREFIX/)")
    files = []
    for f, rel in sorted(found, key=lambda t: t[0].url):
        fmt, compression = _checked_format(f.url, src, where)
        files.append(InputFile(f.url, rel, fmt, compression, f.size, f.mtime_ns))
    return files


def _nothing_at(url: str) -> str:
    """Why a URL matched nothing: no such bucket, or no object under it."""
    scheme, rest = url.split("://", 1)
    bucket = f"{scheme}://{rest.split('/', 1)[0]}"
    if not store.is_dir(bucket):
        return f"no input file matches {url!r}: the bucket {bucket} does not exist (or these credentials cannot see it)"
    return f"no input file matches {url!r}: no object in the store has that name or prefix"


def _jsonl_ranges(path: str, size: int, target: int) -> list[tuple[int, int, int]]:
    """Split a plain JSON Lines file into (start, end, first_line) ranges at newline boundaries.

    A range ends at the first newline at or after ``start + target``; the newlines before it are
    counted so that every range knows its first line number (ids and rejections carry file and
    line) without the workers reading what precedes them. A local file is mapped, not read: the
    counting touches the page cache in place (no copy into Python bytes) and stops at the last
    cut, where a plain read costs about three times the CPU. A store's object is streamed.
    """
    if size <= target:
        return [(0, size, 1)]
    if not store.is_remote(path):
        try:
            return _mapped_jsonl_ranges(path, size, target)
        except (ValueError, OSError):  # not mappable (a special file, changed meanwhile): read it
            pass
    return _streamed_jsonl_ranges(path, size, target)


_COUNT_STEP = 1 << 20
"""Bytes compared at a time when counting newlines (the comparison's buffer stays in cache)."""
_COUNT_BLOCK = 32 << 20
"""At most this many bytes of a range are counted by one task: a file's ranges before its last cut
are counted in such blocks on a thread per core (numpy compares and counts without the GIL). On 1M
documents in eight 139 MB files, planning counted 1 GB in 0.25-0.28 s on one thread, 0.15 s on
two; the planner runs before any read task starts, so this is wall time of every run."""
_MAP_DROP = 64 << 20
"""Mapped bytes after which the counted pages are let go, so the planner's resident memory stays
bounded by this (times the counting threads), not by the file (they remain in the page cache for
the workers' reads)."""


def _mapped_jsonl_ranges(path: str, size: int, target: int) -> list[tuple[int, int, int]]:
    """:func:`_jsonl_ranges` of a local file, through a read-only memory map: the cuts first (each
    one search from ``start + target``), then the newlines of every range before the last."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if len(mm) < size:
            raise ValueError("the file shrank since it was listed")
        bounds: list[tuple[int, int]] = []
        start = 0
        while (cut := mm.find(b"\n", start + target, size)) >= 0 and cut + 1 < size:
            bounds.append((start, cut + 1))
            start = cut + 1
        blocks = [(k, lo, min(lo + _COUNT_BLOCK, end)) for k, (begin, end) in enumerate(bounds) for lo in range(begin, end, _COUNT_BLOCK)]
        per_range = [0] * len(bounds)
        for (k, _, _), n in zip(blocks, _count_blocks(mm, [(lo, hi) for _, lo, hi in blocks]), strict=True):
            per_range[k] += n
    ranges: list[tuple[int, int, int]] = []
    line = 1
    for (begin, end), n in zip(bounds, per_range, strict=True):
        ranges.append((begin, end, line))
        line += n
    if start < size:
        ranges.append((start, size, line))
    return ranges


def _count_blocks(mm: mmap.mmap, blocks: list[tuple[int, int]]) -> list[int]:
    """Newlines in each ``(lo, hi)`` block of ``mm``, on a thread per core when there are several."""
    threads = min(len(blocks), os.cpu_count() or 1)
    if threads <= 1:
        return [_count_block(mm, lo, hi) for lo, hi in blocks]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads, thread_name_prefix="curate-plan") as pool:  # ended before workers fork
        return list(pool.map(lambda b: _count_block(mm, *b), blocks))


def _count_block(mm: mmap.mmap, lo: int, hi: int) -> int:
    """Newlines in ``mm[lo:hi]``, ``_COUNT_STEP`` bytes at a time; the block's whole pages are let
    go from the map every ``_MAP_DROP`` bytes counted."""
    count = 0
    dropped = -(-lo // mmap.PAGESIZE) * mmap.PAGESIZE  # first whole page of the block
    for i in range(lo, hi, _COUNT_STEP):
        j = min(i + _COUNT_STEP, hi)
        count += _newlines(mm, i, j)
        done = j // mmap.PAGESIZE * mmap.PAGESIZE
        if done - dropped >= _MAP_DROP and hasattr(mmap, "MADV_DONTNEED"):
            mm.madvise(mmap.MADV_DONTNEED, dropped, done - dropped)
            dropped = done
    return count


def _newlines(mm: mmap.mmap, start: int, end: int) -> int:
    """Newlines in ``mm[start:end]``, read in place by a compiled loop."""
    from curate.dedup import _native

    return _native.count_byte(np.frombuffer(mm, dtype=np.uint8, count=end - start, offset=start), 10)


def _streamed_jsonl_ranges(path: str, size: int, target: int) -> list[tuple[int, int, int]]:
    """:func:`_jsonl_ranges` by one sequential read (an object in a store), in blocks."""
    ranges: list[tuple[int, int, int]] = []
    start, line, pos, newlines_before_block = 0, 1, 0, 0
    with open_binary(path) as fh:  # an object in a store is streamed, once, at planning
        while block := fh.read(_SPLIT_BLOCK):
            block_start, pos = pos, pos + len(block)
            while (want := start + target - block_start) < len(block):
                cut = block.find(b"\n", max(want, 0))
                if cut < 0 or block_start + cut + 1 >= size:
                    break
                ranges.append((start, block_start + cut + 1, line))
                start = block_start + cut + 1
                line = 1 + newlines_before_block + block.count(b"\n", 0, cut + 1)
            newlines_before_block += block.count(b"\n")
    if start < size:
        ranges.append((start, size, line))
    return ranges


def plan_read_tasks(cfg: InputConfig) -> list[ReadTask]:
    """Expand every source into read tasks whose order and boundaries depend only on the inputs."""
    tasks: list[ReadTask] = []
    for si, src in enumerate(cfg.sources):
        where = f"input.sources[{si}]"
        files = expand_source(src, where)
        groups: dict[str, list[InputFile]] = {fmt: [] for fmt in _GROUPED}
        group_bytes = dict.fromkeys(_GROUPED, 0)
        for f in files:
            if f.format in _GROUPED:
                group = groups[f.format]
                group.append(f)
                group_bytes[f.format] += f.size
                if group_bytes[f.format] >= cfg.bytes_per_shard or len(group) >= cfg.rows_per_shard:
                    tasks.append(ReadTask(len(tasks), si, tuple(group)))
                    groups[f.format], group_bytes[f.format] = [], 0
                continue
            if f.format in (CURATED, CURATED_JSONL):
                tasks.append(ReadTask(len(tasks), si, (f,)))
                continue
            if f.format == "jsonl" and f.compression is None:
                for start, end, line in _jsonl_ranges(f.path, f.size, cfg.bytes_per_shard):
                    tasks.append(ReadTask(len(tasks), si, (f,), start, end, line))
            else:
                tasks.append(ReadTask(len(tasks), si, (f,)))
        for group in groups.values():
            if group:
                tasks.append(ReadTask(len(tasks), si, tuple(group)))
    return tasks


def input_fingerprint(tasks: list[ReadTask]) -> list[tuple[str, int, int]]:
    """What identifies the raw input: every file's path, size and modification time."""
    seen: dict[str, tuple[str, int, int]] = {}
    for t in tasks:
        for f in t.files:
            seen[f.path] = (f.path, f.size, f.mtime_ns)
    return sorted(seen.values())
