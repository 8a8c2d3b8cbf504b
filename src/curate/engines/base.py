"""What every engine returns, and the work each step does on one shard (engine-agnostic)."""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from curate.config import InputConfig, SourceConfig
from curate.engines.executor import on_unit_thread, unit_cpu_seconds
from curate.errors import CurateError, StageError
from curate.ingest import finalize_chunk
from curate.io import shard_cache, store
from curate.io.discovery import CURATED, CURATED_JSONL, InputFile, ReadTask, open_native
from curate.io.parquet_chunks import text_lengths
from curate.io.readers import RawChunk, ReadLimits, read_task
from curate.io.shards import (
    PARQUET_COMPRESSION,
    list_parts,
    parquet_options,
    read_json,
    read_shard,
    temporary_name,
    write_json_atomic,
    write_parquet_atomic,
)
from curate.manifest import StageStats, StepResult
from curate.stages.base import REJECT, REJECT_DETAIL, GlobalStage, MapStage, Stage, StageContext


@dataclass
class RunReport:
    """The outcome of a run: one result per step, the wall time and the run manifest."""

    steps: list[StepResult]
    wall_seconds: float
    manifest: dict[str, Any] = field(default_factory=dict)


# Stages are pickled into every task; keep one set-up instance per worker process so that
# models load once per worker, not once per shard.
_READY: dict[str, Stage] = {}
_READY_LOCK = threading.Lock()


def ready_stage(stage: Stage, fingerprint: str) -> Stage:
    """The set-up instance of ``stage`` in this process: set up once, by the first unit that needs
    it, even when units run on several threads (``ThreadExecutor``)."""
    with _READY_LOCK:
        cached = _READY.get(fingerprint)
        if cached is None:
            stage.setup()
            _READY[fingerprint] = cached = stage
        return cached


def stats_path(folder: Path, name: str) -> Path:
    return folder / "_stats" / f"{name}.json"


def done_stats(folder: Path, name: str, fingerprint: str) -> StageStats | None:
    """Stats of a unit of work completed earlier with the same fingerprint (for --resume), or in
    this run with its output held in memory only (``shard_cache.hold_unwritten``)."""
    held = shard_cache.unwritten_stats(folder / f"{name}.parquet", fingerprint)
    if held is not None:
        return held
    data = read_json(stats_path(folder, name))
    if data and data.get("fingerprint") == fingerprint:
        return StageStats.from_json(data["stats"])
    return None


def save_stats(folder: Path, name: str, fingerprint: str, stats: StageStats) -> None:
    write_json_atomic({"fingerprint": fingerprint, "stats": stats.to_json()}, stats_path(folder, name))


