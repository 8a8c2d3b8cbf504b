"""`curate filter --dry-run`: what each rule would remove, with examples, and no data written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl


def _snippet(text: str | None, width: int = 100) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def filter_dry_run(
    inputs: list[str], cfg: Any, scratch: Path, *, workers: int | None, examples: int, quiet: bool, run: Callable[..., Any]
) -> str:
    """Run the filter into a scratch folder and summarise per rule; the caller deletes the folder."""
    out = scratch / "out"
    report = run(inputs, out, [cfg], workers=workers, quiet=quiet)
    step = next(s for s in report.steps if s.kind == "filter")
    stats = step.stats
    rejected_files = sorted((out / "rejected").glob(f"{step.folder}-*.parquet"))
    rejected = pl.concat([pl.read_parquet(f) for f in rejected_files], how="diagonal_relaxed") if rejected_files else pl.DataFrame()
    rules = [name.removeprefix("rule_") for name in stats.counters if name.startswith("rule_")]
    lines = [
        f"dry run: {stats.docs_in:,} documents, {stats.docs_kept:,} would be kept, {stats.docs_rejected:,} removed",
        "",
        f"{'rule':<32} {'fails (alone)':>14} {'removed (first failure)':>24}",
    ]
    for rule in rules:
        alone = stats.counters.get(f"rule_{rule}", 0)
        first = stats.rejected.get(rule, 0)
        lines.append(f"{rule:<32} {alone:>14,} {first:>24,}")
    for rule in rules:
        if rejected.height == 0:
            break
        sample = rejected.filter(pl.col("reject_reason") == rule).sort("id").head(examples)
        if sample.height:
            lines += ["", f"examples removed by {rule}:"]
            lines += [f"  {r['id']}: {_snippet(r.get('text'))}" for r in sample.iter_rows(named=True)]
    lines += ["", "counts as JSON: " + json.dumps({"kept": stats.docs_kept, "removed_by_rule": dict(stats.rejected)}, sort_keys=True)]
    return "\n".join(lines)
