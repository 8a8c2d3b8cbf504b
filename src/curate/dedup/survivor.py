"""Which copy of a duplicate group survives: one rule shared by every dedup stage."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import polars as pl
from pydantic import AfterValidator, Field


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


def survivor_rank(batch: pl.DataFrame, keep: str) -> pl.Series:
    """Smaller ranks survive; ties go to the smaller id (so 'first' is rank 0 for everyone)."""
    if keep == "longest":
        return -batch["text"].str.len_chars().fill_null(0).cast(pl.Float64)
    if keep.startswith("highest:"):
        return -batch[keep.split(":", 1)[1]].cast(pl.Float64).fill_null(-np.inf)
    return pl.Series(np.zeros(batch.height))
