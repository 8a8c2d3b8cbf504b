"""Synthetic-data benchmark: requests/s and token accounting at concurrency 32 against the fake
server with latency, the LAB yield estimate against the real yield, degradation throughput.

    .venv/bin/python benchmarks/augment/bench_synthetic.py --requests 2000 --repeats 3 \
        --out benchmarks/augment/RESULTS-synthetic.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from curate.augment.degrade import DEGRADATION_NAMES, degrade_all
from curate.augment.llm import ChatClient, ChatSettings
from curate.stages.lab_generate import LabGenerateConfig, generate, yield_check

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "tests" / "augment" / "chat_server.py"
TAXONOMY = ROOT / "tests" / "data" / "lab_taxonomy"
sys.path.insert(0, str(SERVER.parent))


def server(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "0", str(latency)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def bench_requests(
    n: int, concurrency: int, latency: float, repeats: int
) -> list[dict[str, object]]:
    """Requests/s with and without the cache (committed per answer), and the token counts."""
    proc, url = server(latency)
    out = []
    try:
        for cache in (False, True):
            rates, tokens_ok, failed, retried = [], True, 0, 0
            for r in range(repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    settings = ChatSettings(
                        base_url=url,
                        model="bench",
                        concurrency=concurrency,
                        max_retries=5,
                        backoff_s=0.05,
                        cache_path=str(Path(tmp) / "c.sqlite") if cache else None,
                    )
                    prompts = [
                        f"run {r} cache {cache} prompt {i} " + "word " * (i % 50) for i in range(n)
                    ]
                    client = ChatClient(settings)
                    t = time.perf_counter()
                    answers = client.complete_many(prompts)
                    wall = time.perf_counter() - t
                    failed += sum(a is None for a in answers)
                    retried += client.stats["requests_retried"]
                    rates.append(n / wall)
                    # the fake server answers SYN[<prompt>] and counts whitespace words as tokens
                    ok = [p for p, ans in zip(prompts, answers, strict=True) if ans is not None]
                    want_prompt = sum(len(p.split()) for p in ok)
                    want_completion = sum(len(f"SYN[{p}]".split()) for p in ok)
                    got = (client.stats["prompt_tokens"], client.stats["completion_tokens"])
                    tokens_ok &= got == (want_prompt, want_completion)
                    if cache:  # a rerun pays nothing and counts no tokens
                        again = ChatClient(settings)
                        again.complete_many(prompts)
                        tokens_ok &= (
                            again.stats["requests_ok"] == 0 and again.stats["prompt_tokens"] == 0
                        )
            out.append(
                {
                    "cache": "sqlite, commit per answer" if cache else "off",
                    "median": statistics.median(rates),
                    "runs": rates,
                    "ideal": concurrency / latency,
                    "tokens_exact": tokens_ok,
                    "failed": failed,
                    "retried": retried,
                }
            )
    finally:
        proc.terminate()
        proc.wait()
    return out


def _judge_reply(keep: float, salt: int):  # noqa: ANN202 - a reply function for ChatServer
    def reply(prompt: str) -> str:
        if prompt.startswith("Rate the answer"):
            q = re.search(r"Question: (.*?)\nAnswer:", prompt, re.S)
            text = f"{salt}:{q.group(1) if q else prompt}"
            h = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32
            return json.dumps({"score": 5 if h < keep else 2})
        m = re.search(r"Write new question number (\d+)", prompt)
        if m:
            return json.dumps(
                {
                    "question": f"Q{m.group(1)} of {hashlib.sha256(prompt.encode()).hexdigest()[:12]}?"
                }
            )
        return "An answer."

    return reply


def bench_yield(
    questions: int, probes: list[int], keep: float, trials: int
) -> list[dict[str, float]]:
    """Per probe size, over ``trials`` judges: mean |estimate - real share|, interval coverage, requests."""
    from chat_server import ChatServer

    per: dict[int, list[tuple[float, bool, int, int]]] = {p: [] for p in probes}
    reals = []
    for salt in range(trials):
        with (
            ChatServer(reply=_judge_reply(keep, salt)) as srv,
            tempfile.TemporaryDirectory() as tmp,
        ):
            teacher = {
                "base_url": srv.url,
                "model": "t",
                "cache_path": str(Path(tmp) / "c.sqlite"),
                "concurrency": 16,
            }
            cfg = LabGenerateConfig.model_validate(
                {"taxonomy": str(TAXONOMY), "questions_per_leaf": questions, "teacher": teacher}
            )
            real = generate(cfg)
            real_share = real.counts["pairs_kept"] / real.counts["pairs_judged"]
            reals.append(real_share)
            full_requests = srv.requests
            for probe in probes:
                text = "\n".join(yield_check(cfg, probe))
                m = re.search(r"kept share ([0-9.]+), 95% interval ([0-9.]+)-([0-9.]+)", text)
                r = re.search(r"about (\d+) requests", text)
                assert m is not None and r is not None
                est, lo, hi = (float(x) for x in m.groups())
                per[probe].append(
                    (abs(est - real_share), lo <= real_share <= hi, int(r.group(1)), full_requests)
                )
    rows = []
    for probe, xs in per.items():
        rows.append(
            {
                "probe": probe,
                "mae": statistics.mean(x[0] for x in xs),
                "coverage": statistics.mean(float(x[1]) for x in xs),
                "requests_exact": all(x[2] == x[3] for x in xs),
                "real_mean": statistics.mean(reals),
                "trials": trials,
            }
        )
    return rows


def bench_degrade(n: int, repeats: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    texts = [
        f"First, the road is {i % 97} km long.\nSecond, it is not open on {i % 7} days.\n"
        f"- item {i}\n- item {i + 1}\n- item {i + 2}\nSo it takes {int(rng.integers(5, 90))} minutes."
        for i in range(n)
    ]
    prompts = [f"question {i}" for i in range(n)]
    seeds = np.arange(n, dtype=np.uint64) * np.uint64(2654435761)
    out = []
    for name in DEGRADATION_NAMES:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            res = degrade_all(name, texts, seeds, prompts)
            times.append(time.perf_counter() - t)
        applied = sum(r is not None for r in res)
        out.append(
            {"name": name, "rows_per_s": n / statistics.median(times), "applied": applied / n}
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--keep", type=float, default=0.35)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--degrade-rows", type=int, default=20000)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    req = bench_requests(a.requests, a.concurrency, a.latency, a.repeats)
    yl = bench_yield(a.questions, [2, 5, 10, 20], a.keep, a.trials)
    dg = bench_degrade(a.degrade_rows, a.repeats)
    lines = [
        "# Synthetic data: requests/s, token accounting, yield estimate, degradations",
        "",
        f"Machine: {platform.machine()}, {platform.python_version()}, shared with other work (2 cores): "
        "figures are medians of side-by-side runs in one process; compare ratios, not absolutes.",
        "",
        f"Command: `.venv/bin/python benchmarks/augment/bench_synthetic.py --requests {a.requests} "
        f"--repeats {a.repeats} --questions {a.questions}` (`make bench-synthetic`).",
        "",
        f"## Requests: {a.requests} per run, concurrency {a.concurrency}, {a.latency * 1000:g} ms simulated latency",
        "",
        "Server: `tests/augment/chat_server.py` in its own process; it returns `usage` with whitespace-word counts.",
        "",
        "| cache | req/s (median) | runs | ideal | share of ideal | retried / failed | tokens counted exactly |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in req:
        runs = ", ".join(f"{x:.0f}" for x in r["runs"])  # type: ignore[union-attr]
        lines.append(
            f"| {r['cache']} | {r['median']:.0f} | {runs} | {r['ideal']:.0f} | {r['median'] / r['ideal']:.0%} | {r['retried']} / {r['failed']} | {'yes' if r['tokens_exact'] else 'NO'} |"
        )  # type: ignore[operator]
    lines += [
        "",
        "The cache commits every answer (SQLite WAL, synchronous=NORMAL), so a SIGKILL loses none; the",
        "two rows side by side are its cost (within run-to-run noise on this shared machine).",
        "",
        "Tokens: the client's `prompt_tokens` and `completion_tokens` (from each reply's `usage`) equal the",
        "server's own counts summed over every request; a rerun from the cache sends nothing and counts none.",
        "",
        f"## LAB yield: estimate (`--dry-run`, probe questions per leaf) against the full run ({a.questions} per leaf, 3 leaves)",
        "",
        f"The fake judge keeps a question with probability {a.keep} (a salted hash of the question); "
        f"{a.trials} judges (salts), the probe's answers reused from the cache by the full run.",
        "",
        "| probe per leaf | mean abs. error of the kept share | real share inside the 95% interval | requests estimate exact |",
        "| --- | --- | --- | --- |",
    ]
    for y in yl:
        lines.append(
            f"| {y['probe']} | {y['mae']:.3f} | {y['coverage']:.0%} of {y['trials']} | {'yes' if y['requests_exact'] else 'no'} |"
        )
    lines += [
        "",
        f"Mean real kept share over the judges: {yl[0]['real_mean']:.3f}. The error shrinks like 1/sqrt(judged",
        "pairs); the interval `--dry-run` prints is what to read, not the point estimate.",
    ]
    lines += [
        "",
        f"## Degradations: {a.degrade_rows} responses, one Python pass per row",
        "",
        "| degradation | rows/s (median) | applies to |",
        "| --- | --- | --- |",
    ]
    for d in dg:
        lines.append(f"| {d['name']} | {d['rows_per_s']:,.0f} | {d['applied']:.0%} |")
    lines += [
        "",
        "Why per row: these edits parse structure (steps, list blocks, auxiliaries); they run only on a",
        "capped share of instruction data, where tens of thousands of rows per second per core are far",
        "above any teacher's request rate.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
