"""``report.json``: every figure the report shows, from manifests and bounded samples.

The counts (funnel, reasons, sources, splits, tokens, PII, contamination, selection, timings)
come from the manifests the runner wrote, so they equal them by construction; histograms,
language mix and dedup cluster sizes come from a bounded sample (``reporting.sample``), and say
how many rows they saw. No figure needs a second pass over the data.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from curate.protection import step_tables
from curate.reporting import sample as S
from curate.reporting.folders import Folder

REPORT_FORMAT = 1
MAX_HISTOGRAMS = 40


def build_report(folder: Folder, *, sample_rows: int = S.SAMPLE_ROWS, sample_files: list[Path] | None = None) -> dict[str, Any]:
    """The report of a release, a command's output, a workdir or a step folder. ``sample_files``:
    Parquet files holding the same kept rows, sampled instead of a JSON Lines release's files."""
    m = folder.manifest
    steps = folder.steps
    report: dict[str, Any] = {
        "report_format": REPORT_FORMAT,
        "kind": folder.kind,
        "path": str(folder.path),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "run": {k: m.get(k) for k in ("run_id", "config_hash", "seed", "started_at", "finished_at", "wall_seconds", "engine", "versions", "lineage")},
        "totals": m.get("totals") or _totals(steps),
        "funnel": [_funnel_row(s) for s in steps],
        "reasons": [],
        "splits": m.get("splits"),
        "sources": m.get("sources"),
        "tokens": m.get("tokens"),
        "pii": [],
        "contamination": [],
        "selection": [],
        "token_counts": [],
        "dedup": [],
        "languages": None,
        "histograms": [],
        "sample": {},
        "gates": None,
        "diff": None,
    }
    # reasons with a few examples each
    wanted = {(s["folder"], r) for s in steps for r in (s.get("counts", {}).get("rejected_by_reason") or {})}
    examples = S.reason_examples(folder.rejected_files, wanted, folder.path) if wanted else {}
    for s in steps:
        counts = s.get("counts", {})
        docs_in = int(counts.get("docs_in", 0)) + int(counts.get("docs_added", 0))
        for reason, n in sorted((counts.get("rejected_by_reason") or {}).items(), key=lambda kv: -kv[1]):
            report["reasons"].append({
                "step": s["folder"], "stage": s["stage"], "reason": reason, "count": int(n),
                "share_of_step_input": round(n / docs_in, 6) if docs_in else 0.0,
                "examples": examples.get((s["folder"], reason), []),
            })
    # the stages' own tables
    for s in steps:
        counters = s.get("counts", {}).get("counters", {})
        tables = step_tables(str(s.get("stage")), s.get("config", {}), counters) or {}
        for key, out in (("pii", "pii"), ("contamination", "contamination"), ("selection", "selection"), ("tokens", "token_counts")):
            if key in tables:
                report[out].append({"step": s["folder"], "table": tables[key]})
        if s.get("stage") in ("exact_dedup", "minhash_dedup"):
            report["dedup"].append({"step": s["folder"], "stage": s["stage"], "removed": int(s.get("counts", {}).get("docs_rejected", 0)), "counters": counters})
    _sampled(report, folder, steps, sample_rows, sample_files)
    return report


def _totals(steps: list[dict[str, Any]]) -> dict[str, int]:
    if not steps:
        return {"docs_in": 0, "docs_out": 0, "docs_rejected": 0, "docs_added": 0}
    c = [s.get("counts", {}) for s in steps]
    return {
        "docs_in": int(c[0].get("docs_in", 0)),
        "docs_out": int(c[-1].get("docs_kept", 0)),
        "docs_rejected": sum(int(x.get("docs_rejected", 0)) for x in c),
        "docs_added": sum(int(x.get("docs_added", 0)) for x in c),
    }


def _funnel_row(step: dict[str, Any]) -> dict[str, Any]:
    c = step.get("counts", {})
    row = {
        "step": step.get("folder"),
        "stage": step.get("stage"),
        "docs_in": int(c.get("docs_in", 0)),
        "docs_added": int(c.get("docs_added", 0)),
        "docs_rejected": int(c.get("docs_rejected", 0)),
        "docs_kept": int(c.get("docs_kept", 0)),
        "bytes_written": int(c.get("bytes_written", 0)),
        "wall_seconds": float(step.get("wall_seconds", 0.0)),
        "cpu_seconds": float(c.get("cpu_seconds", 0.0)),
        "resumed": bool(step.get("resumed_from_previous_run", False)),
        "config_hash": step.get("config_hash"),
    }
    counters = c.get("counters", {})
    if "tokens_total" in counters:
        row["tokens"] = int(counters["tokens_total"])
    return row


