"""C4 line cleaning: rewrites ``text`` with C4's line rules (datatrove 0.10.1 defaults)."""

from __future__ import annotations

from typing import ClassVar, Literal

import polars as pl
from pydantic import Field

from curate.quality.c4_lines import LINE_RULES, C4Rules, clean
from curate.stages.base import REJECT, REJECT_DETAIL, MapStage, StageConfig, StageContext

REMOVED_COLUMN = "c4_removed_lines"
"""With ``keep_removed``: the lines a document lost, each {rule, line} (the line as it was)."""
REASONS = {
    "lorem_ipsum": "c4_lorem_ipsum",
    "curly_bracket": "c4_curly_bracket",
    "too_few_sentences": "c4_too_few_sentences",
    "empty": "c4_empty",
}
"""Rejection reasons, by the rule that decides them."""


class C4CleanConfig(StageConfig):
    kind: Literal["c4_clean"] = "c4_clean"
    remove_citations: bool = Field(
        True, description="Cut Wikipedia-style citation markers ([1], [edit], [citation needed]) out of lines."
    )
    terminal_punct: bool = Field(
        True,
        description="Remove lines not ending in . ? ! \" ' (or ending in ...). FineWeb turns this off.",
    )
    min_words_per_line: int = Field(
        3, ge=0, description="Remove lines with fewer whitespace-separated words (0: off)."
    )
    max_word_length: int | None = Field(
        1000, ge=1, description="Remove lines holding a longer word (null: off)."
    )
    lorem_ipsum: bool = Field(True, description="Reject a document with 'lorem ipsum' in a line that reaches this rule.")
    javascript: bool = Field(True, description="Remove lines mentioning 'javascript' (any case).")
    curly_bracket: bool = Field(True, description="Reject a document with '{' in a line that reaches this rule.")
    policy: bool = Field(
        True, description="Remove lines with a terms-of-use, privacy-policy or cookie phrase (any case)."
    )
    min_sentences: int = Field(
        5, ge=0, description="Reject a document whose kept lines hold fewer sentences (0: off)."
    )
    keep_removed: bool = Field(
        False,
        description="Add `c4_removed_lines`: per document the removed lines as {rule, line} "
        "(lines whose citation markers were cut appear with rule `citation`).",
    )

    def rules(self) -> C4Rules:
        return C4Rules(
            remove_citations=self.remove_citations,
            terminal_punct=self.terminal_punct,
            min_words_per_line=self.min_words_per_line,
            max_word_length=self.max_word_length,
            lorem_ipsum=self.lorem_ipsum,
            javascript=self.javascript,
            curly_bracket=self.curly_bracket,
            policy=self.policy,
            min_sentences=self.min_sentences,
        )


class C4Clean(MapStage):
    """Rewrites ``text`` with C4's line rules; rejects documents C4 drops.

    Line rules, in order (``curate.quality.c4_lines``): a word over ``max_word_length``,
    citation markers cut, no terminal punctuation, fewer than ``min_words_per_line`` words,
    'lorem ipsum' (rejects the document), 'javascript', '{' (rejects the document), policy
    phrases. Kept lines are joined by newlines and the text stripped. A document with fewer
    than ``min_sentences`` sentences left is rejected ``c4_too_few_sentences``, one left empty
    ``c4_empty``, with ``_reject_detail`` giving the line counts; a rejected document keeps its
    original text. Counts ``c4_lines_total``, ``c4_lines_kept``, ``c4_lines_removed_<rule>``,
    ``c4_lines_citation`` and ``c4_docs_modified`` over the documents it keeps.
    Signals computed by a later stage see the new text (the planner re-scores after this stage).
    Memory: the batch's lines about three times over (raw, stripped, cut).
    """

    kind: ClassVar[str] = "c4_clean"
    Config: ClassVar[type[StageConfig]] = C4CleanConfig
    modifies_text: ClassVar[bool] = True

    def __init__(self, cfg: C4CleanConfig) -> None:
        super().__init__(cfg)
        self.cfg: C4CleanConfig = cfg

    def added_columns(self) -> set[str]:
        return {REMOVED_COLUMN} if self.cfg.keep_removed else set()

    def added_schema(self) -> dict[str, pl.DataType | None]:
        if not self.cfg.keep_removed:
            return {}
        return {REMOVED_COLUMN: pl.List(pl.Struct({"rule": pl.String(), "line": pl.String()}))}

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        res = clean(batch["text"], self.cfg.rules(), keep_removed=self.cfg.keep_removed)
        keep = res.reason.is_null()
        k = keep.to_numpy()
        ctx.count("c4_lines_total", int(res.lines[k].sum()))
        removed_total = 0
        for rule in LINE_RULES:
            n = int(res.removed[rule][k].sum())
            removed_total += n
            ctx.count(f"c4_lines_removed_{rule}", n)
        ctx.count("c4_lines_kept", int(res.lines[k].sum()) - removed_total)
        ctx.count("c4_lines_citation", int(res.removed["citation"][k].sum()))
        ctx.count("c4_docs_modified", int((keep & (res.text != batch["text"].fill_null(""))).sum()))
        kept_lines = res.lines - sum(res.removed[r] for r in LINE_RULES)
        info = pl.DataFrame(
            {
                "reason": res.reason.replace_strict(REASONS, default=None, return_dtype=pl.String),
                "kept": kept_lines,
                "lines": res.lines,
                "sentences": res.sentences,
            }
        ).with_columns(
            pl.when(pl.col("reason").is_in([REASONS["too_few_sentences"], REASONS["empty"]]))
            .then(pl.format("{} of {} lines kept, {} sentences", "kept", "lines", "sentences"))
            .alias("detail")
        )
        reason, detail = info["reason"], info["detail"]
        if REJECT in batch.columns:  # an earlier rejection stands
            reason = pl.select(pl.coalesce(batch[REJECT], reason)).to_series()
        if REJECT_DETAIL in batch.columns:
            detail = pl.select(pl.coalesce(batch[REJECT_DETAIL], detail)).to_series()
        text = pl.select(pl.when(reason.is_null()).then(res.text).otherwise(batch["text"])).to_series()
        new = [text.alias("text"), reason.alias(REJECT)]
        if detail.is_not_null().any() or REJECT_DETAIL in batch.columns:
            new.append(detail.alias(REJECT_DETAIL))
        if self.cfg.keep_removed:
            new.append(res.removed_lines.alias(REMOVED_COLUMN))  # type: ignore[union-attr]
        return batch.with_columns(new)