def route(
    out: pl.DataFrame, input_columns: list[str], kind: str, reject_only: frozenset[str] = frozenset()
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a stage's output into kept rows and rejected rows; scratch columns never leave."""
    scratch = [c for c in out.columns if c.startswith("_") and c not in input_columns]
    reject_cols = [c for c in reject_only if c in out.columns and c not in input_columns]
    if REJECT not in out.columns:
        return out.drop(scratch, *reject_cols), pl.DataFrame()
    mask = out[REJECT].is_not_null()
    kept = out.filter(~mask).drop(scratch, *reject_cols)
    rejected = out.filter(mask)
    if rejected.height:
        detail = pl.col(REJECT_DETAIL).cast(pl.String) if REJECT_DETAIL in out.columns else pl.lit(None, pl.String)
        rejected = rejected.with_columns(
            pl.lit(kind).alias("reject_stage"),
            pl.col(REJECT).cast(pl.String).alias("reject_reason"),
            detail.alias("reject_detail"),
        ).drop(scratch)
    return kept, rejected


def routed_stats(batch_rows: int, kept: pl.DataFrame, rejected: pl.DataFrame, ctx: StageContext, adds_rows: bool) -> StageStats:
    reasons: Counter[str] = Counter()
    if rejected.height:
        for reason, n in rejected.group_by("reject_reason").len().iter_rows():
            reasons[reason] = int(n)
    total = kept.height + rejected.height
    added = total - batch_rows if adds_rows else 0
    if not adds_rows and total != batch_rows:
        raise StageError(f"stage changed the number of rows ({batch_rows} in, {total} out) without declaring adds_rows")
    return StageStats(batch_rows, kept.height, added, reasons, Counter(ctx.counters), shards=1)


def write_routed(folder: Path, name: str, kept: pl.DataFrame, rejected: pl.DataFrame, compression: str = PARQUET_COMPRESSION) -> int:
    """Write a unit's kept and rejected rows (kept ones with ``compression``: see ``ChainLink``); a
    rejected file left by an earlier attempt of the same unit that rejected rows which this one
    keeps is removed (never counted twice)."""
    return write_rejected(folder, name, rejected) + write_parquet_atomic(kept, folder / f"{name}.parquet", compression)


def write_rejected(folder: Path, name: str, rejected: pl.DataFrame) -> int:
    """Write a unit's rejected rows only (a link of a fused chain whose kept rows live downstream)."""
    rejected_path = folder / "rejected" / f"{name}.parquet"
    if rejected.height:
        return write_parquet_atomic(rejected, rejected_path)
    rejected_path.unlink(missing_ok=True)
    return 0


# ---------------------------------------------------------------- units of work


def _gives_memory_back(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A unit of work that hands the memory it freed back to the system when it ends.

    pyarrow's allocator (mimalloc) keeps freed pages for reuse: a 50,000-row shard of 63 MB of
    text leaves ~300 MiB resident in the process that read and wrote it, which then sits idle in
    the driver (after ingest) or a worker (between steps) while the others work."""

    @functools.wraps(fn)
    def unit(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            import pyarrow

            if not on_unit_thread():  # a ThreadExecutor releases once a map, for all its threads
                pyarrow.default_memory_pool().release_unused()

    return unit


class _WriteBehind:
    """Writes each chunk's shards with ``write``: at once, or, ``behind``, on ``WRITERS`` other
    threads while the next chunk is read and checked (at most ``WRITERS`` writes in flight: that
    many chunks more in memory).

    For an ingest unit with a core to spare (``ThreadExecutor`` with fewer units than threads):
    the Parquet encoding and codec of a chunk's shards release the GIL. On 100,000 documents in
    one 32 MB Parquet file (one unit), ingest took 0.57-0.76 s instead of 0.73-1.36 s with one
    writer; with two, the checks no longer wait for the writes (and the exact-dedup keys computed
    with them): see ``WRITERS``."""

    WRITERS = 2
    """Writes in flight. With one, a `curate dedup` of 100,000 documents in one Parquet file spent
    ~0.2 s of its ~0.48 s ingest with the checks waiting for the writer (each chunk's write and
    exact-dedup keys, ~0.1 s, against its checks' ~0.05 s)."""

    def __init__(self, write: Callable[[str, pl.DataFrame, pl.DataFrame], int], behind: bool) -> None:
        self._write = write
        self._pool: Any = None
        if behind:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(self.WRITERS, thread_name_prefix="curate-write")
        self._pending: list[Any] = []

    def __enter__(self) -> _WriteBehind:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)  # writes in flight end before the unit does

    def put(self, shard: str, kept: pl.DataFrame, rejected: pl.DataFrame) -> int:
        """Write one chunk's shards, or start to: the bytes of the writes that have finished."""
        if self._pool is None:
            return self._write(shard, kept, rejected)
        done = 0
        while len(self._pending) >= self.WRITERS:  # the oldest first: its error is raised here
            done += self._pending.pop(0).result()
        self._pending.append(self._pool.submit(self._write, shard, kept, rejected))
        return done

    def drain(self) -> int:
        """Wait for the writes in flight: their bytes (the first error is raised here)."""
        done = 0
        while self._pending:
            done += self._pending.pop(0).result()
        return done


@_gives_memory_back
def ingest_task(
    task: ReadTask, src: SourceConfig, cfg: InputConfig, default_source: str, folder: Path, fingerprint: str,
    compression: str = PARQUET_COMPRESSION, write_behind: bool = False, keys_for: ChainLink | None = None,
    hold: bool = False,
) -> StageStats:
    """Read, validate and write one read task; its shards are `part-TTTTT-CCCC`, kept rows
    written with ``compression`` (``WORK_COMPRESSION`` unless the step is published), each
    chunk's on a second thread while the next is read with ``write_behind`` (``_WriteBehind``).
    ``keys_for``: the global stage right after ingest, whose keys are cheap (``keys_cheap``):
    each shard's keys are computed from its rows in memory and marked as computed from that
    very file (``write_keys_of``), so the stage does not read the shard back for them.
    ``hold``: kept shards are held in memory instead of written (``shard_cache.hold_unwritten``)
    where they fit: a one-process command whose workdir is removed once it succeeds, whose later
    steps read them from there (``write_held_shards`` writes them where a file is needed). The
    unit then leaves no done mark: after a crash, ``--resume`` reads this task again."""
    t0 = unit_cpu_seconds()
    name = f"task-{task.index:05d}"
    for stale in list(folder.glob(f"part-{task.index:05d}-*.parquet")) + list(
        (folder / "rejected").glob(f"part-{task.index:05d}-*.parquet")
    ):
        stale.unlink()
    stats = StageStats()
    if task.files[0].format in (CURATED, CURATED_JSONL):
        stats = _adopt_shard(task, folder)
        stats.cpu_seconds = unit_cpu_seconds() - t0
        save_stats(folder, name, fingerprint, stats)
        return stats
    limits = ReadLimits.for_max_chars(cfg.max_chars)
    chunks = (
        piece
        for raw in read_task(task, src.text_field, cfg.rows_per_shard, limits, src.html, src.non_html, cfg.shard_text_bytes)
        for piece in text_slices(raw, src.text_field, cfg.shard_text_bytes)
    )
    keys_cpu = [0.0]
    keys_lock = threading.Lock()
    # the keys' CPU is the global stage's (behind the reading, the writer thread's own), and not
    # ingest's too where ingest's clock counts it: it ran on the unit's thread, or that clock is
    # the whole process's (a unit alone in its process: ``unit_cpu_seconds``)
    keys_in_clock = not write_behind or not on_unit_thread()

    held = [False]

    def write(shard: str, kept: pl.DataFrame, rejected: pl.DataFrame) -> int:
        written = 0
        if kept.height:
            path = folder / f"{shard}.parquet"
            if hold and shard_cache.hold_unwritten(path, kept, "", None):
                held[0] = True
            else:
                written += write_parquet_atomic(kept, path, compression)
                shard_cache.keep(path, kept)  # read back by the next steps (a one-process run)
            if keys_for is not None:
                keys = write_keys_of(keys_for, shard, kept, time.thread_time if write_behind else unit_cpu_seconds)
                if keys_in_clock:
                    with keys_lock:
                        keys_cpu[0] += keys.cpu_seconds
        if rejected.height:
            written += write_parquet_atomic(rejected, folder / "rejected" / f"{shard}.parquet")
        return written

    with _WriteBehind(write, write_behind) as writer:
        for c, chunk in enumerate(chunks):
            kept, rejected = finalize_chunk(chunk, src, cfg, default_source)
            reasons: Counter[str] = Counter(rejected["reject_reason"].to_list()) if rejected.height else Counter()
            n = kept.height + rejected.height
            stats = stats + StageStats(n, kept.height, 0, reasons, Counter(chunk.counters), int(kept.height > 0))
            stats.bytes_written += writer.put(f"part-{task.index:05d}-{c:04d}", kept, rejected)
            del chunk, kept, rejected  # freed before the next chunk is read, not while it is
        stats.bytes_written += writer.drain()
    stats.cpu_seconds = unit_cpu_seconds() - t0 - keys_cpu[0]
    if not held[0]:  # a mark for shards that are on disk only
        save_stats(folder, name, fingerprint, stats)
    return stats


def write_held_shards(folder: Path, compression: str) -> list[str]:
    """Write the shards of ``folder`` held in memory (``ingest_task``'s ``hold``) as files, where a
    file is needed after all (a pass that rewrites shards, a failed run); returns their names."""
    names = sorted(shard_cache.unwritten_in(folder))
    for name in names:
        path = folder / f"{name}.parquet"
        frame = shard_cache.get(path)
        if frame is None:
            continue
        write_parquet_atomic(frame, path, compression)
        shard_cache.drop(path)
        shard_cache.keep(path, frame)
    return names


def text_slices(chunk: RawChunk, text_field: str, cap: int | None) -> list[RawChunk]:
    """``chunk`` cut into consecutive pieces of at most ``cap`` bytes of text each (a longer
    document alone), for ``input.shard_text_bytes``; the chunk itself when it holds no more (or
    ``cap`` is None). The file's problems and reader counters go with the first piece."""
    table = chunk.table
    field_name = "text" if chunk.file.format in ("txt", "warc", "html") else text_field
    if cap is None or table.num_rows < 2 or field_name not in table.column_names:
        return [chunk]
    import numpy as np
    import pyarrow as pa

    column = table.column(field_name)
    if not any(check(column.type) for check in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)):
        return [chunk]
    ends = np.cumsum(text_lengths(column))
    if ends[-1] <= cap:
        return [chunk]
    pieces = []
    start, done = 0, 0  # first row of the piece; text bytes before it
    while start < table.num_rows:
        stop = max(start + 1, int(np.searchsorted(ends, done + cap, side="right")))
        first = not pieces
        pieces.append(
            RawChunk(
                chunk.file, table.slice(start, stop - start), chunk.lines[start:stop],
                chunk.bad if first else [], chunk.unit, chunk.counters if first else Counter(),
            )
        )
        done = int(ends[stop - 1])
        start = stop
    return pieces


def _adopt_shard(task: ReadTask, folder: Path) -> StageStats:
    """A kept shard of a folder curate wrote becomes this run's shard as it is: linked (or
    copied across filesystems), never re-parsed, re-validated or re-normalised."""
    import pyarrow.parquet as pq

    src = task.files[0]
    target = folder / f"part-{task.index:05d}-0000.parquet"
    tmp = temporary_name(target)
    tmp.unlink(missing_ok=True)
    if src.format == CURATED_JSONL:
        _shard_from_release_jsonl(src, tmp)
    elif store.is_remote(src.path):  # a shard of a curate output in a store: copied in, streamed
        store.download(src.path, tmp)
    else:
        try:
            os.link(src.path, tmp)
        except OSError:
            import shutil

            shutil.copyfile(src.path, tmp)
    try:
        rows = pq.read_metadata(tmp).num_rows
    except Exception as err:  # a damaged shard of an earlier run: say which
        tmp.unlink(missing_ok=True)
        raise StageError(f"{src.path}: not a readable Parquet shard ({err})", hint="rerun the command that wrote it") from None
    os.replace(tmp, target)
    return StageStats(rows, rows, 0, Counter(), Counter(), 1, src.size)


def _shard_from_release_jsonl(src: InputFile, out: Path) -> None:
    """One JSON Lines file of a curate release as a Parquet shard, typed by the schema the
    release's manifest records (JSON alone cannot tell a null column's type)."""
    import base64

    import pyarrow as pa
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    root = src.path[: len(src.path) - len(src.relpath)]
    remote = store.is_remote(src.path)
    if remote:
        raw = store.read_bytes(store.join(root, "_manifest.json"))
        manifest = json.loads(raw) if raw else {}
    else:
        manifest = read_json(Path(root) / "_manifest.json") or {}
    try:
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["arrow_schema"])))
        options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        source = open_native(src.path) if remote else src.path
        with pa.input_stream(source, compression=src.compression if remote else "detect") as stream:
            table = pajson.read_json(stream, parse_options=options, read_options=pajson.ReadOptions(block_size=1 << 26))
    except (KeyError, ValueError, pa.ArrowException, OSError) as err:
        raise StageError(f"{src.path}: cannot read this file of a curate release ({err})", hint="rerun the export that wrote it") from None
    pq.write_table(table.select(schema.names), out, **parquet_options(schema))


