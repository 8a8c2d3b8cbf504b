"""extract_html: documents whose text is HTML -> their main text (resiliparse, trafilatura, jusText, union)."""

from __future__ import annotations

from typing import ClassVar, Literal

import polars as pl
from pydantic import ConfigDict

from curate.html.options import HtmlOptions
from curate.stages.base import REJECT, REJECT_DETAIL, MapStage, StageConfig, StageContext


class ExtractHtmlConfig(StageConfig, HtmlOptions):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["extract_html"] = "extract_html"

    def options(self) -> HtmlOptions:
        return HtmlOptions(**self.model_dump(exclude={"kind"}))


class ExtractHtml(MapStage):
    """Replaces HTML in ``text`` by the page's main text, as ingest does for WARC and HTML files.

    Reads ``text`` (HTML). Writes ``text`` and ``html_extractor`` (the extractor whose output was
    kept: in ``union`` mode the winner of ``curate.html.extract.pick_union``). Rejects pages with
    ``no_main_content`` (nothing but boilerplate), ``html_too_large``, ``extract_timeout`` (over
    ``timeout_s``: the watchdog process is killed and restarted), ``extract_crashed`` and
    ``extract_error``. Counters: ``html_extractor_<name>``. Memory: the batch and its extracted
    text; one watchdog process per worker holding a group of at most 256 pages (64 MiB).
    Extraction is one library call per page (there is no batch form of these extractors): the
    per-row Python here is the extractor itself. Results are deterministic except for pages that
    hit ``timeout_s``, a safety cap far above normal extraction times (0.7 to 11 ms a page in
    benchmarks/html/RESULTS-html.md).
    """

    kind: ClassVar[str] = "extract_html"
    Config: ClassVar[type[StageConfig]] = ExtractHtmlConfig
    requires: ClassVar[frozenset[str]] = frozenset({"text"})
    adds: ClassVar[frozenset[str]] = frozenset({"html_extractor"})

    def __init__(self, cfg: ExtractHtmlConfig) -> None:
        super().__init__(cfg)
        self.cfg: ExtractHtmlConfig = cfg
        self.opts = cfg.options()

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        from curate.html.watchdog import extract_pages

        pages = extract_pages([(t or "", None) for t in batch["text"].to_list()], self.opts)
        for name, n in pl.Series([p.extractor for p in pages], dtype=pl.String).drop_nulls().value_counts().iter_rows():
            ctx.count(f"html_extractor_{name}", n)
        reasons = [p.reason for p in pages]
        columns = [
            pl.Series("text", [p.text if p.text is not None else t for p, t in zip(pages, batch["text"].to_list(), strict=True)], dtype=pl.String),
            pl.Series("html_extractor", [p.extractor for p in pages], dtype=pl.String),
        ]
        if any(r is not None for r in reasons):
            columns += [pl.Series(REJECT, reasons, dtype=pl.String), pl.Series(REJECT_DETAIL, [p.detail for p in pages], dtype=pl.String)]
        return batch.with_columns(columns)
