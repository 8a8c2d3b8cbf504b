"""Augment benchmark: rule-based throughput on real text and LLM requests/s against a local server.

    .venv/bin/python benchmarks/augment/bench_augment.py --docs 100000 --repeats 5 \
        --out benchmarks/augment/RESULTS-augment.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from curate.augment.llm import ChatClient, ChatSettings
from curate.augment.operators import apply_ops
from curate.stages.augment import Augment, AugmentConfig
from curate.stages.base import StageContext

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "tests" / "augment" / "chat_server.py"


def corpus(path: str, n: int) -> pl.DataFrame:
    """``n`` documents: the real texts repeated as needed, each with a unique id."""
    base = pl.read_parquet(path, columns=["id", "text"])
    reps = -(-n // base.height)
    df = pl.concat([base] * reps).head(n)
    return df.with_columns(pl.format("{}-{}", pl.col("id"), pl.int_range(pl.len())).alias("id"))


def timed(fn) -> tuple[float, float]:  # noqa: ANN001 - any callable
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def bench_operator(
    df: pl.DataFrame, op: str, rate: float, batch: int, repeats: int
) -> dict[str, float]:
    ctx = StageContext(7, 1, "augment")
    apply_ops(df["text"].head(8), [(op, rate, ctx.doc_seeds(df["id"].head(8)))])  # load the kernel

    def run() -> None:
        for k in range(0, df.height, batch):
            part = df.slice(k, batch)
            apply_ops(part["text"], [(op, rate, ctx.doc_seeds(part["id"], "x"))])

    times = [timed(run) for _ in range(repeats)]
    wall = statistics.median(t[0] for t in times)
    cpu = statistics.median(t[1] for t in times)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "docs_per_s": df.height / wall,
        "docs_per_cpu_s": df.height / cpu,
    }


def bench_stage(df: pl.DataFrame, batch: int, repeats: int) -> dict[str, float]:
    """keys per shard -> resolve -> apply per shard; every document a source (cap 0.5)."""
    cfg = AugmentConfig(
        ops=[{"op": "typo", "rate": 0.05}], fraction=1.0, max_synthetic_fraction=0.5
    )
    stage = Augment(cfg)
    ctx = StageContext(7, 1, "augment")
    shards = [df.slice(k, batch) for k in range(0, df.height, batch)]
    out_rows = [0]

    def run() -> None:
        keys = [
            stage.keys(s, ctx).with_columns(pl.lit(i).alias("_shard")) for i, s in enumerate(shards)
        ]
        dec = stage.resolve(pl.concat(keys).lazy(), ctx)
        out_rows[0] = sum(
            stage.apply(s, dec.filter(pl.col("id").is_in(s["id"].implode())), ctx).height
            for s in shards
        )

    times = [timed(run) for _ in range(repeats)]
    wall = statistics.median(t[0] for t in times)
    cpu = statistics.median(t[1] for t in times)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "docs_per_s": df.height / wall,
        "docs_per_cpu_s": df.height / cpu,
        "rows_out": out_rows[0],
    }


def bench_llm(
    requests: int, concurrency: int, latency: float, repeats: int, cache: bool
) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "0", str(latency)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        rates = []
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(repeats):
                settings = ChatSettings(
                    base_url=url,
                    model="bench",
                    concurrency=concurrency,
                    max_retries=2,
                    timeout_s=10,
                    cache_path=str(Path(tmp) / f"cache{r}.sqlite") if cache else None,
                )
                prompts = [f"run {r} prompt {i}" for i in range(requests)]
                client = ChatClient(settings)
                t0 = time.perf_counter()
                out = client.complete_many(prompts)
                elapsed = time.perf_counter() - t0
                if any(o is None for o in out):
                    raise RuntimeError("a request failed")
                rates.append(requests / elapsed)
        ideal = concurrency / latency
        med = statistics.median(rates)
        return {"req_per_s": med, "ideal": ideal, "share": med / ideal, "runs": rates}  # type: ignore[dict-item]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="/work/shared/data/real_docs.parquet")
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=50_000, help="rows per shard (the ingest default)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    df = corpus(args.data, args.docs)
    mb = df["text"].str.len_bytes().sum() / 1e6
    lines = [
        "# augment benchmark",
        "",
        f"Command: `.venv/bin/python benchmarks/augment/bench_augment.py {' '.join(sys.argv[1:])}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"polars {pl.__version__}; 2 cores shared with other workers: medians of {args.repeats} runs, "
        "one process (numba kernels are single-threaded).",
        f"Corpus: {args.docs} documents ({mb:.0f} MB of UTF-8), the real documents repeated with unique ids; "
        f"batches of {args.batch} rows.",
        "",
        "## Rule-based operators (every document processed)",
        "",
        "| operator | rate | wall s | CPU s | docs/s (wall) | docs/s per CPU-second |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for op, rate in [
        ("typo", 0.05),
        ("ocr", 0.05),
        ("word_dropout", 0.1),
        ("sentence_shuffle", 0.3),
    ]:
        r = bench_operator(df, op, rate, args.batch, args.repeats)
        lines.append(
            f"| {op} | {rate} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['docs_per_s']:,.0f} | {r['docs_per_cpu_s']:,.0f} |"
        )
        print(lines[-1], file=sys.stderr)
    s = bench_stage(df, args.batch, args.repeats)
    lines += [
        "",
        "## The stage, keys -> resolve -> apply (typo 5 %, fraction 1.0, cap 0.5: every document a source)",
        "",
        f"{args.docs} documents in, {s['rows_out']} rows out: {s['wall_s']:.2f} s wall, {s['cpu_s']:.2f} s CPU, "
        f"**{s['docs_per_s']:,.0f} docs/s** ({s['docs_per_cpu_s']:,.0f} per CPU-second). Target: >= 10,000 docs/s per core.",
        "",
        f"## Synthetic path: {args.requests} requests, concurrency {args.concurrency}, "
        f"{args.latency * 1000:.0f} ms simulated latency",
        "",
        "Server: `tests/augment/chat_server.py` in its own process (ThreadingHTTPServer, keep-alive).",
        "",
        "| cache | req/s (median) | runs | ideal | share of ideal |",
        "| --- | --- | --- | --- | --- |",
    ]
    print(lines[-8], file=sys.stderr)
    for cache in (False, True):
        r = bench_llm(
            args.requests, args.concurrency, args.latency, max(3, args.repeats // 2 + 1), cache
        )
        runs = ", ".join(f"{x:.0f}" for x in r["runs"])  # type: ignore[union-attr]
        lines.append(
            f"| {'sqlite' if cache else 'off'} | {r['req_per_s']:.0f} | {runs} | {r['ideal']:.0f} | {r['share']:.0%} |"
        )
        print(lines[-1], file=sys.stderr)
    lines += [
        "",
        "Target: >= 80 % of the concurrency-bound ideal (concurrency / latency).",
        "",
        "## Notes",
        "",
        "- docs/s counts input documents; the operator rows process every document (fraction 1.0),",
        "  so a real run with `fraction: 0.1` touches a tenth of them. Timings include the per-document",
        "  seeds (XXH64 of the id), the kernel and the Arrow round trip; not reading Parquet.",
        "- The kernel loads from numba's on-disk cache (first compile ~7 s, once per installation).",
        "- The test server sets TCP_NODELAY: without it, http.server writes headers and body",
        "  separately and Nagle + delayed ACK add ~40 ms per reply (325 req/s, 51 % of ideal).",
        "- The client is the standard library (`http.client`, one keep-alive connection per thread);",
        "  with the SQLite cache on, answers are written from the main thread and committed every 0.5 s.",
    ]
    text = "\n".join(lines) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