@dataclass(frozen=True)
class ChainLink:
    """One stage inside a fused chain: where it reads and writes, its identity, and what it writes.

    A chain is consecutive map stages, possibly headed by a global stage's apply half (its
    decisions already on disk). A chain task reads its shard from the first link's ``source``
    (the nearest step that holds its kept rows as data files) and runs every link in memory.
    Each link that is not a ``replay`` writes its rejected rows and its stats sidecar; only a
    link with ``writes_kept`` (the chain's last) writes its kept rows. A ``replay`` link is a step completed earlier:
    recomputed in memory to feed the next link (stages are deterministic, and its counts are
    checked against the ones it saved), never rewritten.
    """

    stage: MapStage | GlobalStage
    index: int
    folder: Path
    source: Path
    fingerprint: str
    seed: int
    run_id: str | None = None
    stage_index: int | None = None
    """Position in the lineage (a chained command continues its parent's numbering), which
    seeds per-stage random streams; ``index`` is the step's position in this run."""
    writes_kept: bool = True
    replay: bool = False
    compression: str = PARQUET_COMPRESSION
    """Codec of the kept rows it writes: ``WORK_COMPRESSION`` for a step that is only read by the
    next steps, zstd for one a command publishes (rejected rows are always zstd: published)."""
    last_read: bool = False
    """The chain headed by this link is the last to read its ``source``'s shards: a frame
    ``shard_cache`` keeps of one is dropped once read (memory, never results: a later read of the
    file is answered from the file)."""

    def context(self) -> StageContext:
        position = self.index if self.stage_index is None else self.stage_index
        return StageContext(self.seed, position, self.stage.kind, run_id=self.run_id)


