"""DSIR importance scores (Xie et al. 2023, "Data Selection for Language Models via Importance
Resampling"): how much more likely a document is under a target corpus than under the raw pool.

Features are hashed n-grams of lowercased ``\\w+`` words: every word (unigram) and, with
``ngrams: 2``, every pair of consecutive words (bigram), each hashed into one of ``buckets``
buckets. ``p_target`` and ``p_raw`` are the bucket frequencies of the target files and of the
pool, with add-one (Laplace) smoothing. A document's score is its log importance weight::

    sum over its features f of  log p_target[bucket(f)] - log p_raw[bucket(f)]

(a feature seen twice counts twice). Resampling is the ``select`` stage's job (e.g. ``method:
gumbel`` with ``weight: exp`` over this column: sampling without replacement by weight).

Hashes: a word is XXH64 of its UTF-8 bytes with the hash seed (``curate.hashing.hash_strings``);
a bigram mixes its two words' hashes (``bigram_hash``); bucket = hash mod ``buckets``. The hash
seed is ``derive_seed(seed, "dsir")`` where ``seed`` is the config's, else the run seed. These
definitions are persisted in fit files: changing one invalidates every saved fit.

A fit (``fit: PATH``) is one Parquet row: buckets, ngrams, hash seed, the target and raw
bucket counts, and the target's identity (sha256 over each target file's content, fields and
format, in order; not its path). If the file exists when the run is planned and was made from
the same target, its counts and hash settings are used as they are (a weekly refresh scores new
data against the same fit; the target files are only hashed, not parsed). A target file that no
longer exists, or a fit written before identities were recorded, cannot be compared: the fit is
used. When the identities differ (``--target`` changed), the stage fits again with this config's
settings and the new fit replaces the old file (counter ``fit_replaced``). Otherwise the stage
fits both distributions and hands the fit to the runner as side state (kind ``dsir_fit``),
written after the run's output is published; a fit of the same target is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from curate.errors import ConfigError
from curate.hashing import derive_seed, hash_strings
from curate.select.ngram_lm import in_slices
from curate.side_state import SideWrite, committer
from curate.stages.base import REJECT, GlobalStage, StageConfig, StageContext, keys_by_shard

BUCKETS_COLUMN = "_dsir_buckets"
_MASK = 0xFFFFFFFFFFFFFFFF
_K1 = 0x9E3779B97F4A7C15
_K2 = 0xFF51AFD7ED558CCD
_K3 = 0xC4CEB9FE1A85EC53
FIT_KIND = "dsir_fit"


def score_column(v: str) -> str:
    """A score column's name: never a scratch column (``_``) nor a core one."""
    if v.startswith("_") or v in {"id", "text", "source"}:
        raise ValueError(f"column {v!r}: must not start with '_' or be id, text or source")
    return v


class DsirTargetConfig(BaseModel):
    """One target file: documents that look like the data wanted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(min_length=1, description="JSON Lines, Parquet or CSV file (.gz allowed for text formats).")
    fields: list[str] = Field(
        default_factory=lambda: ["text"], min_length=1,
        description="Fields whose values, joined by newlines, are a target document's text.",
    )
    format: Literal["auto", "jsonl", "csv", "parquet"] = Field("auto", description="File format; auto: from the suffix.")


class DsirScoreConfig(StageConfig):
    kind: Literal["dsir_score"] = "dsir_score"
    target: list[DsirTargetConfig] = Field(
        min_length=1, description="Target corpus files (the distribution to select towards); when `fit` exists and was made "
        "from the same target (content, fields, format) they are only hashed, else the stage fits again.",
    )
    buckets: int = Field(10_000, ge=16, le=16_777_216, description="Hash buckets of the n-gram features.")
    ngrams: int = Field(2, ge=1, le=2, description="1: words only; 2: words and pairs of consecutive words.")
    seed: int | None = Field(None, ge=0, description="Seed of the feature hash; null: the run seed.")
    column: str = Field("dsir_score", min_length=1, description="Output column: the document's log importance weight (Float64).")
    fit: str | None = Field(
        None,
        description="Parquet file of a fit: used as it is when it exists and records the same target (score new data "
        "against it), else written (replacing a fit of another target) with this run's fit when the run completes.",
    )

    @field_validator("column")
    @classmethod
    def _column(cls, v: str) -> str:
        return score_column(v)

    def with_paths(self, fix: Callable[[str], str]) -> DsirScoreConfig:
        return self.model_copy(
            update={"target": [t.model_copy(update={"path": fix(t.path)}) for t in self.target],
                    "fit": fix(self.fit) if self.fit else None}
        )

    def input_paths(self) -> list[tuple[str, str]]:
        """Target files and an existing fit: their content is part of the step's fingerprint
        (beside a fit, only the target files that still exist: the fit stands in for the rest)."""
        out = [(f"target[{i}].path", t.path) for i, t in enumerate(self.target)]
        if self.fit and Path(self.fit).is_file():
            out = [(key, path) for key, path in out if Path(path).is_file()] + [("fit", self.fit)]
        return out

    def target_identity(self) -> str | None:
        """sha256 over every target file's content, fields and format, in order (not the path,
        so a moved file is the same target); None when a target file does not exist."""
        import hashlib

        h = hashlib.sha256()
        for t in self.target:
            path = Path(t.path)
            if not path.is_file():
                return None
            h.update(repr((list(t.fields), t.format)).encode())
            with open(path, "rb") as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
            h.update(b"\0")
        return h.hexdigest()


def bigram_hash(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The hash of a word pair from its words' hashes (uint64, wrapping; a murmur3 finaliser)."""
    with np.errstate(over="ignore"):
        x = first * np.uint64(_K1) + second
        x ^= x >> np.uint64(33)
        x *= np.uint64(_K2)
        x ^= x >> np.uint64(33)
        x *= np.uint64(_K3)
        x ^= x >> np.uint64(33)
    return x


