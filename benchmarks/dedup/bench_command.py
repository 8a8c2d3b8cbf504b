"""Whole-command near-duplicate removal as users time it: `curate dedup` against a rensa 0.5 script.

Each round runs both commands as subprocesses, one after the other, alternating which goes first:

  curate  `.venv/bin/curate dedup INPUTS -o OUT -q` (exact + MinHash, defaults; a fresh OUT each run)
  rensa   `python benchmarks/dedup/rensa_dedup.py INPUTS -o OUT/removed.parquet` (the Parquet read,
          RMinHash per document, RMinHashLSH 16 bands, candidate verification, the write)
  floor   with --floor: `python benchmarks/dedup/bench_floor.py INPUTS -o OUT` (curate's decisions
          with its compiled kernels and none of its framework: the least a Python command needs)

Timed rounds run each command with nothing watching it, as a user's `time` does: wall seconds, CPU
seconds of the process tree (user + system of every reaped descendant, from ``wait4``) and the
root process's exact peak RSS (the kernel's ``ru_maxrss``). Memory rounds (``--memory-runs``, after
them) run each command again under a sampler of the whole process tree (``measure``: RSS summed
over the tree every 50 ms, PSS every 200 ms), which costs the measured command time (a
``/proc/PID/smaps`` read takes ~9 ms of CPU and holds the process's memory map lock, which its
page faults wait on: `curate dedup` took 3-11 % longer watched, ``watched_ab.py``), so their wall times are
reported apart and no ratio uses them. Also docs/s, and precision / recall / F1 of the removed ids
against ``truth_removed.parquet`` (curate: every row under OUT/rejected/, all reasons; its kept
rows, OUT's data files, must be the rest). Also the per-step wall and CPU seconds curate records
in OUT/_manifest.json.

INPUTS is CORPUS_DIR/corpus.parquet (``build_boundary_corpus.py``) or, failing that, the files of
CORPUS_DIR/shards/ (``build_corpus.py``); both commands read the same files.

    python benchmarks/dedup/bench_command.py /tmp/dedup-boundary --runs 3 [--memory-runs 2] [--floor] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil
from run import score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _measure import emit  # noqa: E402
from _measure import timed as timed_run  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
METHODS = ("curate", "rensa")


def measure(cmd: list[str], cwd: Path, interval: float = 0.05, pss_every: int = 4) -> tuple[float, int, int, int]:
    """``benchmarks/_measure.measure`` (wall, peak RSS summed over the process tree, of its largest
    process) plus the peak PSS summed over the tree: RSS counts a page shared by several processes
    (forked workers share the runner's imported modules) in each of them, PSS divides it among
    them, so the tree's PSS is the memory the command holds.

    The sampler must not take the CPU it measures: RSS comes from ``/proc/PID/statm`` every
    ``interval`` (microseconds a process), PSS from ``/proc/PID/smaps`` only every ``pss_every``-th
    sample (~9 ms of CPU per read of a 600 MiB process: every 50 ms, 16 % of a core, which a
    command using both cores loses and a one-thread command does not; PSS peaks are sampled every
    200 ms, so they may be missed by a little), the process list every 5th.
    The root's own peak is also read from the kernel when it ends (``wait4``'s ``ru_maxrss``), so a
    one-process command's peak RSS is exact, not sampled."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL)
    root = psutil.Process(proc.pid)
    tree = [root]
    peak_tree = peak_one = peak_pss = 0
    sample = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(psutil.Error):
            if sample % 5 == 0:
                tree = [root, *root.children(recursive=True)]
            rss, pss = [], 0
            for p in tree:
                with contextlib.suppress(psutil.Error):
                    if sample % pss_every == 0:
                        m = p.memory_full_info()
                        pss += m.pss
                    else:
                        m = p.memory_info()
                    rss.append(m.rss)
            peak_tree = max(peak_tree, sum(rss))
            peak_one = max(peak_one, max(rss, default=0))
            if sample % pss_every == 0:
                peak_pss = max(peak_pss, pss)
        sample += 1
        time.sleep(interval)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    root_peak = usage.ru_maxrss * 1024
    return wall, max(peak_tree, root_peak), max(peak_one, root_peak), peak_pss