def _same_counts(a: StageStats, b: StageStats) -> bool:
    return (a.docs_in, a.docs_kept, a.docs_added, a.rejected, a.counters) == (b.docs_in, b.docs_kept, b.docs_added, b.rejected, b.counters)


@_gives_memory_back
def map_chain_task(shard: str, links: list[ChainLink]) -> list[StageStats]:
    """Run a fused chain on one shard (a global stage's apply, then map stages); one result per link.

    Text is written once: only the last link writes kept rows (if it ``writes_kept``); every
    other link writes its rejected rows and its stats sidecar, which make resume exact. A shard
    whose links are all done (sidecars saved, and the last link's kept file written) is not
    read at all; otherwise it is recomputed from the chain's source, and a link done earlier is
    recomputed in memory without rewriting anything: its counts must equal the saved ones.
    """
    return _chain(shard, links)[0]


@_gives_memory_back
def chain_keys_task(shard: str, links: list[ChainLink], following: ChainLink) -> tuple[list[StageStats], StageStats]:
    """A chain whose kept rows only the next global stage reads (``following``): the chain runs
    as in ``map_chain_task`` with its last link writing no kept rows, and the next stage's keys
    are computed from those rows in memory, in the same task. Returns (one result per link,
    the keys' stats); each part done earlier is not redone."""
    keys = done_stats(following.folder / "_keys", shard, following.fingerprint)
    results, batch = _chain(shard, links, need_rows=keys is None)
    if keys is None:
        assert batch is not None
        keys = _write_keys(following, shard, batch)
    return results, keys


