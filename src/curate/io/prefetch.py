"""Decode a command's Parquet input while the rest of curate is still loading.

A `curate dedup FILE.parquet` spends its first ~0.3 s importing (typer, pydantic, polars, the
stages) and planning on one core, then ingest starts decoding the file. The command line says
which file ingest will read and how (a single command's read settings are fixed), so ``start``
begins that very read on a thread at once, with the reader ingest uses (``parquet_chunks.parquet_chunks``
through ``read_ahead``), and ingest's reader ``take``s it if it is the read it was about to make:
the same file (device, inode, size, modification time) read with the same settings. Anything
else (another file, other settings, a file changed since) is not taken, and ``discard`` stops it
once ingest is over: a prefetch changes when work happens, never what is read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

_Key = tuple[int, int, int, int, str, int, int | None]

_lock = threading.Lock()
_started: dict[_Key, Iterator[Any]] = {}
_owner = os.getpid()
"""The process whose threads read: a worker forked from it inherits ``_started`` without them."""


def _key(path: str, text_field: str, rows_per_chunk: int, text_bytes: int | None) -> _Key | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, text_field, rows_per_chunk, text_bytes)


def start(path: str, text_field: str, rows_per_chunk: int, text_bytes: int | None) -> None:
    """Begin reading local Parquet file ``path`` as ingest would with these settings, on a thread."""
    global _owner
    key = _key(path, text_field, rows_per_chunk, text_bytes)
    if key is None:
        return
    _owner = os.getpid()
    # numpy and pyarrow imported here, not on the reading thread: imports hold the GIL, so the
    # thread's would only take turns with the caller's; decoding does not, and runs beside them
    from curate.io.parquet_chunks import parquet_chunks
    from curate.io.read_ahead import read_ahead

    def chunks() -> Iterator[Any]:
        return parquet_chunks(path, rows_per_chunk, text_field, text_bytes)

    with _lock:
        if key not in _started:
            _started[key] = read_ahead(chunks, depth=2, name="curate-prefetch")


def take(path: str, text_field: str, rows_per_chunk: int, text_bytes: int | None) -> Iterator[Any] | None:
    """The chunks of a read ``start`` began with these settings, if the file is still the one it
    opened; None otherwise. A prefetch is taken once."""
    if not _started or os.getpid() != _owner:
        return None
    key = _key(path, text_field, rows_per_chunk, text_bytes)
    with _lock:
        return _started.pop(key, None) if key is not None else None


def discard() -> None:
    """Stop every read nobody took (their threads end after their current chunk)."""
    with _lock:
        left = list(_started.values()) if os.getpid() == _owner else []
        _started.clear()
    for chunks in left:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
