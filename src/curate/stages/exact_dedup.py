"""Exact deduplication: one document kept per group of identical (normalised) texts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import polars as pl
from pydantic import Field

from curate.dedup.minhash import char_tables
from curate.dedup.survivor import KeepRule, check_keep, keep_columns, survivor_rank
from curate.hashing import hash_collapsed, hash_strings
from curate.stages.base import REJECT, GlobalStage, StageConfig, StageContext


class ExactDedupConfig(StageConfig):
    kind: Literal["exact_dedup"] = "exact_dedup"
    lowercase: bool = Field(False, description="Compare texts case-insensitively.")
    collapse_whitespace: bool = Field(
        True, description="Treat runs of whitespace as one space and ignore leading/trailing space."
    )
    strip_punctuation: bool = Field(False, description="Ignore punctuation and symbols.")
    normalize_digits: bool = Field(False, description="Treat every digit as 0.")
    keep: KeepRule = "first"


def _before_whitespace(cfg: ExactDedupConfig) -> pl.Expr:
    """The configured normalisations but the whitespace collapse, which ``keys`` does inside the
    hashing kernel (whitespace as Python's ``re`` defines ``\\s``), so no second copy of the
    text is built."""
    expr = pl.col("text")
    if cfg.lowercase:
        expr = expr.str.to_lowercase()
    if cfg.strip_punctuation:
        expr = expr.str.replace_all(r"[\p{P}\p{S}]+", "")
    if cfg.normalize_digits:
        expr = expr.str.replace_all(r"\d", "0")
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
    replay_cheap: ClassVar[bool] = True
    keys_cheap: ClassVar[bool] = True

    def __init__(self, cfg: ExactDedupConfig) -> None:
        super().__init__(cfg)
        self.cfg: ExactDedupConfig = cfg

    def required_columns(self) -> set[str]:
        return {"id", "text"} | keep_columns(self.cfg.keep)

    def check_schema(self, schema: Mapping[str, pl.DataType | None], where: str = "exact_dedup") -> None:
        """Plan-time check: the ``keep: highest:COL`` column exists and is numeric."""
        check_keep(self.cfg.keep, schema, f"{where}.keep")

    def added_schema(self) -> dict[str, pl.DataType | None]:
        # kept rows get no new column; `duplicate_of` goes to rejected/ only
        return {}

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {"duplicate_of": pl.String()}

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        cfg = self.cfg
        plain = not (cfg.lowercase or cfg.strip_punctuation or cfg.normalize_digits)
        text = batch["text"] if plain else batch.select(_before_whitespace(cfg).alias("t")).to_series()
        if cfg.collapse_whitespace:
            h1, h2 = hash_collapsed(text, char_tables()[0], (0x5EED0001, 0x5EED0002))
        else:
            h1, h2 = hash_strings(text, 0x5EED0001), hash_strings(text, 0x5EED0002)
        cols: dict[str, object] = {"id": batch["id"], "_h1": pl.Series(h1), "_h2": pl.Series(h2)}
        cols["_rank"] = survivor_rank(batch, self.cfg.keep)
        return pl.DataFrame(cols)

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        """In each group of equal hashes the copy of smallest (rank, id) survives. Only the rows
        whose hashes repeat are sorted (found by hashing, not sorting, every row): on 1M documents
        with 2 % copies the resolve took 0.12 s instead of 0.55 (the same decisions)."""
        rows = keys.select("id", "_h1", "_h2", "_rank").collect()
        repeated = rows.filter(pl.struct("_h1", "_h2").is_duplicated())
        decided = (
            repeated.lazy()
            .sort(["_h1", "_h2", "_rank", "id"])
            .with_columns(pl.col("id").first().over(["_h1", "_h2"]).alias("duplicate_of"))
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
