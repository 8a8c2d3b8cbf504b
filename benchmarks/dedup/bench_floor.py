"""A whole-process floor for `curate dedup`: the same job with curate's compiled kernels, no framework.

    python benchmarks/dedup/bench_floor.py INPUT.parquet [MORE.parquet ...] -o OUTDIR [--threads N] [--stream] [--batch-rows N] [--phases]

What `curate dedup INPUT -o OUTDIR` decides, on curate's defaults: exact copies (XXH64 pair of
the whitespace-collapsed text, ``curate.hashing.hash_collapsed``, the seeds ``ExactDedup`` uses),
then near duplicates among the survivors (MinHash, 128 permutations, word 5-grams, LSH bands x
rows from ``optimal_params(0.8, 128, 0.05, 0.95)``, each candidate verified by the exact Jaccard
of the two shingle sets, ``jaccard_edges``, union-find), the smallest id of each group kept. It
writes the kept rows (every input column, zstd, curate's ``parquet_options``) to
OUTDIR/kept-<i>.parquet, one file per thread written side by side (curate too publishes several
files), and the removed ids to OUTDIR/removed.parquet. On the 100k boundary corpus its removed
ids are curate's, to the id.

It is a floor, not a product: it leaves out the config model, ingest checks and shards, the
workdir, manifests, rejected sets (reasons, ``duplicate_of``), the ``dup_cluster`` columns,
resume, the index, other survivor rules, and bounded memory (the whole input is held). What it
does to be fast, any Python command could: the Parquet reader decodes on its own thread while
curate's modules (and polars, which they import) load; every kernel runs on a thread pool (they
release the GIL), the hashing of each batch while the next is decoded, the band groups' buckets
and verification side by side, the writes of the kept rows one file per thread; nothing imports
pandas (``pa.array`` and ``to_numpy`` would, ~0.15 s); the interpreter's teardown is skipped.
One shortcut: the MinHash sketches are taken of every row in the pass that takes the exact
hashes (the exact copies' sketches, ~3 % of the work, are never read) instead of gathering the
survivors' text first; the decisions are the same.

``--stream`` holds no text: each batch's text is dropped once its keys are taken (only the ids and
the keys stay), and the kept rows are written by reading the input a second time, batch by batch.
It measures what a `curate dedup` that does not hold the input would need at least (issue 12,
target 1's memory bound): the same removed ids and kept rows.

``--phases`` prints each phase's wall and CPU seconds to stderr (the first from the top of this
file: the interpreter's start before it, ~0.02 s, is not in them).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

THRESHOLD, NUM_PERM, NGRAM, SEED, SET_SIZE, MAX_CHECKS = 0.8, 128, 5, 1, 4096, 64
BATCH_ROWS = 1 << 14


def slice_keys(text: pa.Array, flags: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """One batch's exact hashes, LSH band hashes and shingle sets (a pool thread's work)."""
    from curate.dedup.lsh import band_hashes  # loaded by main() by then: a dict look-up
    from curate.dedup.minhash import sketches
    from curate.hashing import hash_collapsed, hash_strings

    h1, h2 = hash_collapsed(text, flags, (0x5EED0001, 0x5EED0002))
    sig, nsh, sets = sketches(text, NUM_PERM, NGRAM, SEED, "word", "fast", SET_SIZE)
    band = band_hashes(sig, nsh, bands, rows)
    empty = nsh == 0
    if empty.any():  # no word at all: only exact copies of the raw text meet, through band 0
        band[empty, 0] = hash_strings(text.filter(mask(empty)), 0x5EED0003) | np.uint64(1)
    return np.stack([h1, h2], axis=1), band, sets


def input_batches(path: Path, rows: int) -> Iterator[pa.RecordBatch]:
    """The file's rows ``rows`` at a time (the file may be one row group: the reader still decodes
    page by page)."""
    yield from pq.ParquetFile(path).iter_batches(batch_size=rows, use_threads=False)


def prefetched(items: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``items`` taken on another thread, at most two ahead of the consumer."""
    ahead: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)

    def fill() -> None:
        for item in items:
            ahead.put(item)
        ahead.put(None)

    threading.Thread(target=fill, daemon=True).start()
    yield from iter(ahead.get, None)


