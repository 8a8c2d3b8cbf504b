"""Quality scoring: adds heuristic signal columns, fastText classifier scores and language ID."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.quality.signals import resolve_families, signal_columns
from curate.stages.base import MapStage, StageConfig, StageContext

FamilyName = Literal[
    "gopher", "gopher_quality", "gopher_repetition", "c4", "c4_quality", "fineweb", "fineweb_quality"
]


class FastTextScorer(BaseModel):
    """One fastText classifier: its probability for ``label`` becomes column ``fasttext_<name>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", description="Column suffix: the score is `fasttext_<name>`."
    )
    path: str = Field(min_length=1, description="Path to a fastText .bin/.ftz model.")
    label: str = Field(
        "__label__hq", min_length=1, description="Label whose probability is the score."
    )


class QualityScoreConfig(StageConfig):
    kind: Literal["quality_score"] = "quality_score"
    heuristics: list[FamilyName] = Field(
        default_factory=lambda: ["gopher", "c4", "fineweb"],
        description="Heuristic families to compute: gopher (= gopher_quality + "
        "gopher_repetition), c4, fineweb; each adds `<family>_<signal>` columns.",
    )
    fasttext: list[FastTextScorer] = Field(
        default_factory=list, description="fastText classifiers, each adding `fasttext_<name>`."
    )
    langid: bool = Field(False, description="Add `lang` and `lang_score` (language identification).")
    langid_backend: Literal["fasttext", "py3langid"] = Field(
        "fasttext",
        description="Language-ID model: `fasttext` runs fastText's lid.176.ftz shipped with curate "
        "(176 languages, CC BY-SA 3.0; no download), or the model in `langid_model`; `py3langid` "
        "runs py3langid's bundled model (97 languages) in a compiled kernel.",
    )
    langid_model: str | None = Field(
        None,
        description="fastText language-ID model (lid.176.bin/.ftz, GlotLID) used instead of the "
        "shipped lid.176.ftz (fasttext backend only). Setting it turns `langid` on.",
    )
    langid_max_chars: int | None = Field(
        None, ge=100, le=10_000_000,
        description="Language ID reads only the first this many characters of each text; null: the "
        "whole text (as datatrove and FineWeb). 1000 is ~2.4x faster and gives the same language for "
        "99.8 % of real documents (benchmarks/quality/RESULTS-quality.md).",
    )
    batch_size: int = Field(
        4096, ge=1, le=1_000_000, description="Texts per fastText/langid prediction call."
    )

    @field_validator("fasttext")
    @classmethod
    def _unique_names(cls, v: list[FastTextScorer]) -> list[FastTextScorer]:
        names = [s.name for s in v]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"fastText scorer names must be unique (repeated: {', '.join(dups)})")
        return v

    @model_validator(mode="after")
    def _something(self) -> QualityScoreConfig:
        if self.langid_backend == "py3langid":
            if self.langid_model is not None:
                raise ValueError(
                    "langid_model is a fastText model: it needs langid_backend: fasttext "
                    "(py3langid has its own model)"
                )
            if not self.langid:
                raise ValueError("langid_backend: py3langid needs langid: true")
        if not self.heuristics and not self.fasttext and not self.use_langid():
            raise ValueError("nothing to compute: give heuristics, fasttext or langid")
        return self

    def use_langid(self) -> bool:
        return self.langid or self.langid_model is not None

    def with_paths(self, fix: Callable[[str], str]) -> QualityScoreConfig:
        return self.model_copy(
            update={
                "fasttext": [s.model_copy(update={"path": fix(s.path)}) for s in self.fasttext],
                "langid_model": fix(self.langid_model) if self.langid_model else None,
            }
        )

    def langid_model_path(self) -> str | None:
        """The fastText LID model file language ID reads: ``langid_model``, else the shipped
        lid.176.ftz; None with py3langid or language ID off."""
        if not self.use_langid() or self.langid_backend != "fasttext":
            return None
        if self.langid_model:
            return self.langid_model
        from curate.quality.models import LID_176_FTZ  # a path only: no heavy import

        return str(LID_176_FTZ)

    def input_paths(self) -> list[tuple[str, str]]:
        """Model files read, the shipped LID model included: their content is part of the step's
        fingerprint."""
        paths = [(f"fasttext[{i}].path", s.path) for i, s in enumerate(self.fasttext)]
        lid = self.langid_model_path()
        if lid is not None:
            paths.append(("langid_model", lid))
        return paths


