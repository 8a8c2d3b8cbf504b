"""Benchmark decontamination: find eval items' word n-grams in documents; drop or cut them.

Eval sets are files the user gives (never downloaded). Three modes:

* ``drop``: a document with any matched n-gram is removed (datatrove's rule).
* ``span``: GPT-3 / TNLG style: a window around every match is cut out of the text, fragments
  shorter than ``min_fragment`` go too, and a document cut more than ``max_splits`` times (or
  left empty) is removed whole.
* ``coverage``: a document is removed when its matched n-grams span at least ``coverage`` of
  some eval item's words (robust to a lightly edited copy, blind to a stray shared phrase).

Global because of the frequency whitelist: an n-gram found in more than ``max_doc_frequency``
documents of the corpus is common language (a licence line, "the following is a list of"), not
a leaked test item, and is ignored in every mode, as in GPT-3's decontamination.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.stages.base import REJECT, REJECT_DETAIL, GlobalStage, StageConfig, StageContext

CONTAMINATED = "contaminated"
GRAMS = "_decontam_grams"
TOP = "_decontam_top"


class EvalSetConfig(BaseModel):
    """One eval set: a file of items whose text must not leak into the training data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", max_length=64,
        description="Name in `decontam_benchmarks`, rejection details, the manifest and the card.",
    )
    path: str = Field(min_length=1, description="JSON Lines, Parquet or CSV file (.gz allowed for text formats).")
    fields: list[str] = Field(
        default_factory=lambda: ["text"], min_length=1,
        description="Fields whose values, joined by newlines, are an item's text (e.g. [question, answer]).",
    )
    template: str | None = Field(
        None, description="Instead of `fields`: a text made from the row, e.g. \"{question}\\n{answer}\"."
    )
    id_field: str | None = Field(None, description="Field naming each item (e.g. task_id); else its line number.")
    format: Literal["auto", "jsonl", "csv", "parquet"] = Field("auto", description="File format; auto: from the suffix.")

    @model_validator(mode="after")
    def _fields_or_template(self) -> EvalSetConfig:
        if self.template is not None and "fields" in self.model_fields_set:
            raise ValueError("give `fields` or `template`, not both")
        if self.template is not None:
            from curate.decontam.evalsets import template_fields
            from curate.errors import ConfigError

            try:
                template_fields(self.template)
            except ConfigError as err:
                raise ValueError(err.message) from None
        return self


class DecontaminateConfig(StageConfig):
    kind: Literal["decontaminate"] = "decontaminate"
    evals: list[EvalSetConfig] = Field(min_length=1, description="Eval sets to protect (files you give; nothing is downloaded).")
    mode: Literal["drop", "span", "coverage"] = Field(
        "drop",
        description="drop: remove a document with any matched n-gram; span: cut a window around each "
        "match (GPT-3/TNLG); coverage: remove a document holding >= `coverage` of an item's n-grams.",
    )
    ngram: int = Field(13, ge=3, le=64, description="n-gram length in words (lowercased \\w+ tokens).")
    min_words: int = Field(
        8, ge=1, le=64,
        description="An item with fewer than `ngram` words but at least this many is matched as one "
        "gram (its whole text); shorter items are skipped and counted.",
    )
    coverage: float = Field(
        0.5, gt=0.0, le=1.0,
        description="coverage mode: a document is removed when its matched n-grams span this share of an item's words.",
    )
    window: int = Field(200, ge=0, le=1_000_000, description="span mode: characters cut on each side of a match.")
    min_fragment: int = Field(200, ge=0, le=1_000_000, description="span mode: shorter fragments left between cuts are dropped too.")
    max_splits: int = Field(10, ge=0, le=1_000_000, description="span mode: a document cut more often than this is removed whole.")
    max_doc_frequency: int | None = Field(
        10, ge=1,
        description="Ignore an n-gram found in more than this many documents of the corpus (common "
        "phrases, not leaks); null: never ignore.",
    )

    @field_validator("evals")
    @classmethod
    def _unique_names(cls, v: list[EvalSetConfig]) -> list[EvalSetConfig]:
        names = [e.name for e in v]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"eval set names must be unique (repeated: {', '.join(dups)})")
        return v

    @model_validator(mode="after")
    def _min_words(self) -> DecontaminateConfig:
        if self.min_words > self.ngram:
            raise ValueError(f"min_words ({self.min_words}) must be <= ngram ({self.ngram})")
        return self

    def with_paths(self, fix: Callable[[str], str]) -> DecontaminateConfig:
        return self.model_copy(update={"evals": [e.model_copy(update={"path": fix(e.path)}) for e in self.evals]})

    def input_paths(self) -> list[tuple[str, str]]:
        """Eval files: their content is part of the step's fingerprint (a changed file reruns the step)."""
        return [(f"evals[{i}].path", e.path) for i, e in enumerate(self.evals)]