def features(texts: pl.Series, hash_seed: int, buckets: int, ngrams: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every document's feature buckets: (offsets int64 of n+1, buckets int32 grouped by document,
    null mask). A document's words come first, then its bigrams, each in text order."""
    words = texts.str.to_lowercase().str.extract_all(r"\w+")
    null = words.is_null().to_numpy()
    lens = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    n = len(lens)
    flat = words.explode().drop_nulls()
    h = hash_strings(flat, hash_seed) if len(flat) else np.zeros(0, dtype=np.uint64)
    uni = (h % np.uint64(buckets)).astype(np.int32)
    per_doc = lens.copy()
    if ngrams == 2:
        pairs = np.maximum(lens - 1, 0)
        per_doc += pairs
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_doc, out=offsets[1:])
    out = np.empty(int(offsets[-1]), dtype=np.int32)
    word_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=word_start[1:])
    doc = np.repeat(np.arange(n, dtype=np.int64), lens)
    # a word's place: its document's offset + its rank inside the document
    out[offsets[doc] + np.arange(len(doc), dtype=np.int64) - word_start[doc]] = uni
    if ngrams == 2 and len(doc) > 1:
        same = doc[:-1] == doc[1:]
        first = np.flatnonzero(same)
        bi = (bigram_hash(h[first], h[first + 1]) % np.uint64(buckets)).astype(np.int32)
        d = doc[first]
        out[offsets[d] + lens[d] + first - word_start[d]] = bi
    return offsets, out, null


def bucket_counts(texts: list[str], hash_seed: int, buckets: int, ngrams: int) -> np.ndarray:
    """Summed bucket counts (int64) of a list of texts."""
    _, flat, _ = features(pl.Series(texts, dtype=pl.String), hash_seed, buckets, ngrams)
    return np.bincount(flat, minlength=buckets).astype(np.int64)


def log_ratio(target_counts: np.ndarray, raw_counts: np.ndarray) -> np.ndarray:
    """log p_target - log p_raw per bucket, both add-one smoothed."""
    t = target_counts.astype(np.float64) + 1.0
    r = raw_counts.astype(np.float64) + 1.0
    return (np.log(t) - np.log(t.sum())) - (np.log(r) - np.log(r.sum()))


def fit_frame(buckets: int, ngrams: int, hash_seed: int, target: np.ndarray, raw: np.ndarray, target_identity: str | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {"buckets": [buckets], "ngrams": [ngrams], "hash_seed": [hash_seed],
         "target_counts": [target.tolist()], "raw_counts": [raw.tolist()], "target_identity": [target_identity]},
        schema={"buckets": pl.Int64, "ngrams": pl.Int64, "hash_seed": pl.UInt64,
                "target_counts": pl.List(pl.Int64), "raw_counts": pl.List(pl.Int64), "target_identity": pl.String},
    )


