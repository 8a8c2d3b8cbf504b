"""Chunks for RAG and GraphRAG: documents become token-sized, overlapping chunks with provenance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import Field, model_validator

from curate.stages.base import REJECT, MapStage, StageConfig, StageContext

CHUNK_COLUMNS: dict[str, pl.DataType] = {
    "document_id": pl.String(),
    "chunk_index": pl.Int32(),
    "n_chunks": pl.Int32(),
    "n_tokens": pl.Int32(),
    "char_start": pl.Int64(),
    "char_end": pl.Int64(),
}
"""Columns every chunk row gets (besides a new ``id`` and ``text``)."""
EMPTY_REASON = "empty_text"


class ChunkConfig(StageConfig):
    kind: Literal["chunk"] = "chunk"
    max_tokens: int = Field(
        1200,
        ge=8,
        le=1_000_000,
        description="Most tokens in a chunk (graphrag's default chunk size is 1200). Chunks end at a "
        "paragraph or sentence boundary where one fits; a sentence longer than this is cut at "
        "whitespace, a word longer than this at characters.",
    )
    overlap: int = Field(
        100,
        ge=0,
        description="Tokens a chunk repeats from the end of the previous one, in whole sentences "
        "(at most this many; 0: none). Must be below max_tokens.",
    )
    tokenizer: Literal["cl100k_base", "o200k_base", "whitespace", "file"] = Field(
        "cl100k_base",
        description="How tokens are counted: `cl100k_base` or `o200k_base` (BPE ranks shipped with "
        "curate, never downloaded), `whitespace` (runs of non-space characters), or `file`: the "
        "Hugging Face `tokenizer.json` in `path`.",
    )
    path: str | None = Field(
        None, min_length=1, description="A Hugging Face `tokenizer.json` (needs `tokenizer: file`)."
    )

    @model_validator(mode="after")
    def _check(self) -> ChunkConfig:
        if self.overlap >= self.max_tokens:
            raise ValueError(f"overlap ({self.overlap}) must be below max_tokens ({self.max_tokens})")
        if self.tokenizer == "file" and self.path is None:
            raise ValueError("tokenizer: file needs `path`, a Hugging Face tokenizer.json")
        if self.tokenizer != "file" and self.path is not None:
            raise ValueError(f"path is read only with tokenizer: file (tokenizer is {self.tokenizer})")
        return self

    def with_paths(self, fix: Callable[[str], str]) -> ChunkConfig:
        return self.model_copy(update={"path": fix(self.path)}) if self.path else self

    def input_paths(self) -> list[tuple[str, str]]:
        if self.path:
            return [("path", self.path)]
        if self.tokenizer in ("cl100k_base", "o200k_base"):
            from curate.tokenize import ENCODINGS

            return [("tokenizer", str(ENCODINGS[self.tokenizer].file))]
        return []


class Chunk(MapStage):
    """Replaces each document by its chunks: one row per chunk, the document's other columns copied.

    Reads ``id`` and ``text``. A chunk row's ``id`` is ``<document id>#<chunk_index>``, its
    ``text`` is ``document_text[char_start:char_end]`` (surrounding whitespace left out), and it
    carries ``document_id``, ``chunk_index``, ``n_chunks``, ``n_tokens``, ``char_start`` and
    ``char_end`` (characters, Python string offsets) and every other column of its document
    (``source``, licence, url...), so the rows load as graphrag's ``text_units`` table.

    Accounting: a document with N chunks counts as 1 in, N - 1 added, N kept; a document with a
    null or blank text has no chunk and is rejected (``empty_text``), so ``in + added = kept +
    rejected`` holds per step. Memory: the batch's texts and their units as Python strings, once.
    """

    kind: ClassVar[str] = "chunk"
    Config: ClassVar[type[StageConfig]] = ChunkConfig
    adds_rows: ClassVar[bool] = True

    def __init__(self, cfg: ChunkConfig) -> None:
        super().__init__(cfg)
        self.cfg: ChunkConfig = cfg
        self._counter: Any = None
        self.requires_packages = (("tokenizers", "tokens"),) if cfg.tokenizer == "file" else ()  # type: ignore[misc]

    def added_columns(self) -> set[str]:
        return set(CHUNK_COLUMNS)

    def added_schema(self) -> dict[str, pl.DataType | None]:
        return dict(CHUNK_COLUMNS)

    def setup(self) -> None:
        """Load the tokenizer once per worker, from local files only."""
        from curate.tokenize import make_counter

        self._counter = make_counter(self.cfg.tokenizer, self.cfg.path)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_counter"] = None
        return state

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        from curate.chunk import chunk_spans

        if self._counter is None:
            self.setup()
        texts = batch["text"].cast(pl.String)
        spans = chunk_spans(texts.to_list(), self._counter, self.cfg.max_tokens, self.cfg.overlap)
        doc = pl.Series("_doc", [s.doc for s in spans], dtype=pl.UInt32)
        index = pl.Series("chunk_index", [s.index for s in spans], dtype=pl.Int32)
        start = pl.Series("char_start", [s.start for s in spans], dtype=pl.Int64)
        end = pl.Series("char_end", [s.end for s in spans], dtype=pl.Int64)
        n_tok = pl.Series("n_tokens", [s.n_tokens for s in spans], dtype=pl.Int32)
        base = batch.drop([c for c in CHUNK_COLUMNS if c in batch.columns]).with_row_index("_doc")
        order = ["id", *[c for c in base.columns if c not in ("id", "_doc")], *CHUNK_COLUMNS]
        rows = pl.DataFrame([doc, index, n_tok, start, end]).join(base, on="_doc", how="left", maintain_order="left")
        # a chunk's text: slice by characters (Python offsets are code points, as Polars' str.slice)
        rows = rows.with_columns(
            pl.col("id").cast(pl.String).alias("document_id"),
            pl.col("text").cast(pl.String).str.slice(pl.col("char_start"), pl.col("char_end") - pl.col("char_start")).alias("text"),
            (pl.col("id").cast(pl.String) + "#" + pl.col("chunk_index").cast(pl.String)).alias("id"),
            pl.len().over("_doc").cast(pl.Int32).alias("n_chunks"),
        )
        chunked = batch.height - base.join(rows.select(pl.col("_doc").unique()), on="_doc", how="anti").height
        ctx.count("chunk_documents", chunked)
        ctx.count("chunks", rows.height)
        ctx.count("chunk_tokens", int(n_tok.sum() or 0))
        if chunked == batch.height:
            return rows.select(order).with_columns(pl.lit(None, dtype=pl.String).alias(REJECT))
        # documents without a chunk stay in document order, rejected (batch invariance)
        empty = base.join(rows.select(pl.col("_doc").unique()), on="_doc", how="anti").with_columns(
            pl.col("id").cast(pl.String).alias("document_id"),
            *[pl.lit(None, dtype=t).alias(c) for c, t in CHUNK_COLUMNS.items() if c != "document_id"],
            pl.lit(EMPTY_REASON).alias(REJECT),
        )
        rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(REJECT))
        cols = [*order, REJECT, "_doc"]
        both = pl.concat([rows.select(cols), empty.select(cols).cast(rows.select(cols).schema)], how="vertical")
        return both.sort("_doc", "chunk_index", nulls_last=True, maintain_order=True).drop("_doc")
