"""The floor for ingest -> export: pyarrow reads JSON Lines and writes the same rows as zstd Parquet.

No checks, no ids, no normalisation, one write: what reading and writing the corpus costs at
least. ``bench_backbone.py`` runs it as a subprocess beside ``curate run`` to compare the two.

It is given what curate gets: ``--procs`` worker processes (curate's ``engine.workers``), each
with one pyarrow and one polars thread per core it has (cores // procs, as curate's local
engine sets them), taking input files one at a time from a shared queue. Each file is streamed
in blocks of ``--block-mb`` MiB (``pyarrow.json.open_json``) into one Parquet file written with
curate's writer settings (zstd; no dictionary or statistics for the text column).

    python benchmarks/floor_jsonl_parquet.py -o /tmp/floor --procs 2 corpus/*.jsonl
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _init(threads: int) -> None:
    import pyarrow

    pyarrow.set_cpu_count(threads)
    pyarrow.set_io_thread_count(threads)


def convert(src: str, out_dir: str, block_bytes: int, text_field: str) -> int:
    """One JSON Lines file -> one zstd Parquet file; the rows written."""
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    reader = pajson.open_json(src, read_options=pajson.ReadOptions(block_size=block_bytes))
    schema = reader.schema
    small = [f.name for f in schema if f.name != text_field]
    dest = Path(out_dir) / (Path(src).name.split(".")[0] + ".parquet")
    rows = 0
    with pq.ParquetWriter(dest, schema, compression="zstd", use_dictionary=small, write_statistics=small) as writer:
        for batch in reader:
            writer.write_batch(batch, row_group_size=64 * 1024)
            rows += batch.num_rows
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("-o", "--out", required=True, type=Path)
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--block-mb", type=int, default=32)
    ap.add_argument("--text-field", default="text")
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    threads = max(1, (os.cpu_count() or 1) // args.procs)
    os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
    calls = [(f, str(args.out), args.block_mb << 20, args.text_field) for f in args.files]
    if args.procs == 1:
        _init(threads)
        rows = sum(convert(*c) for c in calls)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.procs, mp_context=ctx, initializer=_init, initargs=(threads,)) as pool:
            rows = sum(pool.map(convert, *zip(*calls, strict=True)))
    print(rows)


if __name__ == "__main__":
    main()
