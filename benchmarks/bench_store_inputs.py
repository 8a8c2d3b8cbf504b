"""`curate ingest` of the same JSON Lines file from disk and from an S3-compatible server (moto's,
on 127.0.0.1): wall time, peak RSS and the requests the store saw (GET, HEAD).

    .venv/bin/python benchmarks/bench_store_inputs.py [--copies 4]

moto serves from one Python process, so the remote wall times measure moto as much as curate; the
request counts and peak memory are what this checks (bounded memory, large ranged reads).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=120_000)
    ap.add_argument("--copies", type=int, default=1, help="also a plain file of this many copies of the rows (split into ranges above 128 MiB)")
    args = ap.parse_args()
    from moto.server import ThreadedMotoServer

    log = io.StringIO()
    logging.getLogger("werkzeug").addHandler(logging.StreamHandler(log))
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_ENDPOINT_URL": f"http://{host}:{port}",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    os.environ.update(env)
    import pyarrow.fs as pafs

    from curate.io import store

    pafs.S3FileSystem(endpoint_override=f"{host}:{port}", scheme="http", region="us-east-1", allow_bucket_creation=True).create_dir("bench")
    tmp = Path(tempfile.mkdtemp(prefix="bench-store-"))
    rng = random.Random(0)
    words = [f"w{i}" for i in range(5000)]
    lines = "".join(json.dumps({"text": " ".join(rng.choices(words, k=80)), "n": i}) + "\n" for i in range(args.rows)).encode()
    files = {"plain.jsonl": lines, "plain.jsonl.gz": gzip.compress(lines, 1)}
    if args.copies > 1:
        files[f"x{args.copies}.jsonl"] = lines * args.copies
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        store.upload(tmp / name, f"s3://bench/{name}")
    print(f"{'input':32s} {'MB':>6s} {'wall s':>7s} {'peak RSS MB':>12s} {'GETs':>5s} {'HEADs':>6s} docs")
    for name, data in files.items():
        for where in (str(tmp / name), f"s3://bench/{name}"):
            log.seek(0)
            log.truncate()
            t0 = time.perf_counter()
            proc = subprocess.run(
                ["/usr/bin/time", "-v", sys.executable, "-m", "curate", "ingest", where, "-o", str(tmp / "out"), "--overwrite", "--workers", "1", "-q"],
                env=os.environ | env, capture_output=True, text=True, check=True,
            )
            wall = time.perf_counter() - t0
            rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) // 1024
            gets = len(re.findall(r"GET /bench/\S+ HTTP", log.getvalue()))
            heads = len(re.findall(r"HEAD /bench/\S+ HTTP", log.getvalue()))
            docs = json.loads((tmp / "out" / "_manifest.json").read_text())["totals"]["docs_out"]
            label = where if len(where) <= 32 else "..." + where[-29:]
            print(f"{label:32s} {len(data) / 2**20:6.1f} {wall:7.1f} {rss:12d} {gets:5d} {heads:6d} {docs}")
    server.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
