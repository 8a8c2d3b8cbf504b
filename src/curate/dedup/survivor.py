"""Which copy of a duplicate group survives: one rule shared by every dedup stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import numpy as np
import polars as pl
from pydantic import AfterValidator, Field

from curate.errors import ConfigError


def _check_keep(value: str) -> str:
    if value in ("first", "longest") or (value.startswith("highest:") and len(value) > len("highest:")):
        return value
    raise ValueError("must be 'first', 'longest' or 'highest:COLUMN'")


KeepRule = Annotated[
    str,
    AfterValidator(_check_keep),
    Field(description="Which copy survives: 'first' (smallest id), 'longest', or 'highest:COLUMN'."),
]


def keep_columns(keep: str) -> set[str]:
    """Columns the rule reads besides id and text."""
    return {keep.split(":", 1)[1]} if keep.startswith("highest:") else set()


def check_keep(keep: str, schema: Mapping[str, pl.DataType | None], where: str) -> None:
    """Plan-time check of ``highest:COLUMN`` against the columns earlier steps produce.

    ``where`` is the key's path (``stages[0].exact_dedup.keep``). Raises ConfigError when the
    column is missing or, its type being known, is not a number (the rank casts it to Float64).
    """
    for column in sorted(keep_columns(keep)):
        if column not in schema:
            raise ConfigError(
                f"{where}: {keep}: no such column; known columns: {', '.join(sorted(schema))}",
                hint="'highest:COLUMN' ranks the copies by a numeric column that an earlier step "
                "produces (a quality_score signal, fasttext_<name>, a numeric input field)",
            )
        dtype = schema[column]
        if dtype is not None and not (dtype.is_numeric() or dtype in (pl.Boolean, pl.Null)):
            raise ConfigError(
                f"{where}: {keep}: column {column} is {dtype}, not a number",
                hint="'highest:COLUMN' ranks the copies by a numeric column",
            )


def survivor_rank(batch: pl.DataFrame, keep: str) -> pl.Series:
    """Smaller ranks survive; ties go to the smaller id (so 'first' is rank 0 for everyone)."""
    if keep == "longest":
        return -batch["text"].str.len_chars().fill_null(0).cast(pl.Float64)
    if keep.startswith("highest:"):
        return -batch[keep.split(":", 1)[1]].cast(pl.Float64).fill_null(-np.inf)
    return pl.Series(np.zeros(batch.height))
