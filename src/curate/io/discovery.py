"""Expand the configured input paths into an ordered list of read tasks (before any data is read)."""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path

from curate.config import InputConfig, SourceConfig
from curate.errors import ConfigError, MissingInputError

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


@dataclass(frozen=True)
class InputFile:
    """One matched file: where it is, how to read it, and the name used in ids and messages."""

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
    """`data/raw/*.jsonl` -> `raw`; `corpus.jsonl.gz` -> `corpus`; `docs/` -> `docs`."""
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
    block = data.get("curate_dataset") if isinstance(data, dict) else None
    return block if isinstance(block, dict) and isinstance(block.get("data_files"), list) else None


def _curated_files(folder: str, block: dict, where: str, i: int) -> list[InputFile]:
    """The kept data files a curated folder's manifest lists (never its rejected set or sidecars)."""
    if block.get("materialized") is False:
        # a link inside a fused chain: its kept rows were never written (text is written once per chain)
        where_from, end = block.get("recompute_from", "an earlier step"), block.get("chain_end", "a later step")
        step = Path(folder).name
        raise MissingInputError(
            f"{where}.paths[{i}]: {folder} is a step inside a fused chain and holds no kept data files "
            f"(its rows are recomputed from {where_from}; the chain's data is in {end})",
            hint=f"read {Path(folder).parent / end} instead, or write this step's rows with "
            f"`curate run CONFIG --until {step} --resume` on that workdir",
        )
    files = []
    columns = block.get("columns")
    complete = columns is None or {"id", "text", "source"} <= set(columns)
    for rel in block["data_files"]:
        full = os.path.abspath(os.path.join(folder, rel))
        if not os.path.isfile(full):
            raise MissingInputError(
                f"{where}.paths[{i}]: {folder} is a curate output whose manifest lists {rel}, which is missing",
                hint="the folder was changed after curate wrote it; rerun the command that made it",
            )
        fmt, compression = detect_format(full, "auto")
        st = os.stat(full)
        # kept shards are adopted as they are (a JSON Lines release is read with the schema its
        # manifest records); a release without the core columns is ordinary input, ingested
        kind = (CURATED if fmt == "parquet" else CURATED_JSONL) if complete else (fmt or "jsonl")
        files.append(InputFile(full, rel, kind, compression, st.st_size, st.st_mtime_ns))
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
    come back as input, whatever their names.
    """
    seen: dict[str, InputFile] = {}
    for i, pattern in enumerate(src.paths):
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
            fmt, compression = detect_format(m, src.format)
            if fmt is None:
                raise ConfigError(
                    f"{where}.format: cannot tell the format of {m!r} from its extension",
                    hint="set format to one of: jsonl, parquet, csv, tsv, txt, warc, html",
                )
            if fmt == "parquet" and compression:
                raise ConfigError(f"{where}: compressed Parquet files are not supported ({m})")
            if fmt == "warc" and ".arc" in (s.lower() for s in Path(m).suffixes):
                raise ConfigError(
                    f"{where}: {m!r} is an ARC file (the format before WARC), which is not supported",
                    hint="convert it to WARC first, e.g. with warcio's `warcio recompress` or `arc2warc`",
                )
            full = os.path.abspath(m)
            if full in seen:
                continue
            st = os.stat(full)
            rel = os.path.relpath(full, os.path.abspath(base))
            seen[full] = InputFile(full, rel, fmt, compression, st.st_size, st.st_mtime_ns)
    return list(seen.values())


def _jsonl_ranges(path: str, size: int, target: int) -> list[tuple[int, int, int]]:
    """Split a plain JSON Lines file into (start, end, first_line) ranges at newline boundaries.

    One sequential pass counts newlines per block so that every range knows its first line
    number (rejections report file and line) without the workers reading what precedes them.
    """
    if size <= target:
        return [(0, size, 1)]
    ranges: list[tuple[int, int, int]] = []
    start, line, pos, newlines_before_block = 0, 1, 0, 0
    with open(path, "rb") as fh:
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