def _chain(shard: str, links: list[ChainLink], need_rows: bool = False) -> tuple[list[StageStats], pl.DataFrame | None]:
    """``map_chain_task``'s work; also returns the last link's kept rows when it ran the chain
    (always with ``need_rows``: then a shard whose links are all done is recomputed)."""
    saved = [done_stats(link.folder, shard, link.fingerprint) for link in links]
    last = links[-1]
    kept_file = last.folder / f"{shard}.parquet"
    if not need_rows and all(prior is not None for prior, link in zip(saved, links, strict=True) if not link.replay) and (
        not last.writes_kept or kept_file.is_file()
    ):
        return [prior or StageStats() for prior in saved], None
    results: list[StageStats] = []
    batch = read_shard(links[0].source / f"{shard}.parquet")
    if links[0].last_read:
        shard_cache.drop(links[0].source / f"{shard}.parquet")
    for link, prior in zip(links, saved, strict=True):
        t0 = unit_cpu_seconds()
        kept, rejected, stats = _run_link(link, shard, batch)
        if prior is not None or link.replay:
            # done earlier: its rejected rows and counts are on disk; only the kept rows may be missing
            if prior is not None and not _same_counts(prior, stats):
                raise StageError(
                    f"stages[{link.index - 1}] ({link.stage.kind}) gave other counts on {shard} when recomputed "
                    f"({stats.docs_kept} kept, {stats.docs_rejected} rejected; saved: {prior.docs_kept} and {prior.docs_rejected}): "
                    "the stage is not deterministic",
                    hint="rerun without --resume; if it persists, report it with the stage's config",
                )
            if link.writes_kept and not kept_file.is_file():
                write_parquet_atomic(kept, kept_file, link.compression)
            results.append(prior or stats)
        else:
            if link.writes_kept:
                stats.bytes_written = write_routed(link.folder, shard, kept, rejected, link.compression)
            else:
                stats.bytes_written = write_rejected(link.folder, shard, rejected)
            stats.cpu_seconds = unit_cpu_seconds() - t0
            save_stats(link.folder, shard, link.fingerprint, stats)
            results.append(stats)
        batch = kept
    return results, batch


