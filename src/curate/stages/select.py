"""Selection: keep a subset by a score, to a budget, in a source mixture; upsample small sources.

One rank per document, from the method:

* ``threshold``: documents scoring at least ``threshold`` are eligible, ranked by score;
* ``top_k`` / ``top_fraction``: ranked by score, highest first;
* ``gumbel``: Gumbel-top-k, a weighted sample without replacement: key = log(weight) /
  ``temperature`` + Gumbel noise, the noise drawn from the document id and the seed
  (``StageContext.uniform``), so the sample depends on nothing but ids, scores and the seed.

Without ``score`` every method ranks in a seeded random order (a uniform sample). Ties go to a
seeded hash of the id, then the id, never to row order. The amount (``k`` documents, a
``fraction`` of the input, or a ``budget`` in documents or tokens) is split over ``mixture``
sources by largest remainder; each source (or the whole pool) is then filled in rank order by
the rules in :mod:`curate.select.quota` (never above the target; exact in documents, within
``tolerance`` in tokens; full epochs first when a source is upsampled, at most ``max_epochs``).

Upsampled documents stay one row each, with ``select_repeats`` = n (see :class:`Select`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import BeforeValidator, Field, field_validator, model_validator

from curate.errors import ConfigError
from curate.select.quota import allocate, apportion, parse_budget
from curate.stages.base import REJECT, REJECT_DETAIL, GlobalStage, StageConfig, StageContext

NOT_SELECTED = "not_selected"
REPEATS = "select_repeats"
NO_SOURCE = "(none)"
"""The source name of documents whose ``source`` is null (as in the dataset card)."""

_NAME = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)\s*$")


def _budget(value: Any) -> Any:
    if value is None:
        return None
    try:
        return parse_budget(value)
    except ValueError as err:
        raise ValueError(str(err)) from None


Budget = Annotated[int | None, BeforeValidator(_budget)]


class SelectConfig(StageConfig):
    kind: Literal["select"] = "select"
    score: str | None = Field(
        None,
        max_length=10_000,
        description="Column to rank by, or an expression over columns in the filter-rule grammar "
        "(e.g. `0.7 * fasttext_hq + 0.3 * (lang == 'en')`); null: a seeded uniform random order. "
        "Documents whose score is null or NaN are never selected.",
    )
    method: Literal["threshold", "top_k", "top_fraction", "gumbel"] = Field(
        "top_k",
        description="threshold: documents with score >= `threshold` (ranked by score when a `budget` "
        "or `k` caps them); top_k: the highest scores up to `k` documents or the `budget`; "
        "top_fraction: the highest scores up to `fraction` of the input; gumbel: a weighted "
        "sample without replacement (Gumbel-top-k, seeded per document id) of `k`, `fraction` or `budget`.",
    )
    threshold: float | None = Field(None, description="threshold method: the lowest score kept.")
    k: int | None = Field(None, ge=0, le=10**15, description="Documents to keep (in total, split over `mixture`).")
    fraction: float | None = Field(
        None, gt=0.0, le=1.0,
        description="Share of the input to keep, in `unit`s (documents, or tokens of the documents "
        "with a token count), rounded to the nearest whole unit.",
    )
    budget: Budget = Field(
        None,
        description="Amount to keep in `unit`s: an integer or a decimal suffix, e.g. 10000, 500M, 2B "
        "(K = 1e3, M = 1e6, B = 1e9, T = 1e12).",
    )
    unit: Literal["documents", "tokens"] = Field(
        "documents", description="What `budget`, `fraction`, mixture targets and the report count."
    )
    tokens_column: str = Field(
        "token_count", min_length=1, max_length=256,
        description="Integer column with each document's token count (the `tokens` stage adds "
        "token_count); required with unit: tokens, reported when present otherwise.",
    )
    mixture: dict[str, float] | None = Field(
        None,
        description="Share of the target per source, e.g. {web: 0.6, books: 0.3, code: 0.1}; weights "
        "sum to 1. Sources left out are not selected; a source absent from the input is an error.",
    )
    max_epochs: int = Field(
        1, ge=1, le=1000,
        description="Upsampling cap: a source whose target exceeds its pool repeats its documents, "
        "each at most this many times (1: no upsampling). Repeats are recorded in `select_repeats`.",
    )
    shortfall: Literal["error", "allow"] = Field(
        "error",
        description="A target above max_epochs times its pool: error (stop, naming the source) or "
        "allow (keep everything max_epochs times and report the shortfall).",
    )
    tolerance: float = Field(
        0.005, ge=0.0, le=0.1,
        description="unit tokens: the quota walk stops once it is this close below the target "
        "(0.005: within 0.5 %); never above it. Document quotas are always exact.",
    )
    weight: Literal["score", "exp"] = Field(
        "score",
        description="gumbel method: sampling weight from the score: score (probability proportional "
        "to the score; scores <= 0 are never drawn) or exp (proportional to exp(score), a softmax).",
    )
    temperature: float = Field(
        1.0, gt=0.0, le=1e6,
        description="gumbel method: key = log(weight) / temperature + noise; large: closer to uniform, "
        "small: closer to top_k.",
    )

    @field_validator("score")
    @classmethod
    def _score_syntax(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from curate.rules import rule_syntax_error

        problem = rule_syntax_error(v)
        if problem:
            raise ValueError(f"not a valid score expression: {problem}")
        return v

    @field_validator("mixture")
    @classmethod
    def _mixture_sums_to_one(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one source, or leave mixture out")
        bad = [f"{name}={w!r}" for name, w in v.items() if not (math.isfinite(w) and w > 0)]
        if bad:
            raise ValueError(f"weights must be positive numbers (got {', '.join(bad)}); leave a source out to select none of it")
        total = math.fsum(v.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights sum to {total:.6g}; they must sum to 1 (within 1e-6)")
        return dict(sorted(v.items()))

    @model_validator(mode="after")
    def _consistent(self) -> SelectConfig:
        sizes = [name for name in ("k", "fraction", "budget") if getattr(self, name) is not None]
        if len(sizes) > 1:
            raise ValueError(f"give one of k, fraction and budget (got {', '.join(sizes)})")
        size = sizes[0] if sizes else None
        need = {"top_k": ("k", "budget"), "top_fraction": ("fraction",), "gumbel": ("k", "fraction", "budget")}
        if self.method == "threshold":
            if self.threshold is None:
                raise ValueError("method threshold needs `threshold` (the lowest score kept)")
        elif self.threshold is not None:
            raise ValueError(f"`threshold` applies to method threshold only (method is {self.method})")
        if self.method in need and size not in need[self.method]:
            raise ValueError(f"method {self.method} needs {' or '.join(f'`{n}`' for n in need[self.method])}")
        if self.method == "threshold" and self.score is None:
            raise ValueError("method threshold needs `score` (the column or expression compared with `threshold`)")
        if size == "k" and self.unit == "tokens":
            raise ValueError("`k` counts documents; with unit: tokens give `budget` (e.g. budget: 2B)")
        if self.mixture is not None and size is None:
            raise ValueError("`mixture` splits a total: give k, fraction or budget")
        # keys that do nothing here are refused when set to other than their default (a dumped
        # config, defaults included, must validate again)
        for name in ("weight", "temperature"):
            if getattr(self, name) != type(self).model_fields[name].default and self.method != "gumbel":
                raise ValueError(f"`{name}` applies to method gumbel only (method is {self.method})")
        if self.tolerance != type(self).model_fields["tolerance"].default and self.unit != "tokens":
            raise ValueError("`tolerance` applies to unit: tokens only (document quotas are exact)")
        return self

    def size_key(self) -> str | None:
        """Which of k, fraction and budget sets the amount (None: threshold alone)."""
        return next((n for n in ("k", "fraction", "budget") if getattr(self, n) is not None), None)


class Select(GlobalStage):
    """Keeps a subset of documents: ranked by a score (or at random), to a budget, per source.

    Reads ``id``, ``source``, the score's columns and, with ``unit: tokens``, ``tokens_column``
    (reported when present otherwise). Kept rows get ``select_repeats`` (Int32): how many times
    the document counts in the selection; 1 unless its source was upsampled. Unselected rows go
    to ``rejected/`` as ``not_selected`` with ``select_repeats`` 0 and a detail naming the score,
    the rank (or why it was not eligible) and whether it was outranked or did not fit. Global
    state: per document its id, source, score (float64) and token count (int64).

    Quotas: the amount is split over the mixture's sources by largest remainder (the parts sum
    to it exactly); each source is filled in rank order and never above its target: exactly in
    documents, and in tokens to within ``tolerance`` below (a document that does not fit is
    skipped and the next ones are tried until the room left is within tolerance). An upsampled
    source takes every document floor(target / pool) times, then the best-ranked once more;
    never more than ``max_epochs`` times. The manifest's ``selection`` table and the dataset
    card give target and achieved per source.

    Why repeats are a column and not extra rows: an export splits rows by a hash of their id, so
    copies with new ids would land in validation and test beside their originals (the leak
    decontamination exists to prevent); a later dedup step would remove them again, silently
    undoing the mixture; and one row per document keeps ``in = kept + not_selected`` exact. A
    loader repeats each row ``select_repeats`` times (the dataset card shows how) or uses it as
    a sampling weight. A later ``select`` replaces the column.
    """

    kind: ClassVar[str] = "select"
    Config: ClassVar[type[StageConfig]] = SelectConfig
    requires: ClassVar[frozenset[str]] = frozenset({"id", "source"})

    def __init__(self, cfg: SelectConfig) -> None:
        super().__init__(cfg)
        self.cfg: SelectConfig = cfg
        self._rule: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_rule": None}  # the compiled score is rebuilt where it runs

    # ---------------------------------------------------------------- plan

    def required_columns(self) -> set[str]:
        from curate.rules import rule_columns

        cols = {"id", "source"}
        if self.cfg.score is not None:
            cols |= rule_columns(self.cfg.score)
        if self.cfg.unit == "tokens":
            cols.add(self.cfg.tokens_column)
        return cols

    def added_columns(self) -> set[str]:
        return {REPEATS}

    def added_schema(self) -> dict[str, pl.DataType | None]:
        return {REPEATS: pl.Int32()}

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {REJECT_DETAIL: pl.String(), REPEATS: pl.Int32()}

    def check_schema(self, schema: Mapping[str, pl.DataType | None], where: str = "select") -> None:
        """Plan-time checks: the score's columns exist (and a bare column is a number), and with
        ``unit: tokens`` the token column exists and holds integers."""
        from curate.rules import _TypeChecker, excerpt, parse_rule

        cfg = self.cfg
        known = ", ".join(sorted(schema))
        if cfg.score is not None:
            rule = parse_rule("score", cfg.score, schema, where=f"{where}.score")
            # the score is a value, not a condition: the rules' type checker on its sub-expressions
            checker = _TypeChecker(schema)
            kind = checker.kind(rule.tree) if rule.tree is not None else None
            if checker.problems:
                message, pos = checker.problems[0]
                raise ConfigError(f"{where}.score: {message}", hint=f"at position {pos + 1}:" + excerpt(cfg.score, pos))
            if kind == "string":
                what = f"column {cfg.score.strip().strip('`')} is {schema.get(cfg.score.strip().strip('`'))}" if _NAME.match(cfg.score) else "the expression gives a string"
                raise ConfigError(f"{where}.score: {what}, not a number", hint="rank by a numeric column or an expression of numbers")
        if cfg.unit == "tokens":
            column = cfg.tokens_column
            if column not in schema:
                raise ConfigError(
                    f"{where}.tokens_column: unit: tokens needs column {column!r} (token counts), which no earlier step produces; known columns: {known}",
                    hint="add a `tokens` stage before select (it adds token_count), set tokens_column, or use unit: documents",
                )
            dtype = schema[column]
            if dtype is not None and not (dtype.is_integer() or dtype == pl.Null):
                raise ConfigError(f"{where}.tokens_column: column {column} is {dtype}, not an integer token count")

    # ---------------------------------------------------------------- keys

    def _score(self, batch: pl.DataFrame) -> pl.Series:
        from curate.rules import parse_rule

        if self._rule is None:
            self._rule = parse_rule("score", self.cfg.score or "", where="select.score")
        missing = sorted(self._rule.columns - set(batch.columns))
        if missing:
            raise ConfigError(
                f"select.score: no column(s) {', '.join(missing)} in the input; columns: {', '.join(batch.columns)}",
                hint="add the stage that produces them before select",
            )
        try:
            return batch.select(self._rule.expr_for(batch.schema).cast(pl.Float64)).to_series()
        except pl.exceptions.PolarsError as err:
            raise ConfigError(f"select.score: {self.cfg.score!r} does not give a number ({err})") from None

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        cfg = self.cfg
        n = batch.height
        score = self._score(batch) if cfg.score is not None else pl.Series(values=[None] * n, dtype=pl.Float64)
        column = cfg.tokens_column
        if column in batch.columns:
            if not (batch.schema[column].is_integer() or batch.schema[column] == pl.Null):
                raise ConfigError(f"select.tokens_column: column {column} is {batch.schema[column]}, not an integer token count")
            tokens = batch[column].cast(pl.Int64)
        elif cfg.unit == "tokens":
            raise ConfigError(
                f"select.tokens_column: unit: tokens needs column {column!r} (token counts), which the input lacks; columns: {', '.join(batch.columns)}",
                hint="add a `tokens` stage before select (it adds token_count), set tokens_column, or use unit: documents",
            )
        else:
            tokens = pl.Series(values=[None] * n, dtype=pl.Int64)
        return pl.DataFrame(
            {"id": batch["id"], "_source": batch["source"].cast(pl.String), "_score": score, "_tokens": tokens},
            schema={"id": pl.String, "_source": pl.String, "_score": pl.Float64, "_tokens": pl.Int64},
        )

    # ---------------------------------------------------------------- resolve

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        cfg = self.cfg
        frame = keys.select("id", pl.col("_source").fill_null(NO_SOURCE), "_score", "_tokens").collect()
        tokens_known = cfg.unit == "tokens" or frame["_tokens"].null_count() < frame.height
        frame = frame.with_columns(
            self._why_not_eligible(),
            pl.Series("_key", self._rank_key(frame, ctx), dtype=pl.Float64),
            pl.Series("_tie", ctx.doc_seeds(frame["id"], "tie"), dtype=pl.UInt64),
            pl.lit(1, dtype=pl.Int64).alias("_size") if cfg.unit == "documents" else pl.col("_tokens").alias("_size"),
        )
        sources = set(frame["_source"].unique().to_list())
        if cfg.mixture is not None:
            unknown = sorted(set(cfg.mixture) - sources)
            if unknown:
                raise ConfigError(
                    f"select.mixture: unknown source(s) {', '.join(repr(s) for s in unknown)}: no document of the input has it; "
                    f"sources in the input: {', '.join(sorted(sources)) or '(none)'}",
                    hint="mixture keys are values of the `source` column (set per input with `source:`)",
                )
        total = self._total(frame)
        targets: dict[str, int | None] = {"": total} if cfg.mixture is None else dict(apportion(total or 0, cfg.mixture))
        names = sorted(targets)
        group = pl.lit(0, dtype=pl.UInt32) if cfg.mixture is None else pl.col("_source").replace_strict(names, list(range(len(names))), default=None, return_dtype=pl.UInt32)
        eligible = frame.with_row_index("_row").filter(pl.col("_why").is_null()).select("_row", group.alias("_g"), "_key", "_tie", "_size")
        g, key, tie = eligible["_g"].to_numpy(), eligible["_key"].to_numpy(), eligible["_tie"].to_numpy()
        rank = np.lexsort((tie, -key, g))  # by group, then key (highest first), then the id's seeded hash
        g, key, tie = g[rank], key[rank], tie[rank]
        if ((g[1:] == g[:-1]) & (key[1:] == key[:-1]) & (tie[1:] == tie[:-1])).any():  # a tie hash collided
            ids = frame["id"].gather(eligible["_row"]).to_numpy()
            rank = np.lexsort((ids, eligible["_tie"].to_numpy(), -eligible["_key"].to_numpy(), eligible["_g"].to_numpy()))
        rows = eligible["_row"].to_numpy()[rank]
        sizes = eligible["_size"].to_numpy()[rank]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(eligible["_g"].to_numpy(), minlength=len(names)))]).astype(np.int64)
        n = frame.height
        placed = {c: np.zeros(n, dtype=np.int64) for c in ("_rank", "_eligible", "_last")}
        repeats = np.zeros(n, dtype=np.int32)
        short: list[str] = []
        for g, name in enumerate(names):
            lo, hi = int(bounds[g]), int(bounds[g + 1])
            target = targets[name]
            slack = math.floor(cfg.tolerance * target) if (cfg.unit == "tokens" and target is not None) else 0
            alloc = allocate(sizes[lo:hi], target, cfg.max_epochs, slack)
            if alloc.capped:
                short.append(self._shortfall(name, alloc.target or 0, alloc.pool, hi - lo))
                ctx.count("select_short" + (f":{name}" if name else ""), (alloc.target or 0) - alloc.achieved)
            if target is not None:
                ctx.count("select_target" + (f":{name}" if name else ""), target)
            at = rows[lo:hi]
            taken = np.flatnonzero(alloc.repeats)
            repeats[at] = alloc.repeats
            placed["_rank"][at] = np.arange(1, hi - lo + 1)
            placed["_eligible"][at] = hi - lo
            placed["_last"][at] = int(taken[-1]) + 1 if taken.size else 0
        if short and cfg.shortfall == "error":
            raise ConfigError(
                "select: " + "; ".join(short),
                hint="lower k/fraction/budget (or the source's mixture weight), raise max_epochs to upsample, "
                "or set shortfall: allow to keep what there is and report the shortfall",
            )
        full = frame.with_columns(pl.Series("_repeats", repeats), *(pl.Series(c, v) for c, v in placed.items()))
        self._count(full, total, tokens_known, ctx)
        return self._decisions(full)

    def _why_not_eligible(self) -> pl.Expr:
        """Null for a document that can be ranked, else why it cannot (a phrase for reject_detail)."""
        cfg = self.cfg
        why: pl.Expr = pl.lit(None, dtype=pl.String)
        checks: list[tuple[pl.Expr, pl.Expr]] = []
        if cfg.mixture is not None:
            checks.append((~pl.col("_source").is_in(list(cfg.mixture)), pl.format("source {} has no weight in the mixture", pl.col("_source"))))
        if cfg.score is not None:
            checks.append((pl.col("_score").is_null() | pl.col("_score").is_nan(), pl.lit("no score (null or NaN)")))
            if cfg.method == "threshold":
                checks.append((pl.col("_score") < cfg.threshold, pl.lit(f"score below the threshold {cfg.threshold!r}")))
            if cfg.method == "gumbel" and cfg.weight == "score":
                checks.append((pl.col("_score") <= 0, pl.lit("weight (the score) is not positive")))
        if cfg.unit == "tokens":
            checks.append((pl.col("_tokens").is_null() | (pl.col("_tokens") < 0), pl.lit("no token count")))
        for cond, text in reversed(checks):
            why = pl.when(cond).then(text).otherwise(why)
        return why.alias("_why")

    def _rank_key(self, frame: pl.DataFrame, ctx: StageContext) -> np.ndarray:
        """Higher ranks first: the score, or for gumbel log(weight) / temperature + Gumbel(0, 1) noise."""
        cfg = self.cfg
        u = ctx.uniform(frame["id"], "gumbel").to_numpy() + 2.0**-54  # in (0, 1): the noise is finite
        if cfg.method != "gumbel":
            return frame["_score"].to_numpy().astype(np.float64) if cfg.score is not None else u
        noise = -np.log(-np.log(u))
        if cfg.score is None:
            return noise
        score = frame["_score"].fill_null(np.nan).to_numpy().astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_w = score if cfg.weight == "exp" else np.log(score)
        return log_w / cfg.temperature + noise

    def _total(self, frame: pl.DataFrame) -> int | None:
        """The total target in the unit: k, budget, or fraction of the input (None: threshold alone)."""
        cfg = self.cfg
        if cfg.k is not None:
            return cfg.k
        if cfg.budget is not None:
            return cfg.budget
        if cfg.fraction is not None:
            pool = frame.height if cfg.unit == "documents" else int(frame["_tokens"].clip(lower_bound=0).sum() or 0)
            return math.floor(Fraction(cfg.fraction) * pool + Fraction(1, 2))
        return None

    def _shortfall(self, name: str, target: int, pool: int, docs: int) -> str:
        cfg = self.cfg
        what = f"source {name!r}" if name else "the pool"
        why = (
            f"the target of {what} ({target:,} {cfg.unit}) exceeds what it holds ({pool:,} {cfg.unit} in {docs:,} "
            f"eligible documents) times max_epochs ({cfg.max_epochs})"
        )
        if cfg.method == "gumbel" and cfg.weight == "score":
            why += (
                "; with weight: score a document scoring <= 0 is never drawn (log weights such as dsir_score or "
                "learnability are often negative: use weight: exp, `--weight exp`)"
            )
        return why

    def _count(self, full: pl.DataFrame, total: int | None, tokens_known: bool, ctx: StageContext) -> None:
        """Per source: input, eligible, kept (documents, and with repeats), tokens; totals."""
        rep = pl.col("_repeats").cast(pl.Int64)
        per_source = full.group_by("_source").agg(
            pl.len().alias("in_docs"),
            pl.col("_why").is_null().sum().alias("eligible_docs"),
            (rep > 0).sum().alias("kept_docs"),
            rep.sum().alias("docs"),
            rep.max().alias("max_repeats"),
            pl.col("_tokens").clip(lower_bound=0).sum().alias("in_tokens"),
            (rep * pl.col("_tokens").clip(lower_bound=0)).sum().alias("tokens"),
        )
        for row in per_source.iter_rows(named=True):
            s = row["_source"]
            for metric in ("in_docs", "eligible_docs", "kept_docs", "docs", "max_repeats") + (("in_tokens", "tokens") if tokens_known else ()):
                ctx.count(f"select_{metric}:{s}", int(row[metric] or 0))
        achieved = full.select((rep * pl.col("_size").clip(lower_bound=0).fill_null(0)).sum()).item()
        ctx.count("select_achieved", int(achieved or 0))
        ctx.count("select_upsampled_docs", int((full["_repeats"] > 1).sum()))
        why = full.filter(pl.col("_why").is_not_null()).group_by("_why").len()
        ctx.count("select_not_eligible", int(why["len"].sum() or 0) if why.height else 0)

    def _decisions(self, full: pl.DataFrame) -> pl.DataFrame:
        """Rejected rows (with why) and kept rows taken more than once; other rows keep repeats 1."""
        cfg = self.cfg
        score = pl.col("_score").round(6).cast(pl.String).fill_null("null") if cfg.score is not None else pl.lit("none (random order)")
        where = pl.format("source {}", pl.col("_source")) if cfg.mixture is not None else pl.lit("the pool")
        outcome = pl.when(pl.col("_rank") < pl.col("_last")).then(pl.lit("did not fit the quota")).otherwise(pl.lit("quota filled"))
        ranked = pl.format("rank {} of {} eligible in {}; {}; score {}", pl.col("_rank"), pl.col("_eligible"), where, outcome, score)
        if cfg.method == "gumbel":
            ranked = pl.format("{}; gumbel key {}", ranked, pl.col("_key").round(6).cast(pl.String))
        detail = pl.when(pl.col("_why").is_not_null()).then(pl.format("{}; score {}", pl.col("_why"), score)).otherwise(ranked)
        return (
            full.filter(pl.col("_repeats") != 1)
            .select(
                "id",
                pl.when(pl.col("_repeats") == 0).then(pl.lit(NOT_SELECTED)).otherwise(pl.lit(None, dtype=pl.String)).alias(REJECT),
                pl.when(pl.col("_repeats") == 0).then(detail).otherwise(pl.lit(None, dtype=pl.String)).alias(REJECT_DETAIL),
                pl.col("_repeats").cast(pl.Int32).alias(REPEATS),
            )
        )

    # ---------------------------------------------------------------- apply

    def apply(self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        out = super().apply(batch.drop(REPEATS, strict=False), decisions, ctx)
        for col, dtype in self.decision_schema().items():
            if col not in out.columns:
                out = out.with_columns(pl.lit(None, dtype=dtype).alias(col))
        return out.with_columns(pl.col(REPEATS).fill_null(1).cast(pl.Int32))
