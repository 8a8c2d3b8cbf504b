"""The Stage protocol: stages transform Polars frames; engines read, route and write.

A stage never reads files, picks shards or knows which engine runs it. It marks the rows
that must go by setting ``_reject`` (a reason string) and the engine routes them to the
stage's ``rejected/`` dataset, so every input row is accounted for by construction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from curate.hashing import derive_seed, hash_strings, unit_interval

REJECT = "_reject"
"""Scratch column: null keeps the row, a reason string (snake_case) sends it to ``rejected/``."""
REJECT_DETAIL = "_reject_detail"
"""Optional scratch column: human detail for a rejection (``file.jsonl:17``, the failing rule)."""
CORE_COLUMNS = frozenset({"id", "text", "source"})


class StageConfig(BaseModel):
    """Base of every stage's config: unknown keys are errors; subclasses add a ``kind`` literal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str

    def with_paths(self, fix: Callable[[str], str]) -> StageConfig:
        """This config with file paths passed through ``fix`` (relative to the config file's folder)."""
        return self

    def input_paths(self) -> list[tuple[str, str]]:
        """(key, path) of files this stage reads; the planner checks they exist before running."""
        return []


@dataclass
class StageContext:
    """What a stage may know about the run: the seed, its position, and a place to count.

    Every random choice goes through :meth:`uniform` or :meth:`doc_seeds`, which depend only
    on the document id, the run seed and the stage index, never on batches, shards or engines.
    """

    seed: int = 0
    stage_index: int = 0
    stage_kind: str = ""
    counters: Counter[str] = field(default_factory=Counter)
    run_id: str | None = None
    """Identifies one run; a resumed run keeps it (stages with state across runs, like an index, use it)."""
    side_state: dict[str, Any] = field(default_factory=dict)
    """Writes to state outside the run (an index of earlier releases) that a global stage's
    ``combine`` hands to the runner as ``SideWrite`` values; the runner stages them with the
    step and commits them only when the whole run has completed."""

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a named counter; the engine sums counters over shards into the manifest."""
        self.counters[name] += int(n)

    def doc_seeds(self, ids: pl.Series, salt: str = "") -> np.ndarray:
        """A stable 64-bit seed per document (uint64), for per-document random streams."""
        return hash_strings(ids, derive_seed(self.seed, self.stage_index, self.stage_kind, salt))

    def uniform(self, ids: pl.Series, salt: str = "") -> pl.Series:
        """A reproducible value in [0, 1) per document, from a stable hash of its id."""
        return pl.Series("_uniform", unit_interval(self.doc_seeds(ids, salt)), dtype=pl.Float64)


class Stage:
    """Base class: a stage is a small, picklable object built from its config on the driver."""

    kind: ClassVar[str]
    Config: ClassVar[type[StageConfig]]
    requires: ClassVar[frozenset[str]] = frozenset({"id", "text"})
    adds: ClassVar[frozenset[str]] = frozenset()
    requires_packages: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(import name, pip extra) pairs checked at plan time."""
    reject_columns: ClassVar[frozenset[str]] = frozenset()
    """Columns that describe a rejection (``duplicate_of``): written to ``rejected/`` only."""
    adds_rows: ClassVar[bool] = False
    """True for stages that append new rows (augment); new rows are counted as ``docs_added``."""
    modifies_text: ClassVar[bool] = False
    """True for stages that rewrite ``text`` (c4_clean): the planner re-computes, after them, the
    quality signals a later filter reads, so no rule judges a text that is gone."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A stage's ``kind`` must be its config's ``kind`` literal: the registry, the config
        parser and the step folders all rely on it, so a mismatch is refused when the class is defined."""
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        config = cls.__dict__.get("Config")
        if kind is None or config is None:
            return
        field = config.model_fields.get("kind")
        literal = field.default if field is not None else None
        if literal != kind:
            raise TypeError(f"stage {cls.__name__}: kind {kind!r} differs from its config's kind literal {literal!r}")

    def __init__(self, cfg: StageConfig) -> None:
        self.cfg = cfg

    def required_columns(self) -> set[str]:
        """Columns this stage reads; override when they depend on the config (filter rules)."""
        return set(self.requires)

    def added_columns(self) -> set[str]:
        """Columns this stage adds; override when they depend on the config (named scorers)."""
        return set(self.adds)

    def added_schema(self) -> dict[str, pl.DataType | None]:
        """The added columns with their types, for plan-time type checks; None: type unknown.

        The default knows only the names (:meth:`added_columns`); stages whose output types are
        fixed override it.
        """
        return dict.fromkeys(sorted(self.added_columns()))

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Load read-only assets once per worker or actor (models, word lists)."""

    def config_fingerprint(self) -> dict[str, Any]:
        """What identifies this stage's result besides its input; used for resume."""
        return self.cfg.model_dump(mode="json")


