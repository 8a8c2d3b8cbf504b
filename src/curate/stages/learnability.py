"""Learnability scores: how much a document teaches a learner that a target-domain model already
explains (RHO-LOSS, Mindermann et al. 2022; CoLoR-Filter, Brandfonbrener et al. 2024; JEST,
Evans et al. 2024), with small hashed n-gram language models in place of neural ones.

Two models of :mod:`curate.select.ngram_lm`: the **reference**, counted over target files the
user gives (text like the data wanted), and the **learner**. A document's score, in bits per
word, is::

    learnability = cross_entropy(learner, doc) - cross_entropy(reference, doc)

High: the learner still finds the document hard while the reference finds it easy.

* ``mode: static`` (RHO/CoLoR, one pass): the learner is counted over the whole pool; every
  document is scored against both models.
* ``mode: online`` (JEST): documents stream in a seeded random order, in super-batches of
  ``super_batch``; each super-batch is scored against the current learner (empty at first), its
  ``keep_fraction`` most learnable documents are marked ``<column>_kept`` and only they are
  added to the learner, so what was already learnt stops looking learnable (redundant
  documents fall, diverse ones rise). The kept flags are a selection; select to a token budget
  with ``select`` over them (e.g. ``score: "<column>_kept * 1000 + <column>"``).

The stage scores; it never removes a document (``select`` does). Documents with fewer than
``min_words`` words, or a null text, score null (``select`` never picks them).

Keys: the document's word ids (4 bytes per word, on disk). ``static`` resolve streams the key
files shard by shard twice (count, then score): memory is the models' tables plus one shard.
``online`` resolve holds every document's word ids (4 bytes per word of the pool) to visit them
in a random order. Hashes: words as in :func:`curate.select.ngram_lm.word_ids`, seed
``derive_seed(seed, "learnability")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.errors import ConfigError
from curate.hashing import derive_seed, hash_strings
from curate.select.ngram_lm import NgramModel, fit_texts, in_slices, positions, word_ids
from curate.stages.base import REJECT, GlobalStage, StageConfig, StageContext, keys_by_shard
from curate.stages.dsir_score import DsirTargetConfig, score_column

WORDS_COLUMN = "_lm_words"


class LearnabilityScoreConfig(StageConfig):
    kind: Literal["learnability_score"] = "learnability_score"
    target: list[DsirTargetConfig] = Field(
        min_length=1, description="Target corpus files (text like the data wanted): the reference model's training text."
    )
    mode: Literal["static", "online"] = Field(
        "static",
        description="static: learner counted over the whole pool, one score per document (RHO/CoLoR); "
        "online: super-batches in a seeded order, the most learnable share kept and learnt (JEST).",
    )
    order: int = Field(3, ge=1, le=6, description="n-gram order of both models (3: trigrams).")
    table_bits: int = Field(21, ge=10, le=26, description="Each k-gram count table has 2**table_bits buckets (8 bytes each).")
    vocab_bits: int = Field(20, ge=8, le=26, description="Unigram buckets: 2**vocab_bits.")
    discount: float = Field(0.75, gt=0.0, lt=1.0, description="Absolute discount of the interpolated n-gram estimate.")
    min_words: int = Field(1, ge=1, le=1_000_000, description="Documents with fewer words score null.")
    super_batch: int = Field(4096, ge=1, le=10_000_000, description="online mode: documents per super-batch.")
    keep_fraction: float = Field(
        0.2, gt=0.0, le=1.0, description="online mode: share of each super-batch kept (rounded up) and added to the learner."
    )
    seed: int | None = Field(None, ge=0, description="Seed of the word hash and the online order; null: the run seed.")
    column: str = Field("learnability", min_length=1, description="Output column (Float64, bits per word); online mode adds `<column>_kept` (Boolean).")

    @field_validator("column")
    @classmethod
    def _column(cls, v: str) -> str:
        return score_column(v)

    def with_paths(self, fix: Callable[[str], str]) -> LearnabilityScoreConfig:
        return self.model_copy(update={"target": [t.model_copy(update={"path": fix(t.path)}) for t in self.target]})

    def input_paths(self) -> list[tuple[str, str]]:
        """The target files: their content is part of the step's fingerprint."""
        return [(f"target[{i}].path", t.path) for i, t in enumerate(self.target)]


