"""Time near-duplicate removal side by side: curate, datasketch, rensa and a Python floor.

Each method runs in its own subprocess (peak RSS: ``VmHWM`` of that process, or of its largest
worker), reads the Parquet shards
written by ``build_corpus.py``, and writes the ids it removes; this parent scores them against
the measured truth (precision / recall / F1 of removed documents) and prints a Markdown table.

    python benchmarks/dedup/run.py /tmp/dedup-bench --methods curate,curate1,rensa,datasketch,floor
    python benchmarks/dedup/run.py /tmp/dedup-bench --methods curate,datatrove --datatrove-python /tmp/dtvenv/bin/python

``datatrove`` runs ``run_datatrove.py`` with another environment's Python (datatrove's pins clash
with ours); ``make bench-dedup`` builds that environment under /tmp, as ``make bench-quality`` does.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

THRESHOLD = 0.8
NUM_PERM = 128
WORD = re.compile(r"\w+")


def shingles(text: str | None, n: int = 5) -> list[str]:
    toks = WORD.findall(text.lower()) if text else []
    if not toks:
        return []
    w = min(n, len(toks))
    return [" ".join(toks[i : i + w]) for i in range(len(toks) - w + 1)]


def read(corpus: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((corpus / "shards").glob("*.parquet")), columns=["id", "text"])


_STAGE = None


def _keys_task(args: tuple[str, str]) -> str:
    from curate.stages.base import StageContext

    shard, out = args
    assert _STAGE is not None
    keys = _STAGE.keys(pl.read_parquet(shard, columns=["id", "text"]), StageContext())
    # signatures are random bits: zstd cannot shrink them, so keys are written uncompressed
    keys.write_parquet(out, compression="uncompressed")
    return out


def warm_curate() -> None:
    """What a worker does once: import, build the stage, load tables and compiled kernels."""
    global _STAGE
    from curate.stages.minhash_dedup import MinhashDedup, MinhashDedupConfig

    _STAGE = MinhashDedup(MinhashDedupConfig())
    _STAGE.setup()


def run_curate(corpus: Path, workdir: Path, workers: int) -> list[str]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from curate.stages.base import StageContext

    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("keys-*.parquet"):
        old.unlink()
    tasks = [
        (str(p), str(workdir / f"keys-{i:05d}.parquet"))
        for i, p in enumerate(sorted((corpus / "shards").glob("*.parquet")))
    ]
    keys = pl.scan_parquet(workdir / "keys-*.parquet")
    ctx = StageContext()
    assert _STAGE is not None
    if workers > 1:
        # forked after warm_curate(): workers inherit the loaded kernels, as engine workers would;
        # the resolve pieces (one per band) run in the same pool, as the local engine runs them
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            list(pool.map(_keys_task, tasks))
            if hasattr(_STAGE, "split_resolve"):
                split = _STAGE.split_resolve(keys, ctx)
                key_glob = str(workdir / "keys-*.parquet")
                results = list(pool.map(_piece_task, [(key_glob, split.shared, i) for i in range(split.count)]))
                decisions = _STAGE.combine(keys, split, results, ctx)
            else:
                decisions = _STAGE.resolve(keys, ctx)
    else:
        for t in tasks:
            _keys_task(t)
        decisions = _STAGE.resolve(keys, ctx)
    return decisions.filter(pl.col("_reject").is_not_null())["id"].to_list()


def _piece_task(args: tuple[str, object, int]) -> object:
    key_glob, shared, piece = args
    assert _STAGE is not None
    return _STAGE.resolve_piece(pl.scan_parquet(key_glob), shared, piece)


def run_datasketch(corpus: Path) -> list[str]:
    from datasketch import MinHash, MinHashLSH

    df = read(corpus).sort("id")
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    gone = []
    for doc_id, text in df.iter_rows():
        sh = shingles(text)
        if not sh:
            continue
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([s.encode("utf-8") for s in sh])
        if lsh.query(m):
            gone.append(doc_id)
        else:
            lsh.insert(doc_id, m)
    return gone


def run_rensa(corpus: Path) -> list[str]:
    return rensa_removed(read(corpus))


def rensa_removed(df: pl.DataFrame) -> list[str]:
    """Ids rensa removes from ``df`` (id, text): the smallest id of a group survives."""
    from rensa import RMinHash, RMinHashLSH

    df = df.sort("id")
    lsh = RMinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, num_bands=16)
    kept: dict[int, RMinHash] = {}
    gone = []
    for key, (doc_id, text) in enumerate(df.iter_rows()):
        sh = shingles(text)
        if not sh:
            continue
        m = RMinHash(num_perm=NUM_PERM, seed=42)
        m.update(sh)
        # candidate verification, as rensa's README recommends
        if any(m.jaccard(kept[k]) >= THRESHOLD for k in lsh.query(m)):
            gone.append(doc_id)
        else:
            lsh.insert(key, m)
            kept[key] = m
    return gone


def run_floor(corpus: Path) -> list[str]:
    import xxhash

    df = read(corpus)
    total = 0
    for text in df["text"]:
        for s in shingles(text):
            total ^= xxhash.xxh3_64_intdigest(s.encode("utf-8"))
    return []


def child(method: str, corpus: Path, workdir: Path) -> None:
    t_start = time.perf_counter()
    if method.startswith("curate"):
        warm_curate()
    elif method == "datasketch":
        import datasketch  # noqa: F401
    elif method == "rensa":
        import rensa  # noqa: F401
    t0 = time.perf_counter()
    if method == "curate":
        gone = run_curate(corpus, workdir, 2)
    elif method == "curate1":
        gone = run_curate(corpus, workdir, 1)
    elif method == "datasketch":
        gone = run_datasketch(corpus)
    elif method == "rensa":
        gone = run_rensa(corpus)
    else:
        gone = run_floor(corpus)
    seconds = time.perf_counter() - t0
    warm = t0 - t_start
    # not RUSAGE_SELF: on Linux a spawned process's ru_maxrss starts at its parent's RSS (this
    # script's, ~150 MiB); VmHWM is the process's own. Workers forked here really hold the pages
    # they share with this process, so their ru_maxrss is right.
    rss = max(peak_rss_kib(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    pl.DataFrame({"id": gone}, schema={"id": pl.String}).write_parquet(workdir / f"{method}-removed.parquet")
    print(json.dumps({"method": method, "seconds": seconds, "warmup": warm, "peak_rss_mib": rss / 1024}))


def peak_rss_kib() -> int:
    """This process's own peak resident set (``VmHWM``), in KiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def score(removed: set[str], truth: set[str]) -> tuple[float, float, float]:
    tp = len(removed & truth)
    p = tp / len(removed) if removed else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--methods", default="floor,curate,curate1,rensa,datasketch")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/dedup-bench-work"))
    ap.add_argument("--datatrove-python", default="/tmp/dtvenv/bin/python",
                    help="Python of an environment with datatrove, for the datatrove method")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.child, args.corpus, args.workdir)
        return
    docs = pl.scan_parquet(args.corpus / "shards" / "*.parquet").select(pl.len()).collect().item()
    truth = set(pl.read_parquet(args.corpus / "truth_removed.parquet")["id"].to_list())
    rows = []
    for method in args.methods.split(","):
        t_proc = time.perf_counter()
        if method == "datatrove":
            cmd = [args.datatrove_python, str(Path(__file__).with_name("run_datatrove.py")), str(args.corpus),
                   "--workdir", str(args.workdir)]
        else:
            cmd = [sys.executable, __file__, str(args.corpus), "--workdir", str(args.workdir), "--child", method]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            continue
        wall = time.perf_counter() - t_proc
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        gone = set(pl.read_parquet(args.workdir / f"{method}-removed.parquet")["id"].to_list())
        p, r, f = score(gone, truth) if method != "floor" else (float("nan"),) * 3
        rows.append((method, res["seconds"], docs / res["seconds"], wall, docs / wall, res["peak_rss_mib"], len(gone), p, r, f))
        print(f"{method}: {res['seconds']:.1f} s work, {wall:.1f} s process", file=sys.stderr)
    print(f"{docs} docs, {len(truth)} truly removable (Jaccard >= {THRESHOLD} of word 5-grams)\n")
    print("| method | work s | work docs/s | process s | process docs/s | peak RSS MiB | removed | precision | recall | F1 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m, s, dps, wall, wdps, rss, n, p, r, f in rows:
        print(f"| {m} | {s:.2f} | {dps:,.0f} | {wall:.2f} | {wdps:,.0f} | {rss:,.0f} | {n:,} | {p:.3f} | {r:.3f} | {f:.3f} |")


if __name__ == "__main__":
    main()
