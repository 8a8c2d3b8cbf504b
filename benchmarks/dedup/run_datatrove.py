"""datatrove's MinHash dedup pipeline on the benchmark corpus, as its README runs it locally.

Run with the Python of a virtual environment that has datatrove (its pins clash with ours, so it
never goes into curate's environment); ``run.py --datatrove-python PATH`` calls this script and
scores its removals with the others. Settings as close to the other methods as datatrove allows:
word 5-grams, 16 buckets x 8 hashes (the bands x rows curate picks for Jaccard 0.8 at 128
permutations), 64-bit hashes (datatrove's default), LocalPipelineExecutor with 2 workers. datatrove
has no candidate verification: every pair that shares a bucket is a duplicate.

    /tmp/dtvenv/bin/python benchmarks/dedup/run_datatrove.py /tmp/dedup-bench100k --workdir /tmp/dedup-bench-work
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import time
from pathlib import Path


def peak_rss_kib() -> int:
    """The largest of this process's own peak (``VmHWM``) and its workers' ``ru_maxrss``."""
    own = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/dedup-bench-work"))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    t_start = time.perf_counter()
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter

    logging.disable(logging.WARNING)
    work = args.workdir / "datatrove"
    shutil.rmtree(work, ignore_errors=True)
    shards = args.corpus / "shards"
    files = len(list(shards.glob("*.parquet")))
    config = MinhashConfig(n_grams=5, num_buckets=16, hashes_per_bucket=8)

    def reader() -> ParquetReader:
        return ParquetReader(str(shards), glob_pattern="*.parquet", text_key="text", id_key="id")

    def run(pipeline: list, tasks: int, name: str) -> None:
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=min(args.workers, tasks),
            logging_dir=str(work / "logs" / name), skip_completed=False,
        ).run()

    t0 = time.perf_counter()
    run([reader(), MinhashDedupSignature(output_folder=str(work / "sigs"), config=config)], files, "sigs")
    run(
        [MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config)],
        config.num_buckets, "buckets",
    )
    run(
        [MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=config)],
        1, "cluster",
    )
    run(
        [
            reader(),
            MinhashDedupFilter(
                input_folder=str(work / "remove"), exclusion_writer=JsonlWriter(str(work / "removed"), compression=None)
            ),
        ],
        files, "filter",
    )
    seconds = time.perf_counter() - t0
    gone = [
        json.loads(line)["id"]
        for path in sorted((work / "removed").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line
    ]
    pq.write_table(pa.table({"id": pa.array(gone, pa.string())}), args.workdir / "datatrove-removed.parquet")
    print(json.dumps({
        "method": "datatrove", "seconds": seconds, "warmup": t0 - t_start, "peak_rss_mib": peak_rss_kib() / 1024,
    }))


if __name__ == "__main__":
    main()