def read_fit(path: str) -> dict[str, Any]:
    """A saved fit; a file that is not one is a ConfigError naming it."""
    try:
        row = pl.read_parquet(path).row(0, named=True)
        fit = {"buckets": int(row["buckets"]), "ngrams": int(row["ngrams"]), "hash_seed": int(row["hash_seed"]),
               "target": np.asarray(row["target_counts"], dtype=np.int64), "raw": np.asarray(row["raw_counts"], dtype=np.int64),
               "target_identity": row.get("target_identity")}  # absent in fits written before identities
    except Exception as err:
        raise ConfigError(f"dsir fit {path}: not a fit file ({type(err).__name__}: {err})",
                          hint="remove it to fit again, or point `fit` at a file a dsir_score run wrote") from err
    if len(fit["target"]) != fit["buckets"] or len(fit["raw"]) != fit["buckets"]:
        raise ConfigError(f"dsir fit {path}: counts do not have {fit['buckets']} buckets")
    return fit


@committer(FIT_KIND)
def commit_fit(staged: Path, desc: dict[str, Any]) -> int:
    """Write a staged fit to its target, unless a fit of the same target is already there (a fit
    of another target is replaced: the run fitted again because its target changed)."""
    from curate.io.shards import write_parquet_atomic

    target = Path(desc["target"])
    frame = pl.read_parquet(staged)
    if target.exists():
        new = frame["target_identity"][0] if "target_identity" in frame.columns else None
        old = pl.read_parquet(target)["target_identity"][0] if "target_identity" in pl.read_parquet_schema(target) else None
        if new is None or old is None or new == old:
            return 0
    write_parquet_atomic(frame, target)
    return frame.height