def _run_link(link: ChainLink, shard: str, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, StageStats]:
    """One link on one batch, in memory: a map stage's ``process`` or a global stage's ``apply``
    (with this shard's decisions), routed into kept and rejected rows."""
    stage = ready_stage(link.stage, link.fingerprint)
    ctx = link.context()
    if isinstance(stage, GlobalStage):
        decisions_file = link.folder / "_decisions" / f"{shard}.parquet"
        if decisions_file.is_file():
            decisions = pl.read_parquet(decisions_file)
        else:
            decisions = pl.DataFrame(schema={"id": pl.String, REJECT: pl.String, **stage.decision_schema()})
        out = _guard(link, shard, lambda: stage.apply(batch, decisions, ctx))
    else:
        assert isinstance(stage, MapStage)
        out = _guard(link, shard, lambda: stage.process(batch, ctx))
    kept, rejected = route(out, batch.columns, stage.kind, stage.reject_columns)
    return kept, rejected, routed_stats(batch.height, kept, rejected, ctx, stage.adds_rows)


@_gives_memory_back
def keys_task(shard: str, link: ChainLink, replay: tuple[ChainLink, ...] = ()) -> StageStats:
    """Global stage, map side: compact keys of one shard into `_keys/`.

    ``replay``: completed steps between the shard's source and this stage that hold no data
    files (links of a fused chain, replayed in memory from the first one's source)."""
    keys_dir = link.folder / "_keys"
    prior = done_stats(keys_dir, shard, link.fingerprint)
    if prior is not None:
        return prior
    started = unit_cpu_seconds()
    if replay:
        batch = _chain(shard, list(replay), need_rows=True)[1]
        assert batch is not None
    else:
        batch = read_shard(link.source / f"{shard}.parquet")
    return _write_keys(link, shard, batch, started=started)


def _write_keys(
    link: ChainLink, shard: str, batch: pl.DataFrame, marked: str | None = None, clock: Callable[[], float] = unit_cpu_seconds,
    started: float | None = None,
) -> StageStats:
    """``stage.keys`` of one shard's rows into ``_keys/``, marked done with the link's fingerprint
    (or ``marked``, see ``write_keys_of``). The keys' CPU time by ``clock`` (since ``started``, when
    the unit read the rows for them) is part of their stats: the stage's manifest counts it."""
    t0 = clock() if started is None else started
    keys_dir = link.folder / "_keys"
    stage = ready_stage(link.stage, link.fingerprint)
    assert isinstance(stage, GlobalStage)
    ctx = link.context()
    keys = _guard(link, shard, lambda: stage.keys(batch, ctx))
    stats = StageStats(counters=Counter(ctx.counters))
    path = keys_dir / f"{shard}.parquet"
    stats.cpu_seconds = clock() - t0
    if shard_cache.hold_unwritten(path, keys, marked or link.fingerprint, stats):
        # a one-process run: its resolve reads them from memory; a run that stops before its
        # resolve is done computes them again (the MinHash keys of 100,000 documents are ~80 MB
        # of files, written and removed for nothing, and fresh pages cost: RESULTS-dedup.md)
        return stats
    write_keys_file(keys, path)
    stats.cpu_seconds = clock() - t0
    save_stats(keys_dir, shard, marked or link.fingerprint, stats)
    return stats


def write_keys_of(link: ChainLink, shard: str, rows: pl.DataFrame, clock: Callable[[], float] = unit_cpu_seconds) -> StageStats:
    """Keys of the rows just written as ``link.source``'s ``shard``, computed from those rows in
    memory. Their done mark names the file they came from (``shard_identity``): a shard rewritten
    afterwards (ingest's passes over all shards, one schema and unique ids, rewrite some) has other
    keys, and ``done_keys`` then no longer counts them as done."""
    identity = shard_identity(link.source / f"{shard}.parquet")
    return _write_keys(link, shard, rows, f"{link.fingerprint}@{identity}", clock)


