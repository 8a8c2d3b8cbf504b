"""``curate inspect PATH``: a terminal view of any folder curate wrote (or of Parquet files).

Counts come from the manifests and the files' footers; the schema from the files' footers; a
sample is the first matching rows (``--reason``, ``--source`` and ``--where`` filter them, with
the rule grammar of ``filter`` for ``--where``); ``--id`` finds one document among the kept and
rejected rows and shows its way through the steps: which step removed it and why, and for a
duplicate the document that survived in its place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from curate.errors import ConfigError
from curate.reporting import sample as S
from curate.reporting.folders import Folder

TEXT_CHARS = 160


def _scan(files: list[Path]) -> pl.LazyFrame | None:
    parts = S.parquet_files(files)
    if not parts:
        return None
    return pl.concat([pl.scan_parquet(p) for p in parts], how="diagonal_relaxed")


def summary(folder: Folder) -> list[str]:
    """Kind, counts, steps, schema."""
    data, rejected = S.parquet_files(folder.data_files), S.parquet_files(folder.rejected_files)
    kept_rows = sum(pq.read_metadata(f).num_rows for f in data)
    rejected_rows = sum(pq.read_metadata(f).num_rows for f in rejected)
    lines = [f"{folder.kind}: {folder.shown}"]
    m = folder.manifest
    facts = [f"{label} {m[key]}" for label, key in (("run", "run_id"), ("config hash", "config_hash"), ("seed", "seed"), ("finished", "finished_at")) if m.get(key) is not None]
    if facts:
        lines.append(" · ".join(facts))
    others = len(folder.data_files) - len(data)
    lines.append(f"documents: {kept_rows:,} kept in {len(data)} Parquet file(s)" + (f" (+{others} other data files, not read)" if others else "") + f", {rejected_rows:,} rejected in {len(rejected)} file(s)")
    if m.get("splits"):
        lines.append("splits: " + ", ".join(f"{k} {v:,}" for k, v in m["splits"].items()))
    if m.get("sources"):
        lines.append("sources: " + ", ".join(f"{k} {v:,}" for k, v in m["sources"].items()))
    if folder.steps:
        lines += ["", f"{'step':<24} {'in':>10} {'rejected':>10} {'added':>8} {'kept':>10}  top reasons"]
        for s in folder.steps:
            c = s.get("counts", {})
            reasons = sorted((c.get("rejected_by_reason") or {}).items(), key=lambda kv: -kv[1])[:3]
            top = ", ".join(f"{r} {n:,}" for r, n in reasons)
            lines.append(f"{s.get('folder', s.get('stage')):<24} {c.get('docs_in', 0):>10,} {c.get('docs_rejected', 0):>10,} {c.get('docs_added', 0):>8,} {c.get('docs_kept', 0):>10,}  {top}")
    schema = S.schema_of(data or rejected)
    if schema is not None:
        lines += ["", "schema:"]
        lines += [f"  {f.name}: {f.type}" for f in schema]
    return lines


def rows(
    folder: Folder, *, reason: str | None = None, source: str | None = None, where: str | None = None, limit: int = 5, rejected: bool = False,
) -> tuple[str, pl.DataFrame]:
    """The first ``limit`` rows that match: kept rows, or rejected ones (``rejected`` or a ``reason``)."""
    use_rejected = rejected or reason is not None
    files = folder.rejected_files if use_rejected else folder.data_files
    what = "rejected" if use_rejected else "kept"
    lf = _scan(files)
    if lf is None:
        return what, pl.DataFrame()
    schema = lf.collect_schema()
    if reason is not None:
        lf = lf.filter(pl.col("reject_reason") == reason)
    if source is not None:
        if "source" not in schema:
            raise ConfigError("--source: these rows have no `source` column")
        lf = lf.filter(pl.col("source") == source)
    if where is not None:
        from curate.rules import parse_rule

        rule = parse_rule("where", where, schema.names(), where="--where")
        problems = rule.type_problems(dict(schema))
        if problems:
            raise ConfigError(f"--where: {problems[0][0]}")
        lf = lf.filter(rule.expr_for(dict(schema)).fill_null(False))
    return what, lf.head(limit).collect()


def reason_counts(folder: Folder) -> dict[str, int]:
    """Rejected rows per ``reject_reason`` over the folder's rejected files, most first (only
    that column is read)."""
    lf = _scan(folder.rejected_files)
    if lf is None or "reject_reason" not in lf.collect_schema():
        return {}
    counts = lf.group_by("reject_reason").len().collect()
    pairs = [(str(r), int(n)) for r, n in counts.iter_rows() if r is not None]
    return dict(sorted(pairs, key=lambda kv: (-kv[1], kv[0])))


def show_no_reason(reason: str, counts: dict[str, int]) -> str:
    """The line for a ``--reason`` that no rejected row has: the reasons that do exist."""
    if not counts:
        return f"no rejected row has reason {reason!r}: there are no rejected rows with a reason here"
    return f"no rejected row has reason {reason!r}; the reasons here: " + ", ".join(f"{r} {n:,}" for r, n in counts.items())


def show_rows(what: str, frame: pl.DataFrame, columns: list[str] | None = None) -> list[str]:
    if frame.height == 0:
        return [f"no {what} rows match"]
    lines = [f"{frame.height} {what} row(s):"]
    shown = columns or [c for c in ("id", "source", "reject_stage", "reject_reason", "reject_detail", "duplicate_of", "text") if c in frame.columns]
    for row in frame.select([c for c in shown if c in frame.columns]).iter_rows(named=True):
        lines.append("")
        for k, v in row.items():
            text = "null" if v is None else str(v)
            if k == "text":
                text = S.truncate(text.replace("\n", " ⏎ "), TEXT_CHARS)
            lines.append(f"  {k}: {text}")
    return lines


def find(folder: Folder, doc_id: str) -> dict[str, Any]:
    """Where document ``doc_id`` is: kept (and in which file) or rejected (step, reason,
    detail, and the survivor for a duplicate), and the steps it went through."""
    out: dict[str, Any] = {"id": doc_id, "status": "not found", "steps": []}
    for label, files in (("kept", folder.data_files), ("rejected", folder.rejected_files)):
        for f in S.parquet_files(files):
            names = pq.read_schema(f).names
            if "id" not in names:
                continue
            hit = pl.scan_parquet(f).filter(pl.col("id").cast(pl.String) == doc_id).head(1).collect()
            if hit.height:
                row = hit.row(0, named=True)
                out.update(status=label, file=str(f), row=row)
                if label == "rejected":
                    out["removed_by"] = S.rejected_step(f)
                break
        if out["status"] != "not found":
            break
    removed = out.get("removed_by")
    for s in folder.steps:
        name = s.get("folder", s.get("stage"))
        if removed is not None and name == removed:
            out["steps"].append(f"{name}: removed ({out['row'].get('reject_reason')})")
            break
        out["steps"].append(f"{name}: kept")
    row = out.get("row") or {}
    survivor = row.get("duplicate_of")
    if survivor:
        out["survivor"] = str(survivor)
    if row.get("origin_id"):
        out["origin"] = str(row["origin_id"])
    return out


def show_find(info: dict[str, Any]) -> list[str]:
    if info["status"] == "not found":
        return [f"{info['id']}: not found among the kept or rejected rows"]
    row = info["row"]
    lines = [f"{info['id']}: {info['status']} ({info['file']})"]
    if info["status"] == "rejected":
        lines.append(f"removed by {info['removed_by']}: {row.get('reject_reason')}" + (f" ({row['reject_detail']})" if row.get("reject_detail") else ""))
    if info.get("survivor"):
        lines.append(f"duplicate of {info['survivor']} (the document kept in its place)")
    if info.get("origin"):
        lines.append(f"synthetic: made from {info['origin']}")
    if info["steps"]:
        lines += ["lineage:"] + [f"  {s}" for s in info["steps"]]
    lines.append("columns:")
    for k, v in row.items():
        if k in ("id",):
            continue
        text = "null" if v is None else str(v)
        if k == "text":
            text = S.truncate(text.replace("\n", " ⏎ "), 600)
        lines.append(f"  {k}: {text}")
    return lines
