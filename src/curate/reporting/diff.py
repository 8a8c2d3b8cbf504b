"""``curate diff OLD NEW``: what a refresh changed between two releases.

Documents added, removed and kept are found by id (the ``id`` and ``source`` columns of both
releases, and ``id``/``reject_reason`` of the new release's rejected sets: column reads, never
the text). Removal reasons and token totals come from the manifests; score shifts are a
two-sample Kolmogorov-Smirnov statistic per numeric column on bounded samples of both
releases (``reporting.sample``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from curate.errors import ConfigError
from curate.reporting import sample as S
from curate.reporting.folders import Folder


def _ids(files: list, columns: list[str]) -> pl.DataFrame:
    parts = S.parquet_files(files)
    frames = []
    for f in parts:
        names = pl.read_parquet_schema(f)
        cols = [c for c in columns if c in names]
        if "id" not in cols:
            continue
        frame = pl.read_parquet(f, columns=cols)
        for c in columns:
            if c not in frame.columns:
                frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c))
        frames.append(frame.select(columns).cast({c: pl.String for c in columns}))
    if not frames:
        return pl.DataFrame(schema={c: pl.String for c in columns})
    return pl.concat(frames)


def _keyed(frame: pl.DataFrame) -> pl.DataFrame:
    from curate.hashing import hash_strings

    ids = frame.get_column("id").fill_null("")
    return frame.with_columns(pl.Series("key", hash_strings(ids), dtype=pl.UInt64))


def _membership(a: pl.DataFrame, b: pl.DataFrame) -> tuple[dict[str, dict[str, int]], dict[str, int], pl.DataFrame]:
    """Documents added, removed and kept between two releases' ``key``/``source`` frames (old
    ``a``, new ``b``): counts per source and in all, and the removed documents' keys. A document
    counts under its source in the new release (in the old one when the new one has none)."""
    kept_new = b.get_column("key").is_in(a.get_column("key").implode())  # per new row: in the old release too
    kept_old = a.get_column("key").is_in(b.get_column("key").implode())  # per old row: in the new release too
    new_src = b.get_column("source")
    if new_src.filter(kept_new).null_count():
        old_src = b.select("key").join(a.select("key", "source"), on="key", how="left", maintain_order="left").get_column("source")
        new_src = new_src.fill_null(old_src)
    new_side = pl.DataFrame({"source": new_src.fill_null(""), "kept": kept_new})
    per_new = new_side.group_by("source").agg(pl.len().alias("new"), pl.col("kept").sum().alias("kept"))
    removed = a.filter(~kept_old)
    per_gone = removed.select(pl.col("source").fill_null("")).group_by("source").agg(pl.len().alias("removed"))
    zero = pl.lit(0, dtype=pl.UInt32)
    per_source = (
        per_new.join(per_gone, on="source", how="full", coalesce=True)
        .with_columns(pl.col("new").fill_null(zero), pl.col("kept").cast(pl.UInt32).fill_null(zero), pl.col("removed").fill_null(zero))
        .with_columns((pl.col("kept") + pl.col("removed")).alias("old"), (pl.col("new") - pl.col("kept")).alias("added"))
        .sort("source")
    )
    by_source = {r["source"]: {k: int(r[k]) for k in ("old", "new", "added", "removed", "kept")} for r in per_source.iter_rows(named=True) if r["source"]}
    n_kept = int(kept_new.sum())
    totals = {"in_old": a.height, "in_new": b.height, "added": b.height - n_kept, "removed": removed.height, "kept": n_kept}
    removed_keys = removed.select("key")
    return by_source, totals, removed_keys


def diff(old: Folder, new: Folder, *, sample_rows: int = S.SAMPLE_ROWS) -> dict[str, Any]:
    """Every figure ``curate diff`` prints (and the report's "changes" section holds)."""
    for name, f in (("OLD", old), ("NEW", new)):
        if any(not p.name.endswith(".parquet") for p in f.data_files):
            raise ConfigError(f"{name}: {f.path} is a JSON Lines release; curate diff reads Parquet releases", hint="export with `format: parquet` to diff releases")
    # membership on a 64-bit hash of the id (XXH64, stable; a release's ids are unique, and a
    # collision among a few million ids has a probability below 1e-6): two hash-set probes, no join
    a, b = _keyed(_ids(old.data_files, ["id", "source"])), _keyed(_ids(new.data_files, ["id", "source"]))
    by_source, totals, removed_keys = _membership(a, b)
    # why they are gone: read the new rejected sets' ids only when something was removed
    gone = _keyed(_ids(new.rejected_files, ["id", "reject_reason"])).join(removed_keys, on="key", how="semi") if removed_keys.height else None
    removed_why = removed_keys.join(gone.unique("key", keep="first"), on="key", how="left") if gone is not None and gone.height else removed_keys.with_columns(pl.lit(None, dtype=pl.String).alias("reject_reason"))
    removed_why = removed_why.with_columns(pl.col("reject_reason").fill_null("not in the new input"))
    reasons = removed_why.group_by("reject_reason").len().sort(["len", "reject_reason"], descending=[True, False])
    old_r, new_r = _reasons(old), _reasons(new)
    old_t, new_t = (old.manifest.get("tokens") or {}), (new.manifest.get("tokens") or {})
    tokens = None
    if old_t or new_t:
        srcs = sorted({*(old_t.get("sources") or {}), *(new_t.get("sources") or {})})
        tokens = {
            "old": old_t.get("total"),
            "new": new_t.get("total"),
            "delta": (new_t.get("total") or 0) - (old_t.get("total") or 0),
            "by_source": {s: {"old": (old_t.get("sources") or {}).get(s, 0), "new": (new_t.get("sources") or {}).get(s, 0)} for s in srcs},
        }
    return {
        "old": old.shown,
        "new": new.shown,
        "documents": {"old": int(totals["in_old"]), "new": int(totals["in_new"]), "added": int(totals["added"]), "removed": int(totals["removed"]), "kept": int(totals["kept"])},
        "by_source": by_source,
        "removed_by_reason": {str(r): int(n) for r, n in reasons.iter_rows()},
        "rejected_by_reason": {k: {"old": old_r.get(k, 0), "new": new_r.get(k, 0), "delta": new_r.get(k, 0) - old_r.get(k, 0)} for k in sorted({*old_r, *new_r})},
        "tokens": tokens,
        "signals": signal_shifts(old, new, sample_rows),
        "contamination": _contamination(new),
    }


def _reasons(folder: Folder) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in folder.steps:
        for r, n in (s.get("counts", {}).get("rejected_by_reason") or {}).items():
            key = f"{s.get('stage')}:{r}"
            out[key] = out.get(key, 0) + int(n)
    return out


def _contamination(folder: Folder) -> dict[str, int]:
    from curate.protection import step_tables

    out: dict[str, int] = {}
    for s in folder.steps:
        if s.get("stage") != "decontaminate":
            continue
        tables = step_tables("decontaminate", s.get("config", {}), s.get("counts", {}).get("counters", {})) or {}
        for name, row in tables.get("contamination", {}).items():
            out[name] = out.get(name, 0) + int(row["items_hit"])
    return out


def signal_shifts(old: Folder, new: Folder, limit: int = S.SAMPLE_ROWS) -> list[dict[str, Any]]:
    """Per numeric column in both releases: the KS statistic between the two samples, and means."""
    sa, sb = S.schema_of(old.data_files), S.schema_of(new.data_files)
    if sa is None or sb is None:
        return []
    common = [c for c in S.numeric_columns(sb) if c in set(S.numeric_columns(sa))]
    if not common:
        return []
    fa, fb = S.head_rows(old.data_files, common, limit), S.head_rows(new.data_files, common, limit)
    out = []
    for c in common:
        x, y = S.as_floats(fa, c), S.as_floats(fb, c)
        ks = S.ks_statistic(x, y)
        out.append({
            "column": c,
            "ks": ks,
            "old_mean": round(float(np.mean(x)), 6) if x.size else None,
            "new_mean": round(float(np.mean(y)), 6) if y.size else None,
            "old_rows": int(x.size),
            "new_rows": int(y.size),
        })
    out.sort(key=lambda r: (-(r["ks"] or 0.0), r["column"]))
    return out


def diff_text(d: dict[str, Any]) -> str:
    """The terminal view of :func:`diff`."""
    docs = d["documents"]
    lines = [
        f"old: {d['old']}",
        f"new: {d['new']}",
        f"documents: {docs['old']:,} -> {docs['new']:,} ({docs['new'] - docs['old']:+,}): {docs['added']:,} added, {docs['removed']:,} removed, {docs['kept']:,} kept",
    ]
    if d["by_source"]:
        lines += ["", f"{'source':<24} {'old':>10} {'new':>10} {'added':>10} {'removed':>10} {'kept':>10}"]
        lines += [f"{s:<24} {v['old']:>10,} {v['new']:>10,} {v['added']:>10,} {v['removed']:>10,} {v['kept']:>10,}" for s, v in d["by_source"].items()]
    if d["removed_by_reason"]:
        lines += ["", "why the removed documents are gone:"]
        lines += [f"  {r}: {n:,}" for r, n in d["removed_by_reason"].items()]
    changed = {k: v for k, v in d["rejected_by_reason"].items() if v["delta"]}
    if changed:
        lines += ["", "rejections per stage:reason (old -> new):"]
        lines += [f"  {k}: {v['old']:,} -> {v['new']:,} ({v['delta']:+,})" for k, v in changed.items()]
    if d["tokens"]:
        t = d["tokens"]
        lines += ["", f"tokens: {t['old'] or 0:,} -> {t['new'] or 0:,} ({t['delta']:+,})"]
    shifts = [s for s in d["signals"] if s["ks"] is not None]
    if shifts:
        lines += ["", "score shifts (two-sample KS statistic on samples, largest first):"]
        lines += [f"  {s['column']:<32} KS {s['ks']:.4f}   mean {s['old_mean']:.4g} -> {s['new_mean']:.4g}" for s in shifts[:15]]
    if d["contamination"]:
        lines += ["", "contamination in the new run (eval items found): " + ", ".join(f"{k} {v}" for k, v in d["contamination"].items())]
    return "\n".join(lines)

