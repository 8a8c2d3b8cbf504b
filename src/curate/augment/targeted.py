"""LLM2LLM helpers: read a student's predictions, check them, parse what a teacher or judge writes.

Checks run over the whole predictions frame as Polars expressions (exact, numeric with
tolerance, regex extraction); the LLM judge goes through the chat client. A teacher's or a
judge's answer is a JSON object, parsed strictly: a fenced ```json block or a bare object,
nothing else; an answer that does not parse is dropped and counted, never guessed at.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import InputError

PREDICTION_COLUMNS = ("id", "prompt", "reference", "prediction")
_NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL)


def read_table(path: str, what: str) -> pl.DataFrame:
    """A JSON Lines, JSON array, Parquet or CSV file as a frame (by extension)."""
    p = Path(path)
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pl.read_parquet(p)
        if name.endswith(".csv"):
            return pl.read_csv(p, infer_schema=False)
        if name.endswith(".json"):
            return pl.read_json(p)
        return pl.read_ndjson(p, infer_schema_length=None)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise InputError(f"{what}: cannot read {path}: {type(err).__name__}: {err}") from None


def read_predictions(path: str) -> pl.DataFrame:
    """The student's predictions: ``id``, ``prompt``, ``reference``, ``prediction`` as strings."""
    df = read_table(path, "predictions")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"predictions: {path} lacks column(s) {', '.join(missing)}",
            hint="a predictions file has one row per seed: id, prompt, reference, prediction",
        )
    out = df.select([pl.col(c).cast(pl.String) for c in PREDICTION_COLUMNS])
    dups = out.filter(pl.col("id").is_duplicated())["id"].unique().sort().head(3).to_list()
    if dups:
        raise InputError(f"predictions: {path} repeats ids ({', '.join(dups)})")
    return out


def _last_number(col: pl.Expr) -> pl.Expr:
    return (
        col.str.extract_all(_NUMBER)
        .list.last()
        .str.replace_all(",", "")
        .cast(pl.Float64, strict=False)
    )


def correct_expr(
    check: str,
    *,
    tolerance: float = 1e-6,
    rel_tolerance: float = 0.0,
    pattern: str | None = None,
    case_sensitive: bool = False,
) -> pl.Expr:
    """Whether ``prediction`` answers ``reference`` (null prediction: wrong), as one expression.

    exact: equal after trimming (and case folding unless ``case_sensitive``). numeric: the
    last number of each (after ``pattern``'s first group, when given) within ``tolerance`` +
    ``rel_tolerance`` x |reference|. regex: ``pattern``'s first group of the prediction equals
    that of the reference (the whole reference when it does not match).
    """
    pred, ref = pl.col("prediction"), pl.col("reference")
    if pattern is not None:
        pred = pred.str.extract(pattern, 1)
        ref = pl.coalesce(ref.str.extract(pattern, 1), ref)
    if check == "exact" or check == "regex":
        if check == "regex" and pattern is None:
            raise ValueError("check: regex needs a pattern")
        a, b = pred.str.strip_chars(), ref.str.strip_chars()
        if not case_sensitive:
            a, b = a.str.to_lowercase(), b.str.to_lowercase()
        return (a == b).fill_null(False)
    if check == "numeric":
        a, b = _last_number(pred), _last_number(ref)
        return ((a - b).abs() <= tolerance + rel_tolerance * b.abs()).fill_null(False)
    raise ValueError(f"unknown check {check!r}")


def dedup_key(text: str) -> str:
    """Text compared for duplicates: case-folded words, punctuation and spacing ignored."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def parse_json_object(text: str | None) -> dict[str, Any] | None:
    """The JSON object an answer holds (bare or in one ```json fence); None otherwise."""
    if text is None:
        return None
    t = text.strip()
    m = _FENCE.match(t)
    if m:
        t = m.group(1).strip()
    try:
        value = json.loads(t)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_example(text: str | None) -> tuple[str, str] | None:
    """A teacher's new example: ``{"prompt": ..., "response": ...}`` with two non-empty strings."""
    obj = parse_json_object(text)
    if obj is None:
        return None
    p, r = obj.get("prompt"), obj.get("response")
    if isinstance(p, str) and isinstance(r, str) and p.strip() and r.strip():
        return p.strip(), r.strip()
    return None


def parse_verdict(text: str | None) -> bool | None:
    """A judge's ``{"correct": true|false}``; None when it is not that."""
    obj = parse_json_object(text)
    if obj is None:
        return None
    v = obj.get("correct")
    return v if isinstance(v, bool) else None
