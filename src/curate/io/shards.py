"""Parquet shards on disk: atomic writes, listing, and small JSON sidecars."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_COMPRESSION = "zstd"
WORK_COMPRESSION = "lz4"
"""Codec of the kept shards of a workdir step that no command publishes (read by the next steps
only): on 127 MB of text, lz4 writes in ~60 % and reads in ~50 % of zstd's time, for ~1.5x the
bytes. Published shards, rejected sets and exports stay zstd."""
EXPORT_INPUT_COMPRESSION = "none"
"""Codec of the kept shards of the step right before export (read once more, by the export,
which re-encodes every row anyway): uncompressed Parquet writes in ~40 % and reads in ~60 % of
lz4's time for ~2.3x the bytes (about the size of the text itself)."""
SMALL_RUN_COMPRESSION = "none"
"""Codec of every workdir step's kept shards in a run small enough to stay in one process
(``runner.one_process``: at most 64 MiB of input, so at most a few hundred MB of shards, removed
once the run has published): `curate dedup` of 100,000 documents reads its ingest shards three
times; uncompressed, the command took 2.64 s and 3.83 CPU s instead of 2.93 and 4.30 (medians of
5 alternating runs, 2 cores), for ~40 MiB more at its peak."""


def temporary_name(path: Path) -> Path:
    """Where ``path`` is written before its rename: hidden, and unique to this process and thread
    (units may run on several threads of one process: ``ThreadExecutor``)."""
    tid = "" if threading.current_thread() is threading.main_thread() else f"-{threading.get_native_id()}"
    return path.with_name(f".{path.name}.tmp-{os.getpid()}{tid}")


def write_parquet_atomic(frame: pl.DataFrame | pa.Table, path: str | Path, compression: str = PARQUET_COMPRESSION) -> int:
    """Write to a temporary name in the same folder, then rename: readers never see a partial file.

    A polars frame is written by polars' own Parquet writer (``polars_parquet_options``), an Arrow
    table by pyarrow's (``parquet_options``). Both store text as Parquet strings that pyarrow reads
    as ``large_string`` and polars as ``String``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        if isinstance(frame, pl.DataFrame):
            try:
                frame.write_parquet(tmp, **polars_parquet_options(compression))
            except pl.exceptions.PolarsError as err:
                raise os_error_of(err, tmp) from None
        else:
            pq.write_table(frame, tmp, **parquet_options(frame.schema, compression))
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves no temporary behind
        raise
    os.replace(tmp, path)
    return path.stat().st_size


def os_error_of(err: Exception, path: str | Path) -> Exception:
    """polars reports a failed write (a full disk, a permission) as its own error that names the
    system's (``... (os error 28)``): the OSError it stands for, so the runner words it as it
    words pyarrow's (``space_error``: which folder, how much is needed); any other error as it is."""
    import re

    found = re.search(r"os error (\d+)\)", str(err))
    if found is None:
        return err
    code = int(found.group(1))
    return OSError(code, os.strerror(code), str(path))


def polars_parquet_options(compression: str = PARQUET_COMPRESSION) -> dict[str, Any]:
    """polars' writer settings for a shard.

    Why polars writes curate's frames: polars holds strings as views, and ``to_arrow`` for
    pyarrow's writer copied all of a shard's text into fresh memory first (19 % of the page faults
    of a `curate dedup` of 100,000 documents); with polars' writer that command took 1.85 s instead
    of 2.04 (median of 10 alternating runs, 2 cores; system CPU 0.69 instead of 0.92 s). zstd at
    level 1, Arrow's default for it. Statistics for every column: polars truncates those of long
    text, at no measured cost; it dictionary-encodes low-cardinality columns itself."""
    codec = {"none": "uncompressed"}.get(compression, compression)
    return {"compression": codec, "compression_level": 1 if codec == "zstd" else None, "statistics": True}


def parquet_options(schema: pa.Schema, compression: str = PARQUET_COMPRESSION) -> dict[str, Any]:
    """Writer settings: no dictionary or min/max statistics for long text (slow, never useful)."""
    long_text = {"text", "raw"}
    small = [f.name for f in schema if f.name not in long_text]
    return {
        "compression": None if compression == "none" else compression,
        "use_dictionary": small,
        "write_statistics": small,
    }


def write_bytes_atomic(data: bytes, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def write_json_atomic(data: Any, path: str | Path) -> None:
    write_bytes_atomic((json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode(), path)


def read_json(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def list_parts(folder: str | Path) -> list[Path]:
    """Complete data shards of a folder, sorted by name (temporary files are hidden)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("part-*.parquet") if p.is_file())


def read_shard(path: str | Path, columns: list[str] | None = None) -> pl.DataFrame:
    """A shard curate wrote earlier (a step's output); a damaged or missing one is a clear error.
    A one-process run may have its frame in memory still (``shard_cache``)."""
    from curate.io import shard_cache

    kept = shard_cache.get(path)
    if kept is not None and (columns is None or set(columns) <= set(kept.columns)):
        return kept if columns is None else kept.select(columns)
    try:
        return pl.read_parquet(path, columns=columns)
    except FileNotFoundError:
        from curate.errors import StageError

        raise StageError(f"{path}: a shard of an earlier step is missing", hint="rerun without --resume to recompute it") from None
    except (OSError, pl.exceptions.PolarsError) as err:
        from curate.errors import StageError

        raise StageError(
            f"{path}: a shard of an earlier step is damaged ({type(err).__name__}: {str(err).splitlines()[0][:200]})",
            hint="rerun without --resume to recompute it",
        ) from None


def remove_tree(path: str | Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def clean_temporaries(folder: str | Path) -> None:
    """Remove leftovers of writes interrupted by a crash."""
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.rglob(".*.tmp-*"):
            p.unlink(missing_ok=True)