def shard_identity(path: Path) -> str:
    """Which file ``path`` is (``shard_cache.identity``), or ``UNWRITTEN`` while it is a frame held
    in its place."""
    return shard_cache.identity_of(path)


def done_keys(keys_dir: Path, shard: str, fingerprint: str, source: Path | None) -> StageStats | None:
    """Stats of ``shard``'s keys computed earlier with ``fingerprint``: from the shard as read, or
    from the rows of the very file ``source`` holds now (``write_keys_of``; not when the keys are
    read through replayed steps: ``source`` None)."""
    done = done_stats(keys_dir, shard, fingerprint)
    if done is not None or source is None:
        return done
    path = source / f"{shard}.parquet"
    if not path.is_file() and shard_cache.get(path) is None:
        return None
    return done_stats(keys_dir, shard, f"{fingerprint}@{shard_identity(path)}")


def write_held_keys() -> None:
    """Write every key file held in memory only (``_write_keys``), with its done mark: a run that
    fails keeps the keys its units computed, as a run that writes them would, and ``--resume``
    reuses them (a run killed outright computes them again)."""
    for path, keys, marker, stats in shard_cache.held_unwritten():
        target = Path(path)
        if target.parent.name != "_keys":  # held data shards: a resumed run reads their input again
            continue
        write_keys_file(keys, target)
        save_stats(target.parent, target.stem, marker, stats)


def write_keys_file(keys: pl.DataFrame, path: Path) -> None:
    """One shard's keys, as written: hashes, signatures and shingle sets are random bits, so
    neither a codec nor a dictionary (tried on every column but text) nor min/max statistics
    save anything but cost time (on 25,000 MinHash key rows, 21 MB: 15 ms against 59 with lz4
    and dictionaries; read back in 13 ms against 22). Which shard the rows are of is the file's
    position in the step's shard list (``scan_keys``), not a column."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    pq.write_table(keys.to_arrow(), tmp, compression="none", use_dictionary=False, write_statistics=False)
    os.replace(tmp, path)


def scan_keys(key_files: list[str]) -> pl.LazyFrame:
    """The key files of a step's shards (in shard order) as one LazyFrame with ``_shard``, each
    row's shard's position in that order (what ``resolve_global`` writes decisions by and
    ``keys_by_shard`` groups by). One scan over all the files, not a concat of one scan per
    file: on 1M documents (48 shards) the concat's plans made the MinHash resolve 3x slower and
    page-fault bound (minhash_dedup 12.4 against 3.9 s, `bench_ray.py --docs 1000000`). Key
    files an earlier version wrote with a ``_shard`` column of their own read the same."""
    kept = [shard_cache.get(f) for f in key_files]
    if key_files and all(k is not None for k in kept) and all(k.schema == kept[0].schema for k in kept):  # type: ignore[union-attr]
        # a one-process run that computed them all: the frames, not the files (``shard_cache``)
        parts = [k.with_columns(pl.lit(i, dtype=pl.Int32).alias("_shard")) for i, k in enumerate(kept)]  # type: ignore[union-attr]
        return pl.concat(parts, rechunk=False).lazy()
    for f in shard_cache.unwritten(key_files):  # some held in memory only, others not: all as files
        frame = shard_cache.get(f)
        if frame is not None:
            write_keys_file(frame, Path(f))
    positions = pl.Series(list(range(len(key_files))), dtype=pl.Int32)
    return (
        pl.scan_parquet(key_files, include_file_paths="_key_file", missing_columns="insert", extra_columns="ignore")
        .with_columns(pl.col("_key_file").replace_strict(key_files, positions, return_dtype=pl.Int32).alias("_shard"))
        .drop("_key_file")
    )


def apply_task(shard: str, link: ChainLink) -> StageStats:
    """Global stage, apply side: join this shard's decisions and route its rows (a chain of one)."""
    return map_chain_task(shard, [link])[0]


MapFn = Callable[[Callable[..., Any], Iterable[tuple], Callable[[Any], None]], list[Any]]
"""An engine's way to run ``fn(*args)`` for many args tuples (in a pool, on a cluster): results in order."""


