"""Token counts: adds ``token_count`` per document with an offline tokenizer, and totals per source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import Field, model_validator

from curate.stages.base import CORE_COLUMNS, MapStage, StageConfig, StageContext

TOTAL = "tokens_total"
"""Counter: tokens of every document the stage saw."""
SOURCE_PREFIX = "tokens_source_"
"""Counter prefix: tokens per value of the ``source`` column (``(none)`` for a null source)."""


class TokensConfig(StageConfig):
    kind: Literal["tokens"] = "tokens"
    tokenizer: Literal["cl100k_base", "o200k_base", "whitespace", "file"] = Field(
        "cl100k_base",
        description="How text is cut into tokens: `cl100k_base` (GPT-4, GPT-3.5) or `o200k_base` "
        "(GPT-4o) BPE from rank files shipped with curate (tiktoken's, MIT; never downloaded), "
        "`whitespace` (runs of non-space characters), or `file`: the Hugging Face "
        "`tokenizer.json` in `path`. Special-token strings in the text count as plain text, and "
        "no BOS/EOS tokens are added.",
    )
    path: str | None = Field(
        None,
        min_length=1,
        description="A Hugging Face `tokenizer.json` (needs `tokenizer: file`; read with the "
        "`tokenizers` package, from disk only).",
    )
    column: str = Field(
        "token_count",
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        max_length=64,
        description="Name of the added Int32 column. Export sums it per split and source only "
        "under its default name `token_count`.",
    )

    @model_validator(mode="after")
    def _path_matches_tokenizer(self) -> TokensConfig:
        if self.tokenizer == "file" and self.path is None:
            raise ValueError("tokenizer: file needs `path`, a Hugging Face tokenizer.json")
        if self.tokenizer != "file" and self.path is not None:
            raise ValueError(f"path is read only with tokenizer: file (tokenizer is {self.tokenizer})")
        if self.column in CORE_COLUMNS:
            raise ValueError(f"column: {self.column!r} is a core column; pick another name")
        return self

    def with_paths(self, fix: Callable[[str], str]) -> TokensConfig:
        return self.model_copy(update={"path": fix(self.path)}) if self.path else self

    def rank_file(self) -> str | None:
        """The shipped BPE rank file this config reads (None for whitespace and file)."""
        if self.tokenizer in ("cl100k_base", "o200k_base"):
            from curate.tokenize import ENCODINGS  # paths only: no heavy import

            return str(ENCODINGS[self.tokenizer].file)
        return None

    def input_paths(self) -> list[tuple[str, str]]:
        """The tokenizer file read, shipped ranks included: its content is in the step's fingerprint."""
        if self.path:
            return [("path", self.path)]
        ranks = self.rank_file()
        return [("tokenizer", ranks)] if ranks else []


class Tokens(MapStage):
    """Adds an Int32 token count per document; never rejects.

    Reads ``text`` (and ``source``, when present, for the totals). Writes ``token_count`` (or
    ``column``): null for a null text, 0 for an empty one. Counts ``tokens_total`` and
    ``tokens_source_<source>`` (the step manifest's ``tokens`` table and the dataset card).
    Holds the tokenizer once per worker (cl100k_base ~40 MiB, o200k_base ~80 MiB of ranks;
    whitespace nothing) and, while encoding, Python copies of at most 8,192 texts. Encoding runs
    in the worker's own thread: a worker has one core.
    """

    kind: ClassVar[str] = "tokens"
    Config: ClassVar[type[StageConfig]] = TokensConfig
    requires: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, cfg: TokensConfig) -> None:
        super().__init__(cfg)
        self.cfg: TokensConfig = cfg
        self._counter: Any = None
        # depends on the config, so it shadows the ClassVar per instance (the planner reads it)
        self.requires_packages = (("tokenizers", "tokens"),) if cfg.tokenizer == "file" else ()  # type: ignore[misc]

    def added_columns(self) -> set[str]:
        return {self.cfg.column}

    def added_schema(self) -> dict[str, pl.DataType | None]:
        return {self.cfg.column: pl.Int32()}

    def setup(self) -> None:
        """Load the tokenizer once per worker, from local files only."""
        from curate.tokenize import make_counter

        self._counter = make_counter(self.cfg.tokenizer, self.cfg.path)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_counter"] = None  # tokenizers never travel
        return state

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        if self._counter is None:
            self.setup()
        counts = self._counter.count(batch["text"]).alias(self.cfg.column)
        total = int(counts.sum() or 0)
        if total:  # counters keep no zeros (merged counters drop them): absent means 0
            ctx.count(TOTAL, total)
            source = batch["source"].cast(pl.String) if "source" in batch.columns else pl.repeat(None, batch.height, dtype=pl.String, eager=True)
            per_source = pl.DataFrame({"source": source.fill_null("(none)"), "n": counts}).group_by("source").agg(pl.col("n").sum())
            for name, n in per_source.iter_rows():
                if n:
                    ctx.count(SOURCE_PREFIX + name, int(n))
        return batch.drop(self.cfg.column, strict=False).with_columns(counts)