class Decontaminate(GlobalStage):
    """Finds eval items' n-grams in ``text``; drops or cuts contaminated documents.

    Keys: per document with a match, the matched grams (int32 positions in the index). Resolve:
    counts the documents of each gram, ignores common ones, decides. Apply: adds
    ``decontam_benchmarks`` (eval sets matched), ``decontam_ngrams`` (distinct n-grams matched,
    common ones excluded), ``decontam_coverage`` (largest share of one item's words that matched n-grams span) and,
    in span mode, ``decontam_chars_removed``; removed documents go to ``rejected/`` as
    ``contaminated``. Memory: the index in every worker (~20 bytes per eval n-gram).
    """

    kind: ClassVar[str] = "decontaminate"
    Config: ClassVar[type[StageConfig]] = DecontaminateConfig
    requires: ClassVar[frozenset[str]] = frozenset({"id", "text"})

    def __init__(self, cfg: DecontaminateConfig) -> None:
        super().__init__(cfg)
        self.cfg: DecontaminateConfig = cfg
        self._index: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": None}  # rebuilt where it runs

    def added_columns(self) -> set[str]:
        return set(self.added_schema())

    def added_schema(self) -> dict[str, pl.DataType | None]:
        schema: dict[str, pl.DataType | None] = {
            "decontam_benchmarks": pl.List(pl.String),
            "decontam_ngrams": pl.Int32(),
            "decontam_coverage": pl.Float64(),
        }
        if self.cfg.mode == "span":
            schema["decontam_chars_removed"] = pl.Int32()
        return schema

    def setup(self) -> None:
        """Read the eval files and hash their n-grams (once per worker)."""
        from curate.decontam.evalsets import read_eval_set
        from curate.decontam.index import build_index

        sets = [read_eval_set(e.name, e.path, list(e.fields), e.template, e.id_field, e.format) for e in self.cfg.evals]
        self._index = build_index(sets, self.cfg.ngram, self.cfg.min_words)

    @property
    def index(self) -> Any:
        if self._index is None:
            self.setup()
        return self._index

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {
            REJECT_DETAIL: pl.String(),
            "decontam_benchmarks": pl.List(pl.String),
            "decontam_ngrams": pl.Int32(),
            "decontam_coverage": pl.Float64(),
            GRAMS: pl.List(pl.Int32),
            TOP: pl.String(),
        }

    # ---------------------------------------------------------------- keys

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        hits = self.index.scan(batch["text"])
        pairs = pl.DataFrame({"doc": hits.doc, "gram": hits.gram.astype(np.int32)}).unique()
        per_doc = pairs.group_by("doc").agg(pl.col("gram").sort().alias(GRAMS)).sort("doc")
        ids = batch["id"].gather(per_doc["doc"].to_numpy()) if per_doc.height else batch["id"].clear()
        return pl.DataFrame({"id": ids, GRAMS: per_doc[GRAMS]}, schema={"id": pl.String, GRAMS: pl.List(pl.Int32)})

    # ---------------------------------------------------------------- resolve

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        index, cfg = self.index, self.cfg
        ctx.count("decontam_index_ngrams", len(index.table))
        ctx.count("decontam_index_bytes", index.nbytes)
        for i, name in enumerate(index.names):
            ctx.count(f"decontam_items_{name}", int((index.item_set == i).sum()))
            if index.too_short.get(name):
                ctx.count(f"decontam_items_too_short_{name}", index.too_short[name])
        pairs = keys.select("id", pl.col(GRAMS).alias("gram")).explode("gram").drop_nulls("gram").collect()
        if cfg.max_doc_frequency is not None and pairs.height:
            freq = pairs.group_by("gram").agg(pl.col("id").n_unique().alias("docs"))
            common = freq.filter(pl.col("docs") > cfg.max_doc_frequency)["gram"]
            ctx.count("decontam_ngrams_ignored_common", common.len())
            pairs = pairs.filter(~pl.col("gram").is_in(common.implode()))
        if not pairs.height:
            return pl.DataFrame(schema={"id": pl.String, REJECT: pl.String, **self.decision_schema()})

        # (document, item) matches; an item's coverage is the share of its words that the matched
        # grams span (a word edit uncovers only the words no surviving gram spans, so a lightly
        # edited copy keeps most of its coverage; a share of *grams* would lose n of them per edit)
        rows, items, pos = index.items_of(pairs["gram"].to_numpy())
        occ = (
            pl.DataFrame({"id": pairs["id"].gather(rows), "item": items.astype(np.int32), "pos": pos})
            .unique()
            .sort("id", "item", "pos")
        )
        occ = occ.with_columns(pl.Series("span", index.gram_words(occ["item"].to_numpy())))
        gap = pl.col("pos").shift(-1).over("id", "item") - pl.col("pos")
        matches = (
            occ.with_columns(pl.min_horizontal(pl.col("span"), gap.fill_null(pl.col("span"))).alias("covered"))
            .group_by("id", "item")
            .agg(pl.len().alias("matched"), pl.col("covered").sum())
        )
        item = matches["item"].to_numpy()
        matches = matches.with_columns(
            pl.Series("coverage", matches["covered"].to_numpy() / np.maximum(index.item_words[item], 1)),
            pl.Series("set", index.item_set[item].astype(np.int32)),
        )

        def set_name(e: pl.Expr) -> pl.Expr:
            return e.replace_strict(list(range(len(index.names))), index.names, return_dtype=pl.String)

        per_set = matches.group_by("id", "set").agg(pl.col("matched").sum(), pl.col("coverage").max())
        decided = (
            per_set.sort("id", "matched", "set", descending=[False, True, False])
            .group_by("id", maintain_order=True)
            .agg(
                pl.col("set").sort().alias("sets"),
                pl.col("set").first().alias("top"),
                pl.col("coverage").max().alias("decontam_coverage"),
            )
            .join(pairs.group_by("id").agg(pl.col("gram").sort().alias(GRAMS)), on="id")
        )
        self._count_sets(matches, decided, index, ctx)
        if cfg.mode == "drop":
            reject = pl.lit(CONTAMINATED)
        elif cfg.mode == "coverage":
            reject = pl.when(pl.col("decontam_coverage") >= cfg.coverage).then(pl.lit(CONTAMINATED))
        else:
            reject = pl.lit(None, dtype=pl.String)  # span: apply cuts, and decides what is left
        detail = pl.format(
            "{} n-grams of {} (coverage {})",
            pl.col(GRAMS).list.len(),
            pl.col("sets").list.eval(set_name(pl.element())).list.join(", "),
            pl.col("decontam_coverage").round(3),
        )
        return decided.select(
            "id",
            reject.alias(REJECT),
            detail.alias(REJECT_DETAIL),
            pl.col("sets").list.eval(set_name(pl.element())).alias("decontam_benchmarks"),
            pl.col(GRAMS).list.len().cast(pl.Int32).alias("decontam_ngrams"),
            pl.col("decontam_coverage").cast(pl.Float64),
            pl.col(GRAMS).cast(pl.List(pl.Int32)),
            set_name(pl.col("top")).alias(TOP),
        ).sort("id")

    def _count_sets(self, matches: pl.DataFrame, decided: pl.DataFrame, index: Any, ctx: StageContext) -> None:
        """Per eval set: items found (in coverage mode, items reaching the threshold) and documents touched."""
        hit = matches if self.cfg.mode != "coverage" else matches.filter(pl.col("coverage") >= self.cfg.coverage)
        for (s,), part in hit.group_by("set"):
            ctx.count(f"decontam_items_hit_{index.names[int(s)]}", part["item"].n_unique())
        for (s,), part in matches.group_by("set"):
            ctx.count(f"decontam_docs_{index.names[int(s)]}", part["id"].n_unique())

    # ---------------------------------------------------------------- apply

    def apply(self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        out = super().apply(batch, decisions, ctx)
        for col, dtype in self.decision_schema().items():
            if col not in out.columns:
                out = out.with_columns(pl.lit(None, dtype=dtype).alias(col))
        out = out.with_columns(
            pl.col("decontam_benchmarks").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("decontam_ngrams").fill_null(0).cast(pl.Int32),
            pl.col("decontam_coverage").fill_null(0.0),
        )
        if self.cfg.mode == "span":
            out = self._cut(out, ctx)
        lengths = out.select(pl.col("text").str.len_chars().fill_null(0).alias("n"), TOP, REJECT).filter(pl.col(REJECT).is_not_null())
        for (name,), part in lengths.group_by(TOP):
            if name is not None:
                ctx.count(f"decontam_chars_removed_{name}", int(part["n"].sum()))
        return out.drop(TOP, GRAMS)

    def _cut(self, out: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        """Span mode: cut windows around the document's matches of its (uncommon) grams."""
        from curate.decontam.spans import char_positions, cut_windows

        cfg = self.cfg
        chars = np.zeros(out.height, dtype=np.int32)
        rows = np.flatnonzero(out[GRAMS].is_not_null().to_numpy())
        if not len(rows):
            return out.with_columns(pl.Series("decontam_chars_removed", chars))
        texts = out["text"].gather(rows)
        hits = self.index.scan(texts)
        wanted = out[GRAMS].gather(rows).to_list()
        new_text = out["text"].to_list()
        reject = out[REJECT].to_list()
        detail = out[REJECT_DETAIL].to_list()
        for k, row in enumerate(rows.tolist()):
            sel = hits.doc == k
            keep = np.isin(hits.gram[sel], np.asarray(wanted[k], dtype=np.int64))
            text = new_text[row] or ""
            starts = char_positions(text, hits.start[sel][keep])
            ends = char_positions(text, hits.end[sel][keep])
            result = cut_windows(text, starts, ends, cfg.window, cfg.min_fragment)
            if result.cuts > cfg.max_splits:
                reject[row] = CONTAMINATED
                detail[row] = f"cut {result.cuts} times (more than max_splits {cfg.max_splits}); {detail[row]}"
                ctx.count("decontam_docs_too_many_cuts")
            elif not result.text:
                reject[row] = CONTAMINATED
                detail[row] = f"nothing left after cutting; {detail[row]}"
                ctx.count("decontam_docs_nothing_left")
            else:
                new_text[row] = result.text
                chars[row] = result.chars_removed
                ctx.count("decontam_docs_cut")
                top = out[TOP][row]
                if top is not None:
                    ctx.count(f"decontam_chars_removed_{top}", result.chars_removed)
        return out.with_columns(
            pl.Series("text", new_text, dtype=pl.String),
            pl.Series(REJECT, reject, dtype=pl.String),
            pl.Series(REJECT_DETAIL, detail, dtype=pl.String),
            pl.Series("decontam_chars_removed", chars, dtype=pl.Int32),
        )
