"""Damaged and hostile input files, built in code: each helper writes one file and returns its path.

Used by ``tests/test_ingest_hostile.py``; every helper is deterministic, so a failing case can be
rebuilt by calling it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def jsonl_bytes(n: int, start: int = 0) -> bytes:
    """``n`` JSON Lines records ``{"text": "record i ...", "n": i}``."""
    return b"".join(
        json.dumps({"text": f"record {i} with a few words of text", "n": i}).encode() + b"\n"
        for i in range(start, start + n)
    )


def deeply_nested(depth: int, kind: bytes = b"[") -> bytes:
    """One JSON value nested ``depth`` levels deep (``[[[...]]]`` or ``{"a":{"a":...}}``)."""
    if kind == b"[":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def gzip_file(path: Path, data: bytes, keep: float = 1.0) -> Path:
    """``data`` gzip-compressed, cut to the first ``keep`` fraction of its compressed bytes."""
    packed = gzip.compress(data, mtime=0)
    return write(path, packed[: int(len(packed) * keep)])


def zstd_file(path: Path, data: bytes, keep: float = 1.0, frames: int = 1) -> Path:
    """``data`` zstd-compressed in ``frames`` frames, cut to a fraction of its compressed bytes."""
    import zstandard

    step = -(-len(data) // frames)
    packed = b"".join(zstandard.ZstdCompressor().compress(data[i : i + step]) for i in range(0, len(data), step))
    return write(path, packed[: int(len(packed) * keep)])


def flip_bytes(path: Path, at: int, n: int = 8) -> Path:
    """Overwrite ``n`` bytes from offset ``at`` with their complement (in place)."""
    data = bytearray(path.read_bytes())
    for i in range(at, min(at + n, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def parquet_file(path: Path, n: int, row_group_size: int) -> Path:
    """``n`` rows (text, n) in row groups of ``row_group_size`` rows, uncompressed pages."""
    table = pa.table({"text": [f"parquet document {i} " * 5 for i in range(n)], "n": list(range(n))})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size, compression="none")
    return path


def damage_row_group(path: Path, group: int) -> Path:
    """Garble the page header of the first column chunk of one row group."""
    meta = pq.ParquetFile(path).metadata
    offset = meta.row_group(group).column(0).data_page_offset
    return flip_bytes(path, offset, 16)


# ---------------------------------------------------------------- more hostile files (fault suite)


def records_bytes(records: list[object]) -> bytes:
    """JSON Lines of arbitrary values (objects or not), one per line."""
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def many_columns(n_columns: int) -> bytes:
    """One JSON Lines record with ``n_columns`` metadata fields besides ``text``."""
    record = {"text": "a record with very many fields"}
    record.update({f"c{i:05d}": i for i in range(n_columns)})
    return json.dumps(record).encode() + b"\n"


def wide_csv(n_columns: int, n_rows: int = 2) -> bytes:
    header = ",".join(["text", *(f"c{i}" for i in range(n_columns - 1))])
    body = "".join(",".join([f"row {r}", *("1" for _ in range(n_columns - 1))]) + "\n" for r in range(n_rows))
    return (header + "\n" + body).encode()


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def parquet_table(path: Path, columns: dict[str, list[object]]) -> Path:
    """A Parquet file of the given columns (types inferred by pyarrow)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def symlink_loop(folder: Path, name: str = "d.jsonl") -> Path:
    """``name`` -> ``name.b`` -> ``name``: opening it fails with ELOOP."""
    folder.mkdir(parents=True, exist_ok=True)
    a, b = folder / name, folder / f"{name}.b"
    a.symlink_to(b.name)
    b.symlink_to(a.name)
    return a


def fifo(path: Path) -> Path:
    """A named pipe with no writer: a reader that opens it blocks forever."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def yaml_alias_bomb(levels: int = 9, fan: int = 9) -> str:
    """YAML whose aliases expand to ``fan ** levels`` strings (a "billion laughs" config)."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    lines.append(f"input: {{paths: [data.jsonl], text_field: *a{levels}}}")
    return "\n".join(lines) + "\n"