class DsirScore(GlobalStage):
    """Scores every document's DSIR log importance weight (target vs pool) into ``column``.

    Reads ``text``. Keys: per document its feature buckets (a list of int32, ~2 per word, on
    disk). Resolve streams them one shard at a time, twice (memory: ``buckets`` counts plus one
    shard's keys). Resolve: the pool's bucket counts (or the saved fit's), the log ratio per
    bucket, and each document's score as decisions (id, score). Apply: joins the score on id. A null
    text scores null, a text without words 0. Setup reads the target files, or the fit if it exists
    and was made from the same target.
    """

    kind = "dsir_score"
    Config = DsirScoreConfig
    requires: ClassVar[frozenset[str]] = frozenset({"id", "text"})

    def __init__(self, cfg: DsirScoreConfig) -> None:
        super().__init__(cfg)
        self.cfg: DsirScoreConfig = cfg
        self._texts: list[str] | None = None
        self._fit: dict[str, Any] | None = None
        self._identity: str | None = None
        self._replaces = False
        self._ready = False

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg, "_texts": None, "_fit": None, "_identity": None, "_replaces": False, "_ready": False}

    def config_fingerprint(self) -> dict[str, Any]:
        """The config and whether the fit file exists (with its size and mtime): a fit written
        by an earlier run changes the stage (it is scored against, not fitted)."""
        out = self.cfg.model_dump(mode="json")
        fit = Path(self.cfg.fit) if self.cfg.fit else None
        if fit is not None and fit.is_file():
            st = fit.stat()
            out["fit_file"] = [st.st_size, st.st_mtime_ns]
        return out

    def added_columns(self) -> set[str]:
        return {self.cfg.column}

    def added_schema(self) -> dict[str, pl.DataType | None]:
        return {self.cfg.column: pl.Float64()}

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {self.cfg.column: pl.Float64()}

    def setup(self) -> None:
        """Read the fit if it exists and records the same target, else the target files (once per worker)."""
        self._identity = self.cfg.target_identity()
        if self.cfg.fit and Path(self.cfg.fit).is_file():
            self._fit = read_fit(self.cfg.fit)
            made_from = self._fit["target_identity"]
            self._replaces = made_from is not None and self._identity is not None and made_from != self._identity
            if self._replaces:  # made from another target: fit again, and the new fit replaces it
                self._fit = None
        if self._fit is not None:
            for key in ("buckets", "ngrams"):
                if key in self.cfg.model_fields_set and getattr(self.cfg, key) != self._fit[key]:
                    raise ConfigError(
                        f"dsir_score: {key} {getattr(self.cfg, key)} differs from the fit's {self._fit[key]} ({self.cfg.fit})",
                        hint="scores against a fit use its settings: drop the key, or fit again into a new file",
                    )
        else:
            from curate.decontam.evalsets import read_eval_set

            texts: list[str] = []
            for i, t in enumerate(self.cfg.target):
                texts += read_eval_set(f"target[{i}]", t.path, list(t.fields), fmt=t.format).texts
            if not texts:
                raise ConfigError("dsir_score: the target files hold no documents")
            self._texts = texts
        self._ready = True

    def _settings(self, ctx: StageContext) -> tuple[int, int, int]:
        """(hash seed, buckets, ngrams): the fit's when one is loaded."""
        if not self._ready:
            self.setup()
        if self._fit is not None:
            return self._fit["hash_seed"], self._fit["buckets"], self._fit["ngrams"]
        base = self.cfg.seed if self.cfg.seed is not None else ctx.seed
        return derive_seed(base, "dsir"), self.cfg.buckets, self.cfg.ngrams

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        import pyarrow as pa

        seed, buckets, ngrams = self._settings(ctx)
        offsets, flat, null = in_slices(features, batch["text"], seed, buckets, ngrams)
        lists = pa.LargeListArray.from_arrays(pl.Series(offsets).to_arrow(), pl.Series(flat).to_arrow())
        col = pl.Series(BUCKETS_COLUMN, pl.from_arrow(lists), dtype=pl.List(pl.Int32))
        out = pl.DataFrame({"id": batch["id"], BUCKETS_COLUMN: col})
        if null.any():
            out = out.with_columns(pl.when(pl.Series(null)).then(None).otherwise(pl.col(BUCKETS_COLUMN)).alias(BUCKETS_COLUMN))
        return out

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        """Two passes over the key files, one shard at a time: the pool's bucket counts, then
        each document's score (memory: the counts plus one shard's keys)."""
        seed, buckets, ngrams = self._settings(ctx)
        if self._fit is not None:
            target, raw = self._fit["target"], self._fit["raw"]
        else:
            assert self._texts is not None
            target = bucket_counts(self._texts, seed, buckets, ngrams)
            raw = np.zeros(buckets, dtype=np.int64)
            for frame in keys_by_shard(keys.select("id", BUCKETS_COLUMN, *self._shard_column(keys))):
                for part in frame.iter_slices(4096):
                    raw += np.bincount(part[BUCKETS_COLUMN].explode().drop_nulls().to_numpy(), minlength=buckets)
            if self._replaces:
                ctx.count("fit_replaced", 1)
            if self.cfg.fit:
                ctx.side_state["dsir_fit"] = SideWrite(
                    FIT_KIND, self.cfg.fit, fit_frame(buckets, ngrams, seed, target, raw, self._identity),
                    params={"buckets": buckets, "ngrams": ngrams, "hash_seed": seed},
                )
        ratio = log_ratio(target, raw)
        parts = [
            self._score_shard(part, ratio, ctx)
            for frame in keys_by_shard(keys.select("id", BUCKETS_COLUMN, *self._shard_column(keys)))
            for part in frame.iter_slices(4096)
        ]
        if not parts:
            return pl.DataFrame(schema={"id": pl.String, REJECT: pl.String, **self.decision_schema()})
        return pl.concat(parts)

    @staticmethod
    def _shard_column(keys: pl.LazyFrame) -> list[str]:
        return ["_shard"] if "_shard" in keys.collect_schema().names() else []

    def _score_shard(self, frame: pl.DataFrame, ratio: np.ndarray, ctx: StageContext) -> pl.DataFrame:
        lens = frame[BUCKETS_COLUMN].list.len()
        flat = frame[BUCKETS_COLUMN].explode().drop_nulls().to_numpy().astype(np.int64)
        counts = lens.fill_null(0).to_numpy().astype(np.int64)
        doc = np.repeat(np.arange(frame.height, dtype=np.int64), counts)
        scores = np.bincount(doc, weights=ratio[flat], minlength=frame.height) if frame.height else np.zeros(0)
        score = pl.Series(self.cfg.column, scores, dtype=pl.Float64)
        ctx.count("docs_scored", int(frame.height - lens.null_count()))
        ctx.count("features", int(len(flat)))
        return pl.DataFrame({"id": frame["id"]}).with_columns(
            pl.lit(None, dtype=pl.String).alias(REJECT),
            pl.when(lens.is_null()).then(None).otherwise(score).alias(self.cfg.column),
        )

    def apply(self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        col = self.cfg.column
        dec = decisions.select("id", col) if decisions.height else pl.DataFrame(schema={"id": pl.String, col: pl.Float64})
        return batch.drop(col, strict=False).join(dec, on="id", how="left", maintain_order="left")
