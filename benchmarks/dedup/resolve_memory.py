"""Peak memory of ``MinhashDedup.resolve`` per document, on synthetic keys (random signatures).

The keys are written first; the resolve then runs in a fresh subprocess (pieces one after
another in that process, as with one worker), which reports its RSS after imports and set-up and
its peak, so the growth is the resolve's own and not what writing the keys left behind.

    python benchmarks/dedup/resolve_memory.py --docs 1000000 --workdir /tmp/resolve-mem
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from curate.stages.base import StageContext
from curate.stages.minhash_dedup import MinhashDedup, MinhashDedupConfig, signature_column


def rss_mib() -> float:
    """Peak resident set of this process so far (``VmHWM``: unlike ``ru_maxrss``, it does not
    start at the parent's RSS)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--verify", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/resolve-mem"))
    ap.add_argument("--resolve-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cfg = MinhashDedupConfig(verify=args.verify)
    stage = MinhashDedup(cfg)
    stage.setup()
    if args.resolve_only:
        resolve(stage, args.workdir)
        return
    bands, rows = cfg.band_rows()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for old in args.workdir.glob("keys-*.parquet"):
        old.unlink()
    rng = np.random.default_rng(0)
    per = args.docs // args.files
    for f in range(args.files):
        sig = rng.integers(0, 2**32, size=(per, cfg.num_perm), dtype=np.uint32)
        sig[: per // 10] = sig[per // 10 : 2 * (per // 10)]  # 10 % exact copies
        from curate.dedup.lsh import band_hashes

        bh = band_hashes(sig, np.ones(per, np.int32), bands, rows)
        cols = {"id": [f"{f:02d}{i:010d}" for i in range(per)], "_rank": np.zeros(per)}
        cols |= {f"_band_{i}": bh[:, i] for i in range(bands)}
        if args.verify:
            cols["_sig"] = signature_column(sig)
        pl.DataFrame(cols).write_parquet(args.workdir / f"keys-{f:03d}.parquet", compression="uncompressed")
        del sig, bh, cols
    flag = "--verify" if args.verify else "--no-verify"
    subprocess.run([sys.executable, __file__, "--workdir", str(args.workdir), flag, "--resolve-only"], check=True)


def resolve(stage: MinhashDedup, workdir: Path) -> None:
    keys = pl.scan_parquet(workdir / "keys-*.parquet")
    docs = keys.select(pl.len()).collect().item()
    before = rss_mib()
    t0 = time.perf_counter()
    decisions = stage.resolve(keys, StageContext())
    seconds = time.perf_counter() - t0
    peak = rss_mib()
    print(
        f"docs={docs} verify={stage.cfg.verify} resolve_s={seconds:.1f} removed={decisions['_reject'].count()} "
        f"rss_before_MiB={before:.0f} peak_MiB={peak:.0f} "
        f"peak_bytes_per_doc={(peak * 2**20) / docs:.0f} growth_bytes_per_doc={((peak - before) * 2**20) / docs:.0f}"
    )


if __name__ == "__main__":
    main()