def inputs(corpus: Path) -> list[Path]:
    one = corpus / "corpus.parquet"
    if one.exists():
        return [one]
    shards = sorted((corpus / "shards").glob("*.parquet"))
    if not shards:
        raise SystemExit(f"{corpus}: neither corpus.parquet nor shards/*.parquet")
    return shards


def ids_of(files: list[Path]) -> list[str]:
    # one file at a time: curate's rejected files of different steps carry different columns
    return [i for f in files for i in pl.read_parquet(f, columns=["id"])["id"].to_list()]


def command(method: str, files: list[Path], out: Path, curate: str, extra: list[str]) -> list[str]:
    if method in ("curate", "before"):
        return [curate, "dedup", *map(str, files), "-o", str(out), "-q", *extra]
    out.mkdir(parents=True)
    if method == "floor":
        return [sys.executable, str(Path(__file__).with_name("bench_floor.py")), *map(str, files), "-o", str(out)]
    script = Path(__file__).with_name("rensa_dedup.py")
    return [sys.executable, str(script), *map(str, files), "-o", str(out / "removed.parquet")]


def curate_result(out: Path, all_ids: set[str]) -> tuple[set[str], list[tuple[str, float, float]]]:
    """Removed ids (every rejected row) and (step, wall s, CPU s) from the manifest."""
    manifest = json.loads((out / "_manifest.json").read_text())
    removed = ids_of(sorted((out / "rejected").glob("*.parquet")))
    data = manifest.get("curate_dataset", {}).get("data_files") or [p.name for p in out.glob("*.parquet")]
    kept = ids_of([out / f for f in data])
    if len(removed) + len(kept) != len(all_ids) or set(removed) | set(kept) != all_ids:
        print(f"warning: kept {len(kept):,} + removed {len(removed):,} rows are not the "
              f"{len(all_ids):,} input ids", file=sys.stderr)
    steps = [(s["stage"], s.get("wall_seconds", 0.0), s.get("counts", {}).get("cpu_seconds", 0.0))
             for s in manifest.get("steps", [])]
    return set(removed), steps


def parquet_digest(out: Path) -> str:
    """One md5 over (relative path, md5 of the bytes) of every Parquet file under ``out``."""
    import hashlib

    whole = hashlib.md5()
    for p in sorted(out.rglob("*.parquet")):
        whole.update(f"{p.relative_to(out)} {hashlib.md5(p.read_bytes()).hexdigest()}\n".encode())
    return whole.hexdigest()[:12]