def thresholds(steps: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Column -> the numeric thresholds the filter steps' rules compare it with."""
    if not any(s.get("stage") == "filter" for s in steps):
        return {}  # nothing to parse: the filter stage's module stays unloaded
    from curate.rules import Cmp, Col, Lit, _walk, parse_rule
    from curate.stages.filter import PRESETS

    flip = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
    out: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        if s.get("stage") != "filter":
            continue
        config = s.get("config", {})
        preset = config.get("preset")
        rules: dict[str, str] = {}
        for p in [preset] if isinstance(preset, str) else (preset or []):
            rules.update(PRESETS.get(p, {}))
        rules.update(config.get("rules") or {})
        for name, text in rules.items():
            try:
                tree = parse_rule(name, text).tree
            except Exception:  # noqa: BLE001 - a rule the report cannot read is simply not drawn
                continue
            for node in _walk(tree) if tree is not None else ():
                if not isinstance(node, Cmp):
                    continue
                if isinstance(node.left, Col) and isinstance(node.right, Lit) and node.right.kind in ("int", "float"):
                    col, op, value = node.left.name, node.op, node.right.value
                elif isinstance(node.right, Col) and isinstance(node.left, Lit) and node.left.kind in ("int", "float"):
                    col, op, value = node.right.name, flip[node.op], node.left.value
                else:
                    continue
                out.setdefault(col, []).append({"rule": name, "op": op, "value": float(value), "step": s.get("folder")})
    return out


def _sampled(report: dict[str, Any], folder: Folder, steps: list[dict[str, Any]], limit: int, files: list[Path] | None = None) -> None:
    """Histograms (kept vs rejected, thresholds drawn), language mix, cluster sizes."""
    data = files if files is not None and not S.parquet_files(folder.data_files) else folder.data_files
    schema = S.schema_of(data)
    if schema is None:
        report["sample"] = {"rows": 0, "rejected_rows": 0, "note": "no Parquet data files to sample"}
        return
    limits = thresholds(steps)
    numeric = S.numeric_columns(schema)
    ordered = [c for c in numeric if c in limits] + [c for c in numeric if c not in limits]
    ordered = ordered[:MAX_HISTOGRAMS]
    extra = [c for c in ("lang", "source") if c in schema.names]
    kept = S.head_rows(data, ordered + extra, limit)
    rejected_files = [f for f in folder.rejected_files if S.rejected_step(f) in {str(v["step"]) for vs in limits.values() for v in vs}]
    rejected = S.head_rows(rejected_files, ordered, limit // 4) if rejected_files else kept.clear()
    report["sample"] = {
        "rows": kept.height,
        "rejected_rows": rejected.height,
        "files": len(S.parquet_files(data)),
        "how": f"the first rows of every data file, at most {limit:,} in all; rejected rows from the filter steps' rejected sets",
    }
    for column in ordered:
        k, r = S.as_floats(kept, column), S.as_floats(rejected, column)
        if k.size + r.size == 0:
            continue
        lines = limits.get(column, [])
        hist = S.histogram(k, r, [t["value"] for t in lines])
        if hist is None:
            continue
        report["histograms"].append({
            "column": column,
            **hist,
            "thresholds": lines,
            "sample_kept": int(k.size),
            "sample_rejected": int(r.size),
            "mean_kept": round(float(np.mean(k)), 6) if k.size else None,
        })
    if "lang" in kept.columns:
        langs = Counter(str(x) for x in kept.get_column("lang").to_list())
        report["languages"] = {"sample_rows": kept.height, "counts": dict(langs.most_common(20))}
    if "dup_cluster_size" in kept.columns:
        sizes = Counter(int(x) for x in kept.get_column("dup_cluster_size").drop_nulls().to_list())
        report["cluster_sizes"] = {"sample_rows": kept.height, "counts": {str(k): v for k, v in sorted(sizes.items())}}
