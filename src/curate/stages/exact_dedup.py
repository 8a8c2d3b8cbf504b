"""Exact deduplication: one document kept per group of identical (normalised) texts."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.hashing import hash_strings
from curate.stages.base import REJECT, GlobalStage, StageConfig, StageContext


class ExactDedupConfig(StageConfig):
    kind: Literal["exact_dedup"] = "exact_dedup"
    lowercase: bool = Field(False, description="Compare texts case-insensitively.")
    collapse_whitespace: bool = Field(
        True, description="Treat runs of whitespace as one space and ignore leading/trailing space."
    )
    strip_punctuation: bool = Field(False, description="Ignore punctuation and symbols.")
    normalize_digits: bool = Field(False, description="Treat every digit as 0.")
    keep: str = Field(
        "first",
        description="Which copy survives: 'first' (smallest id), 'longest', or 'highest:COLUMN'.",
    )

    @field_validator("keep")
    @classmethod
    def _check_keep(cls, v: str) -> str:
        if v in ("first", "longest") or (v.startswith("highest:") and len(v) > len("highest:")):
            return v
        raise ValueError("must be 'first', 'longest' or 'highest:COLUMN'")


def normalised_text(cfg: ExactDedupConfig) -> pl.Expr:
    """The text as compared: the configured normalisations, all vectorised."""
    expr = pl.col("text")
    if cfg.lowercase:
        expr = expr.str.to_lowercase()
    if cfg.strip_punctuation:
        expr = expr.str.replace_all(r"[\p{P}\p{S}]+", "")
    if cfg.normalize_digits:
        expr = expr.str.replace_all(r"\d", "0")
    if cfg.collapse_whitespace:
        expr = expr.str.replace_all(r"\s+", " ").str.strip_chars()
    return expr


class ExactDedup(GlobalStage):
    """Removes exact copies of a document's normalised text, keeping one per group.

    Reads ``text`` (and the score column for ``keep: highest:COL``). Rejected rows get
    ``reject_reason=exact_duplicate`` and ``duplicate_of`` (the survivor's id). Global state is
    two 64-bit hashes and a length per document (128-bit identity: collisions are negligible).
    """

    kind: ClassVar[str] = "exact_dedup"
    Config: ClassVar[type[StageConfig]] = ExactDedupConfig
    reject_columns: ClassVar[frozenset[str]] = frozenset({"duplicate_of"})

    def __init__(self, cfg: ExactDedupConfig) -> None:
        super().__init__(cfg)
        self.cfg: ExactDedupConfig = cfg

    def required_columns(self) -> set[str]:
        cols = {"id", "text"}
        if self.cfg.keep.startswith("highest:"):
            cols.add(self.cfg.keep.split(":", 1)[1])
        return cols

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {"duplicate_of": pl.String()}

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        norm = batch.select(normalised_text(self.cfg).alias("t")).to_series()
        cols: dict[str, object] = {
            "id": batch["id"],
            "_h1": pl.Series(hash_strings(norm, 0x5EED0001)),
            "_h2": pl.Series(hash_strings(norm, 0x5EED0002)),
        }
        if self.cfg.keep == "longest":
            cols["_rank"] = -batch["text"].str.len_chars().cast(pl.Float64)
        elif self.cfg.keep.startswith("highest:"):
            column = self.cfg.keep.split(":", 1)[1]
            cols["_rank"] = -batch[column].cast(pl.Float64).fill_null(-np.inf)
        else:
            cols["_rank"] = pl.Series(np.zeros(batch.height))
        return pl.DataFrame(cols)

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        ranked = keys.select("id", "_h1", "_h2", "_rank").sort(["_h1", "_h2", "_rank", "id"])
        decided = (
            ranked.with_columns(
                pl.col("id").first().over(["_h1", "_h2"]).alias("duplicate_of"),
                pl.len().over(["_h1", "_h2"]).alias("_group"),
            )
            .filter(pl.col("id") != pl.col("duplicate_of"))
            .select(
                "id",
                pl.lit("exact_duplicate").alias(REJECT),
                "duplicate_of",
            )
            .collect()
        )
        ctx.count("groups_with_duplicates", decided["duplicate_of"].n_unique())
        return decided.sort("id")