def code_version() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False).stdout

    head = git("rev-parse", "--short", "HEAD").strip()
    status = git("status", "--porcelain", "--untracked-files=all", "src", "setup.py", "pyproject.toml")
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    if not dirty:
        return f"commit `{head}`"
    return f"commit `{head}` plus uncommitted changes to {', '.join(f'`{d}`' for d in dirty)}"


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of the process tree and the root's peak RSS (bytes, from the
    kernel) of one run of ``cmd`` with nothing sampling it."""
    wall, usage = timed_run(cmd, cwd)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--runs", type=int, default=3, help="timed rounds (nothing samples the commands)")
    ap.add_argument("--memory-runs", type=int, default=2, help="rounds under the process-tree memory sampler")
    ap.add_argument("--pause", type=float, default=0.0,
                    help="seconds idle before each command, so that each starts as after a pause, not right after "
                         "another (on a VM that hands freed memory back to its host, what ran just before changes "
                         "how dear a command's first touches of memory are)")
    ap.add_argument("--curate", default=str(Path(sys.executable).parent / "curate"),
                    help="the curate console script (default: beside this Python)")
    ap.add_argument("--curate-args", default="", help="more arguments for curate dedup, e.g. '-w 1'")
    ap.add_argument("--before", help="another curate console script (e.g. a wrapper around an earlier source tree), "
                    "run in the same rounds with the same arguments: its output must hold the same bytes")
    ap.add_argument("--floor", action="store_true", help="also run bench_floor.py (curate's kernels, no framework) in the same rounds")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/dedup-command-work"))
    ap.add_argument("--out", type=Path, help="append the tables to this file")
    args = ap.parse_args()
    files = inputs(args.corpus)
    all_ids = set(ids_of(files))
    docs = len(all_ids)
    truth = set(pl.read_parquet(args.corpus / "truth_removed.parquet")["id"].to_list())
    mb = sum(pl.read_parquet(f, columns=["text"])["text"].str.len_bytes().sum() for f in files) / 1e6
    version = code_version()
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.workdir.mkdir(parents=True, exist_ok=True)
    # as a user's install runs: Python's bytecode cached (a sandbox that sets PYTHONDONTWRITEBYTECODE
    # makes every curate process compile its ~70 modules, ~0.25 CPU s each of the three)
    no_bytecode = os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None
    import curate

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(curate.__file__).parent)], check=False)
    load0 = os.getloadavg()[:2]

    methods = ("curate", "before", "rensa") if args.before else METHODS
    methods += ("floor",) if args.floor else ()
    res: dict[str, list[dict]] = {m: [] for m in methods}
    digests: dict[str, set[str]] = {m: set() for m in methods}
    watched: dict[str, list[dict]] = {m: [] for m in methods}
    for r in range(args.runs + args.memory_runs):
        sampled = r >= args.runs
        for method in methods if r % 2 == 0 else methods[::-1]:
            out = args.workdir / f"{method}-out"
            shutil.rmtree(out, ignore_errors=True)
            cmd = command(method, files, out, args.before if method == "before" else args.curate, shlex.split(args.curate_args))
            time.sleep(args.pause)
            if sampled:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                wall, tree, one, pss = measure(cmd, REPO)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                watched[method].append({"wall": wall, "rss": tree / 2**20, "one": one / 2**20, "pss": pss / 2**20})
                print(f"memory run {r + 1 - args.runs} {method}: {wall:.2f} s wall (watched), {tree / 2**20:.0f} MiB ({pss / 2**20:.0f} PSS)", file=sys.stderr)
                shutil.rmtree(out, ignore_errors=True)
                continue
            wall, cpu, root_rss = timed(cmd, REPO)
            if method in ("curate", "before"):
                removed, steps = curate_result(out, all_ids)
                digests[method].add(parquet_digest(out))
            else:
                removed, steps = set(ids_of([out / "removed.parquet"])), []
            p, rc, f = score(removed, truth)
            res[method].append({"wall": wall, "cpu": cpu, "root": root_rss / 2**20, "removed": len(removed), "p": p, "r": rc, "f": f, "steps": steps})
            print(f"run {r + 1} {method}: {wall:.2f} s wall, {cpu:.2f} CPU s, root peak {root_rss / 2**20:.0f} MiB, "
                  f"removed {len(removed):,}, F1 {f:.3f}", file=sys.stderr)
            shutil.rmtree(out, ignore_errors=True)

    def runs(xs: list[float], fmt: str = "{:.2f}") -> str:
        return " / ".join(fmt.format(x) for x in xs)

    def distinct(xs: list, fmt: str) -> str:
        vals = list(dict.fromkeys(fmt.format(x) for x in xs))
        return " / ".join(vals)

    n = args.runs
    load = " / ".join(f"{x:.1f}" for x in (*load0, *os.getloadavg()[:2]))
    lines = [
        f"`{args.corpus}`: {docs:,} documents, {mb:.0f} MB of text, {len(truth):,} truly removable; "
        f"{version}; {started}; {n} timed rounds, then {args.memory_runs} under the memory sampler, order alternating "
        f"(round 1: curate first){f', {args.pause:g} s idle before each command' if args.pause else ''}; "
        f"1- and 5-minute load average before / after: {load}"
        + ("; PYTHONDONTWRITEBYTECODE unset for both commands (bytecode cached, as installed)." if no_bytecode else "."),
        "",
        "| command | wall s (" + " / ".join(str(i + 1) for i in range(n)) + ") | median wall s | docs/s (median) "
        "| CPU s, process tree (median) | peak RSS MiB, root process (kernel, max) | peak RSS MiB, process tree (sampled, min-max) "
        "| largest process MiB (sampled, max) | peak PSS MiB, process tree (sampled, min-max) | wall s under the sampler (median) "
        "| removed | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    workers = f"`{args.curate_args}`" if args.curate_args else f"default workers on {os.cpu_count()} cores"
    names = {"curate": f"`curate dedup` (exact + MinHash, {workers})", "rensa": "rensa 0.5 script (`rensa_dedup.py`)"}
    if args.before:
        names["before"] = f"`curate dedup` at `{args.before}` (same arguments)"
    names["floor"] = "floor (`bench_floor.py`: curate's kernels, no framework, 2 threads)"
    def span(xs: list[float]) -> str:
        return f"{min(xs):,.0f}-{max(xs):,.0f}" if xs else "-"

    for m in methods:
        rs, ws = res[m], watched[m]
        walls = [x["wall"] for x in rs]
        lines.append(
            f"| {names[m]} | {runs(walls)} | {med(walls):.2f} | {docs / med(walls):,.0f} | "
            f"{med([x['cpu'] for x in rs]):.2f} | {max(x['root'] for x in rs):,.0f} | {span([x['rss'] for x in ws])} | "
            f"{max((x['one'] for x in ws), default=0):,.0f} | {span([x['pss'] for x in ws])} | "
            f"{med([x['wall'] for x in ws]) if ws else 0:.2f} | "
            f"{distinct([x['removed'] for x in rs], '{:,}')} | {distinct([x['p'] for x in rs], '{:.3f}')} | "
            f"{distinct([x['r'] for x in rs], '{:.3f}')} | {distinct([x['f'] for x in rs], '{:.3f}')} |"
        )

    def ratio_table(num: str, den: str) -> list[str]:
        """``num``'s over ``den``'s, round by round: time from the timed rounds, memory (the root's
        exact peak) from them too, the tree's sampled peaks from the memory rounds."""
        out = ["", f"| ratio, {num} / {den} | " + " | ".join(f"round {i + 1}" for i in range(n)) + " | median |",
               "| --- |" + " ---: |" * (n + 1)]
        for key, label, a_rows, b_rows in (
            ("wall", "wall time", res[den], res[num]), ("cpu", "CPU time", res[den], res[num]),
            ("root", "peak RSS, root process", res[den], res[num]),
            ("rss", "peak RSS, process tree (memory rounds)", watched[den], watched[num]),
            ("pss", "peak PSS, process tree (memory rounds)", watched[den], watched[num]),
        ):
            ratios = [b[key] / a[key] for a, b in zip(a_rows, b_rows, strict=True)]
            if ratios:
                cells = [f"{x:.2f}x" for x in ratios] + ["-"] * (n - len(ratios))
                out.append(f"| {label} | " + " | ".join(cells) + f" | {med(ratios):.2f}x |")
        return out

    lines += ratio_table("rensa", "curate")
    if args.before:
        lines += ratio_table("before", "curate")
        same = len(digests["curate"] | digests["before"]) == 1
        lines += ["", f"Output of every run, both: md5 of every Parquet file under OUT (with its path) "
                  f"{'the same' if same else 'DIFFERENT'} ({', '.join(sorted(digests['curate'] | digests['before']))})."]
    if args.floor:
        for num in ("rensa", "curate"):
            lines += ratio_table(num, "floor")
    stages = [s for s, _, _ in res["curate"][0]["steps"]]
    if stages:
        lines += ["", "curate's own step times (`OUT/_manifest.json`, `steps[].wall_seconds`, CPU s in brackets: "
                  "`steps[].counts.cpu_seconds`):", "",
                  "| step | " + " | ".join(f"run {i + 1}" for i in range(n)) + " | median wall s |",
                  "| --- |" + " ---: |" * (n + 1)]
        for k, name in enumerate(stages):
            w = [x["steps"][k][1] for x in res["curate"]]
            c = [x["steps"][k][2] for x in res["curate"]]
            lines.append(f"| {name} | " + " | ".join(f"{a:.2f} ({b:.2f})" for a, b in zip(w, c, strict=True))
                         + f" | {med(w):.2f} |")
        tot = [sum(s[1] for s in x["steps"]) for x in res["curate"]]
        lines.append("| sum of steps | " + " | ".join(f"{t:.2f}" for t in tot) + f" | {med(tot):.2f} |")
        walls = [x["wall"] for x in res["curate"]]
        lines.append("| whole command | " + " | ".join(f"{t:.2f}" for t in walls) + f" | {med(walls):.2f} |")
    emit(lines, args.out)


if __name__ == "__main__":
    main()