def mask(keep: np.ndarray) -> pa.BooleanArray:
    """A numpy bool array as an Arrow mask, built from its bits (``pa.array`` imports pandas)."""
    bits = np.packbits(keep, bitorder="little")
    return pa.BooleanArray.from_buffers(pa.bool_(), keep.size, [None, pa.py_buffer(bits)])


def join_sets(parts: list[pa.Array]) -> tuple[np.ndarray, np.ndarray]:
    """The batches' shingle-set columns as one uint32 array of records and their offsets."""
    data, off = [], [np.zeros(1, dtype=np.int64)]
    base = 0
    for arr in parts:
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1] // 4
        data.append(np.frombuffer(arr.buffers()[2], dtype=np.uint32)[offsets[0] : offsets[-1]])
        off.append(offsets[1:] - offsets[0] + base)
        base += int(offsets[-1] - offsets[0])
    return np.concatenate(data), np.concatenate(off)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", type=Path, nargs="+")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2, help="pool threads for the kernels and writes (default 2)")
    ap.add_argument("--phases", action="store_true", help="print each phase's wall and CPU seconds to stderr")
    ap.add_argument("--stream", action="store_true", help="hold no text: read the input again to write the kept rows")
    ap.add_argument("--batch-rows", type=int, default=BATCH_ROWS, help=f"rows a batch (default {BATCH_ROWS})")
    args = ap.parse_args()
    marks: list[tuple[str, float, float, float, float]] = []

    def mark(name: str) -> None:
        use = resource.getrusage(resource.RUSAGE_SELF)
        marks.append((name, time.perf_counter(), use.ru_utime, use.ru_stime, use.ru_maxrss / 1024))

    mark("start-up, pyarrow")
    batches: list[pa.RecordBatch] = []  # with --stream: their id columns only
    ready: queue.SimpleQueue[pa.RecordBatch | None] = queue.SimpleQueue()

    failed: list[BaseException] = []

    def read() -> None:
        try:
            for path in args.inputs:
                for batch in input_batches(path, args.batch_rows):
                    if args.stream:
                        in_flight.acquire()  # released when the batch's keys are taken
                    batches.append(batch.select(["id"]) if args.stream else batch)
                    ready.put(batch)
                    del batch  # with --stream, the text lives until its keys are taken
        except BaseException as exc:
            failed.append(exc)
        finally:
            ready.put(None)

    in_flight = threading.BoundedSemaphore(2 * args.threads)  # --stream: batches decoded, keys not yet taken

    def keys_of(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, pa.Array]:
        try:
            return slice_keys(batch.column("text"), flags, bands, rows)
        finally:
            if args.stream:
                in_flight.release()

    threading.Thread(target=read, daemon=True).start()
    import pyarrow.compute as pc

    from curate.dedup.lsh import bucket_candidates, jaccard_edges, join_candidates, optimal_params
    from curate.dedup.minhash import char_tables
    from curate.dedup.unionfind import new_parent, roots
    from curate.io.shards import PARQUET_COMPRESSION, parquet_options

    flags = char_tables()[0]
    bands, rows = optimal_params(THRESHOLD, NUM_PERM, 0.05, 0.95)
    mark("curate imports (reading)")

    # 1. each batch's exact hashes, band hashes and shingle sets, on the pool as it is decoded
    pool = ThreadPoolExecutor(args.threads)
    futures = [pool.submit(keys_of, b) for b in iter(ready.get, None)]
    if failed:
        raise failed[0]
    table = pa.Table.from_batches(batches)
    n = table.num_rows
    mark("read (kernels behind it)")
    parts = [f.result() for f in futures]
    exact = np.concatenate([p[0] for p in parts])
    band = np.concatenate([p[1] for p in parts])
    sets, set_off = join_sets([p[2] for p in parts])
    mark("hash + sketch, rest")

    # 2. exact: in (h1, h2, id) order, every row equal to the one before it goes
    sorted_ids = pc.sort_indices(table["id"].combine_chunks())  # not .to_numpy(): it imports pandas
    by_id = np.frombuffer(sorted_ids.buffers()[1], dtype=np.uint64)[sorted_ids.offset :][:n].astype(np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[by_id] = np.arange(n)
    order = np.lexsort((rank, exact[:, 1], exact[:, 0]))
    same = (exact[order[1:]] == exact[order[:-1]]).all(axis=1)
    removed = np.zeros(n, dtype=bool)
    removed[order[1:][same]] = True
    exact_count = int(removed.sum())
    mark("exact")

    # 3. near, among the survivors numbered densely by id (a component's root, its smallest dense
    # id, survives): groups of bands on the pool, each its own union-find and spanning forest of
    # the verified pairs, then one union of the forests (curate's resolve pieces and combine)
    row_of_dense = by_id[~removed[by_id]]
    m = row_of_dense.size
    dense_band = band[row_of_dense]

    def piece(group: np.ndarray) -> list[np.ndarray]:
        own = new_parent(m)
        pairs = [bucket_candidates(dense_band[:, b], True, MAX_CHECKS)[0] for b in group]
        return [jaccard_edges(p, own, sets, set_off, row_of_dense, THRESHOLD)[0] for p in pairs]

    parent = new_parent(m)
    for edges in pool.map(piece, np.array_split(np.arange(bands), args.threads)):
        for e in edges:
            join_candidates(e, parent)
    root = roots(parent)
    removed[row_of_dense[root != np.arange(m)]] = True
    mark("buckets + verify")

    # 4. the kept rows, a file per thread, and the removed ids
    args.output.mkdir(parents=True, exist_ok=True)
    gone = table["id"].filter(mask(removed))
    pq.write_table(pa.Table.from_arrays([gone], ["id"]), args.output / "removed.parquet")
    starts = np.cumsum([0, *(b.num_rows for b in batches)])
    schema = pq.read_schema(args.inputs[0]) if args.stream else table.schema

    def write(i: int, again: Iterator[pa.RecordBatch], every: int) -> None:
        # a batch at a time (a row group each): small copies the allocator reuses, not one of the text
        with pq.ParquetWriter(args.output / f"kept-{i}.parquet", schema,
                              **parquet_options(schema, PARQUET_COMPRESSION)) as out:
            for k, batch in enumerate(again):
                if k % every == i:
                    out.write_batch(batch.filter(mask(~removed[starts[k] : starts[k + 1]])))

    if args.stream:  # one pass over the input into one file, the next batch decoded while one is written
        write(0, prefetched(b for path in args.inputs for b in input_batches(path, args.batch_rows)), 1)
    else:
        list(pool.map(write, range(args.threads), [iter(batches) for _ in range(args.threads)], [args.threads] * args.threads))
    mark("write")
    if args.phases:
        last = (T0, 0.0, 0.0, 0.0)
        for name, *now in marks:
            print(f"{name:>25}: {now[0] - last[0]:.3f} s wall, {now[1] - last[1]:.3f} user + {now[2] - last[2]:.3f} sys CPU s, "
                  f"peak RSS so far {now[3]:.0f} MiB" + (" (CPU from the process's start)" if name.startswith("start") else ""),
                  file=sys.stderr)
            last = tuple(now)
        print(f"{'total':>25}: {marks[-1][1] - T0:.3f} s; removed {int(removed.sum()):,} "
              f"({exact_count:,} exact + {int(removed.sum()) - exact_count:,} near) of {n:,}", file=sys.stderr)
    # skip the interpreter's teardown (freeing ~0.7 GB object by object, ~0.1 s): the files are closed
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