class QualityScore(MapStage):
    """Adds quality signal columns; never rejects.

    Reads ``text``. Writes the configured heuristic signals (Float64, ``<family>_<signal>``),
    ``fasttext_<name>`` (Float64 probability) per classifier, and ``lang``/``lang_score``
    (fastText's lid.176.ftz shipped with curate by default, or py3langid's model).
    Memory while computing a batch: about 40 bytes per word token (~8x the text size) plus
    its lines; the models once per worker (lid.176.ftz ~3 MB; py3langid's ~140 MB).
    """

    kind: ClassVar[str] = "quality_score"
    Config: ClassVar[type[StageConfig]] = QualityScoreConfig
    requires: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, cfg: QualityScoreConfig) -> None:
        super().__init__(cfg)
        self.cfg: QualityScoreConfig = cfg
        self.families = resolve_families(cfg.heuristics)
        self._scorers: list[Any] = []
        self._langid: Any = None
        self._ready = False
        # depends on the config, so it shadows the ClassVar per instance (the planner reads it)
        self.requires_packages = self.required_packages()  # type: ignore[misc]

    def required_packages(self) -> tuple[tuple[str, str], ...]:
        """(import name, pip extra) pairs this config needs; depends on the config, unlike the ClassVar."""
        pkgs: list[tuple[str, str]] = []
        if self.cfg.fasttext or self.cfg.langid_model_path() is not None:
            pkgs.append(("fasttext", "quality"))
        if self.cfg.use_langid() and self.cfg.langid_backend == "py3langid":
            pkgs.append(("py3langid", "quality"))
        return tuple(pkgs)

    def added_columns(self) -> set[str]:
        return set(self.output_columns())

    def added_schema(self) -> dict[str, pl.DataType | None]:
        """Heuristic signals and fastText probabilities are Float64; ``lang`` String, ``lang_score`` Float64."""
        return {c: (pl.String() if c == "lang" else pl.Float64()) for c in self.output_columns()}

    def model_paths(self) -> list[str]:
        """Model files this config reads (the shipped LID model included)."""
        return [path for _, path in self.cfg.input_paths()]

    def output_columns(self) -> list[str]:
        """Added columns in the order they are written."""
        cols = signal_columns(self.families)
        cols += [f"fasttext_{s.name}" for s in self.cfg.fasttext]
        if self.cfg.use_langid():
            cols += ["lang", "lang_score"]
        return cols

    def setup(self) -> None:
        """Load every model once per worker (fastText and language ID), from local files only."""
        from curate.quality.fasttext_model import FastTextScorerModel
        from curate.quality.langid import LanguageIdentifier

        self._scorers = [FastTextScorerModel(s.path, s.label) for s in self.cfg.fasttext]
        if self.cfg.use_langid():
            self._langid = LanguageIdentifier(self.cfg.langid_model, self.cfg.langid_backend)
        self._ready = True

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_scorers=[], _langid=None, _ready=False)  # models never travel
        return state

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        if not self._ready and (self.cfg.fasttext or self.cfg.use_langid()):
            self.setup()
        text = batch["text"]
        parts = [batch.drop([c for c in self.output_columns() if c in batch.columns])]
        if self.families:
            from curate.quality.heuristics import compute_signals  # numba: loaded where it runs

            parts.append(compute_signals(text, self.families))
        for spec, model in zip(self.cfg.fasttext, self._scorers, strict=True):
            parts.append(
                pl.DataFrame({f"fasttext_{spec.name}": model.score(text, self.cfg.batch_size)})
            )
        if self._langid is not None:
            head = text.str.slice(0, self.cfg.langid_max_chars) if self.cfg.langid_max_chars else text
            parts.append(self._langid.identify(head, self.cfg.batch_size))
        return pl.concat(parts, how="horizontal")
