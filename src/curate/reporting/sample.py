"""Bounded samples of a release's rows: the report's histograms, language mix and examples.

Nothing here reads a whole file: a sample is the first rows of every file (``per_file`` =
``limit / files``), read column by column through Parquet's batch reader, so its cost does not
grow with the corpus (the report adds reads of at most ``limit`` rows of a few numeric columns,
and of the first batch of each rejected file for examples). Files that are not Parquet
(a JSON Lines release) are not sampled; the report says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

SAMPLE_ROWS = 20_000
"""Rows sampled from the kept data (and, separately, from the rejected sets) for histograms."""
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 300
_STEP = re.compile(r"^\d{2}_[a-z0-9_]+$")


def numeric_columns(schema: pa.Schema) -> list[str]:
    """Columns a histogram can show: ints, floats and booleans, never ids or offsets."""
    out = []
    for f in schema:
        t = f.type
        if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)) and f.name not in _NOT_SIGNALS:
            out.append(f.name)
    return out


_NOT_SIGNALS = {"page", "dup_cluster", "select_rank", "n", "line", "offset"}


def parquet_files(files: Iterable[Path]) -> list[Path]:
    return [f for f in files if f.name.endswith(".parquet") and f.is_file()]


def schema_of(files: list[Path]) -> pa.Schema | None:
    parts = parquet_files(files)
    if not parts:
        return None
    return pa.unify_schemas([pq.read_schema(f) for f in parts[:64]], promote_options="permissive")


def head_rows(files: Iterable[Path], columns: list[str] | None, limit: int = SAMPLE_ROWS) -> pl.DataFrame:
    """Up to ``limit`` rows: the first ``limit / files`` rows of every Parquet file, ``columns``
    only (those a file lacks read as null)."""
    parts = parquet_files(files)
    if not parts or limit <= 0:
        return pl.DataFrame()
    per_file = max(1, math.ceil(limit / len(parts)))
    frames = []
    taken = 0
    for f in parts:
        if taken >= limit:
            break
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        cols = [c for c in columns if c in names] if columns is not None else None
        if cols is not None and not cols:
            continue
        want = min(per_file, limit - taken)
        batch = next(pf.iter_batches(batch_size=want, columns=cols), None)
        if batch is None or batch.num_rows == 0:
            continue
        frame = pl.from_arrow(pa.Table.from_batches([batch]))
        assert isinstance(frame, pl.DataFrame)
        frames.append(frame)
        taken += frame.height
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def rejected_step(path: Path) -> str:
    """The step folder a rejected file belongs to (``NN_kind``), from its place or its name."""
    if path.parent.name == "rejected" and _STEP.match(path.parent.parent.name):
        return path.parent.parent.name
    return path.stem.split("-part-")[0]


def reason_examples(files: list[Path], wanted: set[tuple[str, str]], root: Path, per_reason: int = EXAMPLES_PER_REASON) -> dict[tuple[str, str], list[dict[str, str | None]]]:
    """A few rejected documents per (step folder, reason): id, the text's start, detail, file.

    Reads the first batch of each rejected file (at most 1,024 rows) until every wanted reason
    has its examples."""
    out: dict[tuple[str, str], list[dict[str, str | None]]] = {}
    for f in parquet_files(files):
        step = rejected_step(f)
        if not any(s == step and len(out.get((s, r), [])) < per_reason for s, r in wanted):
            continue
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        cols = [c for c in ("id", "text", "reject_reason", "reject_detail", "source") if c in names]
        if "reject_reason" not in cols:
            continue
        batch = next(pf.iter_batches(batch_size=1024, columns=cols), None)
        if batch is None:
            continue
        frame = pl.from_arrow(pa.Table.from_batches([batch]))
        assert isinstance(frame, pl.DataFrame)
        try:
            rel = str(f.relative_to(root))
        except ValueError:
            rel = str(f)
        for row in frame.iter_rows(named=True):
            key = (step, str(row["reject_reason"]))
            got = out.setdefault(key, [])
            if len(got) >= per_reason:
                continue
            text = row.get("text")
            got.append({
                "id": None if row.get("id") is None else str(row["id"]),
                "text": None if text is None else truncate(str(text)),
                "detail": row.get("reject_detail"),
                "source": row.get("source"),
                "file": rel,
            })
    return out


def truncate(text: str, limit: int = EXAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def histogram(kept: np.ndarray, rejected: np.ndarray, thresholds: list[float], bins: int = 24) -> dict[str, list[float]] | None:
    """Shared bin edges over both samples (and the thresholds, so each one shows), and counts."""
    both = np.concatenate([kept, rejected]) if rejected.size else kept
    both = both[np.isfinite(both)]
    if both.size == 0:
        return None
    lo, hi = float(both.min()), float(both.max())
    finite = [t for t in thresholds if math.isfinite(t)]
    if finite:
        lo, hi = min(lo, *finite), max(hi, *finite)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)

    def counts(x: np.ndarray) -> list[int]:
        x = x[np.isfinite(x)]
        return np.histogram(x, bins=edges)[0].astype(int).tolist() if x.size else [0] * bins

    return {"edges": [round(float(e), 6) for e in edges], "kept": counts(kept), "rejected": counts(rejected)}


def as_floats(frame: pl.DataFrame, column: str) -> np.ndarray:
    if frame.height == 0 or column not in frame.columns:
        return np.empty(0)
    return frame.get_column(column).cast(pl.Float64, strict=False).drop_nulls().to_numpy()


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    a, b = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    if a.size == 0 or b.size == 0:
        return None
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return round(float(np.max(np.abs(cdf_a - cdf_b))), 6)
