"""Options of HTML extraction, shared by ingest (`input.sources[].html`) and the `extract_html` stage."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Extractor = Literal["resiliparse", "trafilatura", "justext"]
EXTRACTORS: tuple[str, ...] = ("resiliparse", "trafilatura", "justext")


class HtmlOptions(BaseModel):
    """How an HTML page becomes text, and the caps that keep one page from stalling a worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extractor: Literal["resiliparse", "trafilatura", "justext", "union"] = Field(
        "resiliparse",
        description="Main-content extractor: resiliparse (fast, C++), trafilatura, justext, or union: run the two "
        "extractors in `union_of` and keep the first's output unless the second's has more than "
        "`union_margin_words` words more (the winner is recorded in `html_extractor`).",
    )
    union_of: list[Extractor] = Field(
        default_factory=lambda: ["trafilatura", "resiliparse"],
        min_length=2,
        max_length=2,
        description="The two extractors of `union` mode, the preferred (more precise) one first.",
    )
    union_margin_words: int = Field(
        20,
        ge=0,
        le=100_000,
        description="Union rule: the second extractor's output is kept only when it has more than this many "
        "words more than the first's (see curate.html.extract.pick_union).",
    )
    justext_language: str = Field(
        "English", min_length=1, max_length=40, description="jusText stop-word list (a language name jusText ships)."
    )
    timeout_s: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="Hard cap on one page's extraction time, enforced by a watchdog process that is killed and "
        "restarted when a page overruns (rejected as `extract_timeout`); 0: extract in the worker itself, no cap.",
    )
    max_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        description="Pages larger than this many bytes are rejected as `html_too_large` before any parser sees them.",
    )
    min_chars: int = Field(
        1,
        ge=1,
        description="Extracted text shorter than this (after stripping) is rejected as `no_main_content` "
        "(a page of navigation, boilerplate or scripts only).",
    )

    @model_validator(mode="after")
    def _check(self) -> HtmlOptions:
        if self.union_of[0] == self.union_of[1]:
            raise ValueError(f"union_of: two different extractors are needed, got {self.union_of[0]} twice")
        import importlib.util

        for name in self.runs():
            module = {"justext": "lxml_html_clean"}.get(name, name)
            if name != "resiliparse" and (importlib.util.find_spec(name) is None or importlib.util.find_spec(module) is None):
                raise ValueError(f"extractor {name} is not installed: pip install 'curate[html]'")
        if "justext" in self.runs():
            import justext

            if self.justext_language not in justext.get_stoplists():
                raise ValueError(
                    f"justext_language: jusText has no stop-word list {self.justext_language!r} "
                    "(e.g. English, German, French, Spanish)"
                )
        return self

    def runs(self) -> tuple[str, ...]:
        """The extractors this configuration runs on every page."""
        return tuple(self.union_of) if self.extractor == "union" else (self.extractor,)