class LearnabilityScore(GlobalStage):
    """Scores each document's learnability (learner minus reference cross-entropy, bits per word)."""

    kind = "learnability_score"
    Config = LearnabilityScoreConfig
    requires: ClassVar[frozenset[str]] = frozenset({"id", "text"})

    def __init__(self, cfg: LearnabilityScoreConfig) -> None:
        super().__init__(cfg)
        self.cfg: LearnabilityScoreConfig = cfg

    @property
    def kept_column(self) -> str:
        return f"{self.cfg.column}_kept"

    def added_columns(self) -> set[str]:
        return set(self.decision_schema())

    def added_schema(self) -> dict[str, pl.DataType | None]:
        return dict(self.decision_schema())

    def decision_schema(self) -> dict[str, pl.DataType]:
        out: dict[str, pl.DataType] = {self.cfg.column: pl.Float64()}
        if self.cfg.mode == "online":
            out[self.kept_column] = pl.Boolean()
        return out

    def _hash_seed(self, ctx: StageContext) -> int:
        return derive_seed(self.cfg.seed if self.cfg.seed is not None else ctx.seed, "learnability")

    def _model(self) -> NgramModel:
        c = self.cfg
        return NgramModel(order=c.order, vocab_bits=c.vocab_bits, table_bits=c.table_bits, discount=c.discount)

    def _reference(self, ctx: StageContext) -> NgramModel:
        from curate.decontam.evalsets import read_eval_set

        texts: list[str] = []
        for i, t in enumerate(self.cfg.target):
            texts += read_eval_set(f"target[{i}]", t.path, list(t.fields), fmt=t.format).texts
        if not texts:
            raise ConfigError("learnability_score: the target files hold no documents")
        c = self.cfg
        return fit_texts(texts, self._hash_seed(ctx), order=c.order, vocab_bits=c.vocab_bits, table_bits=c.table_bits, discount=c.discount)

    # ---------------------------------------------------------------- keys

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        import pyarrow as pa

        offsets, ids, null = in_slices(word_ids, batch["text"], self._hash_seed(ctx))
        lists = pa.LargeListArray.from_arrays(pl.Series(offsets).to_arrow(), pl.Series(ids.astype(np.uint32)).to_arrow())
        col = pl.Series(WORDS_COLUMN, pl.from_arrow(lists), dtype=pl.List(pl.UInt32))
        out = pl.DataFrame({"id": batch["id"], WORDS_COLUMN: col})
        if null.any():
            out = out.with_columns(pl.when(pl.Series(null)).then(None).otherwise(pl.col(WORDS_COLUMN)).alias(WORDS_COLUMN))
        return out

    # ---------------------------------------------------------------- resolve

    @staticmethod
    def _flat(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(offsets, ids uint64, null mask) of a keys frame."""
        words = frame[WORDS_COLUMN]
        null = words.is_null().to_numpy()
        lens = words.list.len().fill_null(0).to_numpy().astype(np.int64)
        offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        ids = words.explode().drop_nulls().to_numpy().astype(np.uint64) if offsets[-1] else np.zeros(0, dtype=np.uint64)
        return offsets, ids, null

    def _scores(self, learner: NgramModel, reference: NgramModel, frame: pl.DataFrame) -> np.ndarray:
        offsets, ids, null = self._flat(frame)
        score = learner.cross_entropy(ids, offsets) - reference.cross_entropy(ids, offsets)
        short = np.diff(offsets) < self.cfg.min_words
        return np.where(null | short, np.nan, score)

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        reference = self._reference(ctx)
        ctx.count("reference_words", reference.total)
        if self.cfg.mode == "online":
            return self._online(keys.select("id", WORDS_COLUMN).collect(), reference, ctx)
        learner = self._model()
        for frame in keys_by_shard(keys):
            for part in frame.iter_slices(4096):
                offsets, ids, _ = self._flat(part)
                learner.add(ids, offsets)
        ctx.count("learner_words", learner.total)
        parts = []
        for frame in keys_by_shard(keys):
            for part in frame.iter_slices(4096):
                parts.append(self._decisions(part["id"], self._scores(learner, reference, part), ctx))
        if not parts:
            return pl.DataFrame(schema={"id": pl.String, REJECT: pl.String, **self.decision_schema()})
        return pl.concat(parts)

    def _decisions(self, ids: pl.Series, scores: np.ndarray, ctx: StageContext, kept: np.ndarray | None = None) -> pl.DataFrame:
        ctx.count("docs_scored", int(np.count_nonzero(~np.isnan(scores))))
        out = pl.DataFrame({"id": ids}).with_columns(
            pl.lit(None, dtype=pl.String).alias(REJECT),
            pl.Series(self.cfg.column, scores, dtype=pl.Float64).fill_nan(None),
        )
        if kept is not None:
            out = out.with_columns(pl.Series(self.kept_column, kept, dtype=pl.Boolean))
        return out

    def _online(self, frame: pl.DataFrame, reference: NgramModel, ctx: StageContext) -> pl.DataFrame:
        """JEST-style: super-batches in a seeded order; keep the most learnable share; learn it."""
        if not frame.height:
            return pl.DataFrame(schema={"id": pl.String, REJECT: pl.String, **self.decision_schema()})
        order_key = hash_strings(frame["id"], derive_seed(self.cfg.seed if self.cfg.seed is not None else ctx.seed, "learnability-order"))
        frame = frame.with_columns(pl.Series("_k", order_key, dtype=pl.UInt64)).sort("_k", "id").drop("_k")
        learner = self._model()
        scores = np.full(frame.height, np.nan)
        kept = np.zeros(frame.height, dtype=bool)
        step = self.cfg.super_batch
        for start in range(0, frame.height, step):
            part = frame.slice(start, step)
            offsets, ids, _ = self._flat(part)
            s = self._scores(learner, reference, part)
            scores[start : start + part.height] = s
            valid = np.flatnonzero(~np.isnan(s))
            take = min(len(valid), int(np.ceil(self.cfg.keep_fraction * part.height)))
            if take:
                # most learnable first; ties by position in the seeded order
                best = valid[np.lexsort((valid, -s[valid]))[:take]]
                kept[start + best] = True
                chosen = np.zeros(part.height, dtype=bool)
                chosen[best] = True
                doc, _ = positions(offsets)
                chosen_offsets = np.zeros(take + 1, dtype=np.int64)
                np.cumsum(np.diff(offsets)[chosen], out=chosen_offsets[1:])
                chosen_ids = ids[chosen[doc]]
                learner.add(chosen_ids, chosen_offsets)
        ctx.count("super_batches", -(-frame.height // step))
        ctx.count("docs_kept_online", int(kept.sum()))
        ctx.count("learner_words", learner.total)
        return self._decisions(frame["id"], scores, ctx, kept)

    def apply(self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        cols = list(self.decision_schema())
        dec = decisions.select("id", *cols) if decisions.height else pl.DataFrame(schema={"id": pl.String, **self.decision_schema()})
        return batch.drop(cols, strict=False).join(dec, on="id", how="left", maintain_order="left")

    def config_fingerprint(self) -> dict[str, Any]:
        return self.cfg.model_dump(mode="json")