def resolve_global(link: ChainLink, shards: list[str], run_many: MapFn | None = None) -> StageStats:
    """Global stage, global side: one resolve over all keys, decisions written per shard.

    A stage that splits its global phase (``split_resolve``) has its pieces run through
    ``run_many`` (the engine's pool or cluster); the pieces read the key files themselves.
    """
    dec_dir = link.folder / "_decisions"
    marker = read_json(dec_dir / "_SUCCESS.json")
    if marker and marker.get("fingerprint") == link.fingerprint:
        return StageStats(counters=Counter(marker.get("counters", {})), cpu_seconds=float(marker.get("cpu_seconds", 0.0)))
    t0 = time.process_time()
    elsewhere = [0.0]  # CPU seconds of pieces that ran in other processes
    stage = ready_stage(link.stage, link.fingerprint)
    assert isinstance(stage, GlobalStage)
    ctx = link.context()
    key_files = [str(link.folder / "_keys" / f"{s}.parquet") for s in shards]
    if key_files:
        keys = scan_keys(key_files)
        decisions = _guard(link, "resolve", lambda: _resolve(stage, keys, key_files, link, ctx, run_many, elsewhere))
        if decisions.height:
            where = keys.select("id", "_shard").join(decisions.lazy(), on="id", how="inner").collect()
            for (shard_index,), part in where.group_by("_shard", maintain_order=False):
                write_parquet_atomic(part.drop("_shard").sort("id"), dec_dir / f"{shards[int(shard_index)]}.parquet")
    for f in key_files:  # read by nothing after the resolve
        shard_cache.drop(f)
    if ctx.side_state:
        from curate.side_state import stage_side_writes

        stage_side_writes(link.folder / "_side", ctx.side_state, link.run_id, link.fingerprint)
    # this process's CPU (its pools, and pieces run on its threads), and that of pieces run elsewhere
    cpu = time.process_time() - t0 + elsewhere[0]
    write_json_atomic({"fingerprint": link.fingerprint, "counters": dict(ctx.counters), "cpu_seconds": round(cpu, 3)}, dec_dir / "_SUCCESS.json")
    return StageStats(counters=Counter(ctx.counters), cpu_seconds=cpu)


def _resolve(
    stage: GlobalStage, keys: pl.LazyFrame, key_files: list[str], link: ChainLink, ctx: StageContext, run_many: MapFn | None,
    elsewhere: list[float],
) -> pl.DataFrame:
    split = stage.split_resolve(keys, ctx)
    if split is None:
        return stage.resolve(keys, ctx)
    if run_many is None or split.count <= 1:
        results = [stage.resolve_piece(keys, split.shared, i) for i in range(split.count)]
    else:
        calls = [(link, key_files, split.shared, i) for i in range(split.count)]
        done = run_many(resolve_piece_task, calls, lambda r: None)
        results = [result for result, _, _ in done]
        elsewhere[0] += sum(cpu for _, cpu, where in done if where != _this_process())
    return stage.combine(keys, split, results, ctx)


@_gives_memory_back
def resolve_piece_task(link: ChainLink, key_files: list[str], shared: Any, piece: int) -> tuple[Any, float, str]:
    """Global stage, one piece of the global phase, in a worker or on a cluster node: its result,
    the CPU seconds it took and the process it ran in (the runner counts the CPU of pieces that ran
    in another process; its own clock has those that ran on its threads)."""
    t0 = unit_cpu_seconds()
    stage = ready_stage(link.stage, link.fingerprint)
    assert isinstance(stage, GlobalStage)
    result = _guard(link, f"resolve piece {piece}", lambda: stage.resolve_piece(scan_keys(key_files), shared, piece))
    return result, unit_cpu_seconds() - t0, _this_process()


def _this_process() -> str:
    """This process among a run's: its host and pid (a forked worker has its own pid; a cluster
    node its own host)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _guard(link: ChainLink, shard: str, fn: Any) -> Any:
    """Run stage code; a stage's own failure becomes a StageError naming stage and shard."""
    try:
        return fn()
    except CurateError:
        raise
    except Exception as err:
        import traceback

        logs = link.folder.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{link.folder.name}-{shard}-{os.getpid()}.log"
        log.write_text(traceback.format_exc())
        raise StageError(
            f"stages[{link.index - 1}] ({link.stage.kind}) failed on {shard}: {type(err).__name__}: {err}",
            hint=f"full traceback in {log}; rerun with --debug to see it here",
        ) from err


def shard_names(folder: Path) -> list[str]:
    return [p.stem for p in list_parts(folder)]
