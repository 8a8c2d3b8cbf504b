"""Every document id is unique after ingest: later copies of an id go to ``rejected/`` as ``duplicate_id``.

Two records with one id would be joined to each other's decisions (a unique document removed as
a "duplicate" because another shares its id) and would break every per-id join after ingest. The
check is global and compact: a 64-bit hash per id (8 bytes a document), exact strings compared
only for the hashes that repeat. The first record by input order (read task, then chunk, then
row) keeps the id; the rest are rejected, naming where the id was first seen. Under ``strict`` the
run stops instead.

Resumable and idempotent: decisions are computed from the shards as they are (the first copy is
never moved, so an interrupted pass decides the same again); a shard's later copies are written
to ``rejected/`` before its kept file is rewritten; and the counts come from the rejected files,
so a pass repeated after a crash counts nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from curate.errors import InputError
from curate.io.shards import write_parquet_atomic
from curate.manifest import StageStats

REASON = "duplicate_id"
_SEED = 0x1D5EED


def rejected_name(shard: str) -> str:
    return f"{shard}-{REASON.replace('_', '-')}.parquet"


def check_unique_ids(folder: Path, shards: list[str], strict: bool, where: Callable[[str], str]) -> StageStats:
    """Reject later copies of repeated ids in the ingested ``shards`` of ``folder``.

    ``where(shard)`` names the input a shard came from (for messages). Returns the change to
    the step's counts (kept down, rejected up by the same number), read from the files.
    """
    _reject_later_copies(folder, shards, strict, where)
    import pyarrow.parquet as pq

    removed = sum(pq.read_metadata(folder / "rejected" / rejected_name(s)).num_rows for s in shards if (folder / "rejected" / rejected_name(s)).is_file())
    return StageStats(0, -removed, 0, Counter({REASON: removed}) if removed else Counter())


def _reject_later_copies(folder: Path, shards: list[str], strict: bool, where: Callable[[str], str]) -> None:
    ids = [pl.read_parquet(folder / f"{s}.parquet", columns=["id"])["id"] for s in shards]
    if not ids:
        return
    # polars' hash is not stable across versions, which is fine here: it is never persisted, only
    # used to find candidate repeats within this pass, which exact strings then confirm
    hashes = np.concatenate([col.hash(seed=_SEED).to_numpy() for col in ids])
    ordered = np.sort(hashes)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if repeated.size == 0:
        return
    frames = []
    offset = 0
    for k, col in enumerate(ids):
        mask = np.isin(hashes[offset : offset + len(col)], repeated)
        rows = np.flatnonzero(mask)
        if rows.size:
            frames.append(pl.DataFrame({"id": col.gather(rows), "_shard": np.full(rows.size, k, np.int32), "_row": rows.astype(np.int64)}))
        offset += len(col)
    candidates = pl.concat(frames).sort(["_shard", "_row"])  # input order
    firsts = candidates.unique("id", keep="first", maintain_order=True).rename({"_shard": "_first_shard", "_row": "_first_row"})
    later = candidates.join(firsts, on="id").filter((pl.col("_shard") != pl.col("_first_shard")) | (pl.col("_row") != pl.col("_first_row")))
    if later.height == 0:
        return
    if strict:
        row = later.row(0, named=True)
        raise InputError(
            f"duplicate id {row['id']!r}: records in {where(shards[row['_first_shard']])} and {where(shards[row['_shard']])} share it",
            hint="ids must be unique; fix the input, or run without --strict to reject later copies as duplicate_id",
        )
    for (k,), part in later.group_by("_shard", maintain_order=True):
        _move_rows(folder, shards[int(k)], part, shards, where)


def _move_rows(folder: Path, shard: str, part: pl.DataFrame, shards: list[str], where: Callable[[str], str]) -> None:
    path = folder / f"{shard}.parquet"
    frame = pl.read_parquet(path)
    drop = np.zeros(frame.height, dtype=bool)
    drop[part["_row"].to_numpy()] = True
    detail = [f"id {i!r} was already used by a record of {where(shards[int(s)])}" for i, s in zip(part["id"], part["_first_shard"], strict=True)]
    rejected = frame.filter(pl.Series(drop)).with_columns(
        pl.lit("ingest").alias("reject_stage"),
        pl.lit(REASON).alias("reject_reason"),
        pl.Series("reject_detail", detail, dtype=pl.String),
    )
    write_parquet_atomic(rejected, folder / "rejected" / rejected_name(shard))
    write_parquet_atomic(frame.filter(~pl.Series(drop)), path)