class MapStage(Stage):
    """A stage that looks at one batch at a time; must be batch-invariant.

    ``process(a ++ b) == process(a) ++ process(b)``: no state across batches, no I/O.
    """

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        raise NotImplementedError


class FilterStage(MapStage):
    """Template for filters: authors list (reason, keep-expression) pairs; the first failure wins."""

    def reasons(self, batch: pl.DataFrame) -> list[tuple[str, pl.Expr]]:
        raise NotImplementedError

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        rules = self.reasons(batch)
        if not rules:
            return batch
        reason: pl.Expr = pl.lit(None, dtype=pl.String)
        for name, keep in reversed(rules):
            reason = pl.when(keep.fill_null(False).not_()).then(pl.lit(name)).otherwise(reason)
        if REJECT in batch.columns:
            reason = pl.coalesce(pl.col(REJECT), reason)
        return batch.with_columns(reason.alias(REJECT))


@dataclass
class ResolvePieces:
    """A global phase split into ``count`` independent pieces.

    ``shared`` is compact and picklable (engines ship it to every piece once); ``local`` stays on
    the driver for :meth:`GlobalStage.combine` and is never shipped.
    """

    count: int
    shared: Any = None
    local: Any = None


class GlobalStage(Stage):
    """A stage that needs to see the whole corpus: keys (map) -> resolve (global) -> apply (map).

    ``keys`` emits only ``id`` and compact columns (integers, never text). ``resolve`` sees all
    keys as a LazyFrame (it may also carry the engine's ``_shard`` column, which it can ignore)
    and returns decisions: ``id``, ``_reject`` and any extra columns (``duplicate_of``).
    ``apply`` joins the decisions onto a shard; override it to fill defaults for the rows that
    got no decision.
    """

    replay_cheap: ClassVar[bool] = False
    """True when ``apply`` only joins the saved decisions (no model, no request, no side state):
    the runner may then skip writing its kept rows when another global stage follows, and
    recompute them in memory wherever they are read."""

    keys_cheap: ClassVar[bool] = False
    """True when ``keys`` costs a small fraction of reading a shard back (a hash of the text): right
    after ingest, the runner then computes them from each shard's rows while they are in memory
    instead of reading every shard once more (``ingest_task``'s ``keys_for``). Only for keys of
    ``id`` and ``text`` alone (``required_columns``), which read the same in memory as from the file."""

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        raise NotImplementedError

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        """All keys -> decisions. The default runs :meth:`split_resolve`'s pieces here, in order."""
        split = self.split_resolve(keys, ctx)
        if split is None:
            raise NotImplementedError
        results = [self.resolve_piece(keys, split.shared, i) for i in range(split.count)]
        return self.combine(keys, split, results, ctx)

    # A global phase may split into independent pieces (MinHash: one per LSH band) that an engine
    # runs in parallel, on a cluster too; it then calls combine on the driver. Stages that do not
    # split implement resolve() alone.

    def split_resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> ResolvePieces | None:
        """Driver side, before the pieces: compact shared state and how many pieces; None: no split."""
        return None

    def resolve_piece(self, keys: pl.LazyFrame, shared: Any, piece: int) -> Any:
        """One piece, anywhere (another process or node): reads keys and ``shared`` only."""
        raise NotImplementedError

    def combine(self, keys: pl.LazyFrame, split: ResolvePieces, results: list[Any], ctx: StageContext) -> pl.DataFrame:
        """Driver side: the pieces' results (in piece order) -> decisions."""
        raise NotImplementedError

    def decision_schema(self) -> dict[str, pl.DataType]:
        """Schema of ``resolve``'s output besides ``id`` and ``_reject`` (for empty decisions)."""
        return {}

    def apply(self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        """Attach this shard's decisions (already restricted to its ids) to the shard's rows."""
        decisions = decisions.drop([c for c in decisions.columns if c.startswith("_shard")])
        extra = [c for c in decisions.columns if c != "id" and (c in batch.columns) and c != REJECT]
        out = batch.drop(extra).join(decisions, on="id", how="left", maintain_order="left")
        return out


def keys_by_shard(keys: pl.LazyFrame) -> Iterator[pl.DataFrame]:
    """A global stage's keys one shard at a time, in shard order: a resolve that only needs sums
    over the corpus (counts) or per-document work streams them in bounded memory."""
    if "_shard" not in keys.collect_schema().names():
        yield keys.collect()
        return
    for shard in sorted(keys.select(pl.col("_shard").unique()).collect()["_shard"].to_list()):
        yield keys.filter(pl.col("_shard") == shard).collect()
