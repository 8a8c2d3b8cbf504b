"""Rule-based filtering: keep or reject documents by named expressions over any column."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from curate.errors import ConfigError
from curate.quality.signals import family_of
from curate.rules import Rule, excerpt, parse_rule, rule_columns, rule_syntax_error
from curate.stages.base import REJECT, REJECT_DETAIL, FilterStage, StageConfig, StageContext

PRESETS: dict[str, dict[str, str]] = {
    # Rae et al. 2021 (Gopher), appendix A.1.1; datatrove GopherQualityFilter defaults.
    "gopher_quality": {
        "gopher_min_words": "gopher_word_count >= 50",
        "gopher_max_words": "gopher_word_count <= 100000",
        "gopher_min_mean_word_length": "gopher_mean_word_length >= 3",
        "gopher_max_mean_word_length": "gopher_mean_word_length <= 10",
        "gopher_max_hash_ratio": "gopher_hash_ratio <= 0.1",
        "gopher_max_ellipsis_ratio": "gopher_ellipsis_ratio <= 0.1",
        "gopher_max_bullet_lines": "gopher_bullet_lines_frac <= 0.9",
        "gopher_max_ellipsis_lines": "gopher_ellipsis_lines_frac <= 0.3",
        "gopher_min_alpha_words": "gopher_alpha_words_frac >= 0.8",
        "gopher_min_stop_words": "gopher_stop_word_count >= 2",
    },
    # Rae et al. 2021, table A1; datatrove GopherRepetitionFilter defaults.
    "gopher_repetition": {
        "gopher_dup_para_frac": "gopher_dup_para_frac <= 0.3",
        "gopher_dup_para_char_frac": "gopher_dup_para_char_frac <= 0.2",
        "gopher_dup_line_frac": "gopher_dup_line_frac <= 0.3",
        "gopher_dup_line_char_frac": "gopher_dup_line_char_frac <= 0.2",
        "gopher_top_2gram": "gopher_top_2gram_char_frac <= 0.2",
        "gopher_top_3gram": "gopher_top_3gram_char_frac <= 0.18",
        "gopher_top_4gram": "gopher_top_4gram_char_frac <= 0.16",
        "gopher_dup_5gram": "gopher_dup_5gram_char_frac <= 0.15",
        "gopher_dup_6gram": "gopher_dup_6gram_char_frac <= 0.14",
        "gopher_dup_7gram": "gopher_dup_7gram_char_frac <= 0.13",
        "gopher_dup_8gram": "gopher_dup_8gram_char_frac <= 0.12",
        "gopher_dup_9gram": "gopher_dup_9gram_char_frac <= 0.11",
        "gopher_dup_10gram": "gopher_dup_10gram_char_frac <= 0.1",
    },
    # Raffel et al. 2020 (C4); datatrove C4QualityFilter defaults (document-level decisions:
    # the line removals C4 also performs are a text modification, not a filter, and not done here).
    "c4_quality": {
        "c4_lorem_ipsum": "c4_lorem_ipsum == 0",
        "c4_curly_bracket": "c4_curly_bracket == 0",
        "c4_min_sentences": "c4_sentence_count >= 5",
    },
    # Penedo et al. 2024 (FineWeb); datatrove FineWebQualityFilter defaults.
    "fineweb_quality": {
        "fineweb_line_punct": "fineweb_line_punct_frac >= 0.12",
        "fineweb_short_lines": "fineweb_short_line_frac <= 0.67",
        "fineweb_dup_line_chars": "fineweb_dup_line_char_frac <= 0.01",
        "fineweb_list_ratio": "fineweb_list_ratio <= 0.3",
    },
}
"""Published thresholds as named rules; a rule fails (rejects) when its signal is undefined."""

CHAINS: dict[str, tuple[str | dict[str, object], ...]] = {
    # Rae et al. 2021; datatrove runs the repetition filter first (examples/fineweb.py).
    "gopher": ("gopher_repetition", "gopher_quality"),
    # Raffel et al. 2020; datatrove C4QualityFilter with its defaults: line cleaning that rewrites
    # the text, then the document-level drops (lorem ipsum, curly bracket, under 5 sentences).
    "c4": ({"kind": "c4_clean"},),
    # Penedo et al. 2024 (FineWeb), the heuristic part of datatrove's examples/fineweb.py in its
    # order: Gopher repetition, Gopher quality, C4 (filter_no_terminal_punct=False), FineWeb quality;
    # the FineWeb signals are computed on the text C4 cleaned.
    "fineweb": (
        "gopher_repetition",
        "gopher_quality",
        {"kind": "c4_clean", "terminal_punct": False},
        "fineweb_quality",
    ),
}
"""Published chains: rule presets (names of PRESETS) and text-modifying stages (configs), in order.
The planner expands a filter naming one into filter and c4_clean steps (``expand_chains``)."""

PresetName = Literal[
    "gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality", "gopher", "c4", "fineweb"
]


class FilterConfig(StageConfig):
    kind: Literal["filter"] = "filter"
    rules: dict[str, str] = Field(
        default_factory=dict,
        description="Named rules that a document must pass, e.g. {min_words: "
        "'gopher_word_count >= 50'}; comparisons, and/or/not, in [...], arithmetic, columns. "
        "A rule named like a preset rule replaces it (to change one threshold).",
    )
    preset: PresetName | list[PresetName] | None = Field(
        None,
        description="Published rule set(s) to apply before `rules`: gopher_quality, "
        "gopher_repetition, c4_quality, fineweb_quality; or a published chain: gopher "
        "(repetition, then quality), c4 (c4_clean: C4's line cleaning, which rewrites the text), "
        "fineweb (FineWeb's order: Gopher repetition, Gopher quality, C4 cleaning without the "
        "terminal-punctuation rule, FineWeb quality on the cleaned text).",
    )
    explain: bool = Field(
        False, description="Record every failing rule (comma-separated) in the rejection detail."
    )

    @field_validator("preset", mode="before")
    @classmethod
    def _known_presets(cls, value: Any) -> Any:
        """A misspelt preset gets one line naming it, the nearest name and the presets, not the
        union's two type errors."""
        import difflib
        import typing

        names = typing.get_args(PresetName)
        for name in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
            if isinstance(name, str) and name not in names:
                near = difflib.get_close_matches(name, names, n=1)
                guess = f" (did you mean {near[0]!r}?)" if near else ""
                raise ValueError(f"unknown preset {name!r}{guess}; presets: {', '.join(names)}")
        return value

    @field_validator("rules")
    @classmethod
    def _check_rules(cls, rules: dict[str, str]) -> dict[str, str]:
        errors: list[InitErrorDetails] = []
        for name, text in rules.items():
            if not name.replace("_", "").isalnum():
                raise ValueError(f"rule name {name!r} must be letters, digits and underscores")
            # syntax, limits and literal ranges only; columns and types are checked against the plan
            problem = rule_syntax_error(text)
            if problem is not None:
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError("rule_syntax", "{detail}", {"detail": problem}),
                        loc=(name,),
                        input=None,  # the caret shows the rule; a long rule is not repeated whole
                    )
                )
        if errors:
            # one error per rule, located at `rules.NAME` (pydantic-core nests a ValidationError
            # raised here under the field's location)
            raise ValidationError.from_exception_data("FilterConfig", errors)
        return rules

    @model_validator(mode="after")
    def _some_rule(self) -> FilterConfig:
        if not self.rules and not self.preset:
            raise ValueError("give `rules`, a `preset`, or both")
        return self

    def presets(self) -> list[str]:
        if self.preset is None:
            return []
        return [self.preset] if isinstance(self.preset, str) else list(self.preset)

    def all_rules(self) -> dict[str, str]:
        """Preset rules first (in their published order), then the user's rules.

        A chain preset that rewrites text (c4, fineweb) must be expanded first (``expand_chains``).
        """
        out: dict[str, str] = {}
        for p in self.presets():
            for part in CHAINS.get(p, (p,)):
                if not isinstance(part, str):
                    raise ValueError(f"preset {p!r} is a chain of stages: expand it with expand_chains()")
                out.update(PRESETS[part])
        out.update(self.rules)
        return out

    def expand_chains(self) -> list[StageConfig]:
        """This filter as the stages it stands for: rule presets and the user's rules stay in
        filters, a chain's text-modifying stages (c4_clean) come between them, in order.

        Without a text-modifying chain preset the result is ``[self]``.
        """
        parts = [q for p in self.presets() for q in CHAINS.get(p, (p,))]
        if all(isinstance(q, str) for q in parts):
            return [self]
        from curate.stages.c4_clean import C4CleanConfig

        out: list[StageConfig] = []
        pending: list[str] = []
        user = dict(self.rules)  # a user rule named like a preset rule replaces it where it runs

        def flush(last: bool) -> None:
            names = {n for q in pending for n in PRESETS[q]}
            rules = {n: t for n, t in user.items() if last or n in names}
            for n in rules:
                user.pop(n)
            if pending or rules:
                preset = list(dict.fromkeys(pending)) or None
                out.append(FilterConfig(rules=rules, preset=preset, explain=self.explain))  # type: ignore[arg-type]
                pending.clear()

        for q in parts:
            if isinstance(q, str):
                pending.append(q)
            else:
                flush(False)
                out.append(C4CleanConfig(**q))  # type: ignore[arg-type]
        flush(True)
        return out


class Filter(FilterStage):
    """Rejects documents failing any rule; ``reject_reason`` is the first failing rule's name.

    Reads the columns its rules reference (signals from ``quality_score``, user metadata) and
    adds only the scratch columns ``_reject`` (and ``_reject_detail`` with ``explain``).
    Counts ``rule_<name>`` (documents failing each rule, evaluated independently) per batch.
    Memory: one boolean per rule and document.
    """

    kind: ClassVar[str] = "filter"
    Config: ClassVar[type[StageConfig]] = FilterConfig
    requires: ClassVar[frozenset[str]] = frozenset({"id"})

    def __init__(self, cfg: FilterConfig) -> None:
        super().__init__(cfg)
        self.cfg: FilterConfig = cfg
        self._rules: list[Rule] | None = None

    def compiled(self, known_columns: set[str] | None = None) -> list[Rule]:
        """The rules as polars expressions; with ``known_columns`` unknown columns are errors."""
        if known_columns is not None:
            return [parse_rule(n, t, known_columns) for n, t in self.cfg.all_rules().items()]
        if self._rules is None:
            self._rules = [parse_rule(n, t) for n, t in self.cfg.all_rules().items()]
        return self._rules

    def check_columns(self, known_columns: set[str]) -> None:
        """Plan-time check: raise ConfigError naming the rule, position and known columns."""
        self.compiled(known_columns)

    def check_schema(self, schema: Mapping[str, pl.DataType | None], where: str = "filter") -> None:
        """Plan-time check against the columns (and types, where known) earlier steps produce.

        Raises ConfigError ``{where}.rules.NAME: unknown column 'x' at position 3`` (hint: the
        known columns) or ``{where}.rules.NAME: column m is Int64, compared with a string`` (hint:
        the rule with a caret). A None type is not checked.
        """
        for name, text in self.cfg.all_rules().items():
            rule = parse_rule(name, text, schema, where=f"{where}.rules.{name}")
            problems = rule.type_problems(schema)
            if problems:
                message, pos = problems[0]
                raise ConfigError(
                    f"{where}.rules.{name}: {message}",
                    hint=f"at position {pos + 1} of the rule:" + excerpt(text, pos),
                )

    def required_columns(self) -> set[str]:
        cols = {"id"}
        for text in self.cfg.all_rules().values():
            cols |= rule_columns(text)
        return cols

    def needed_signal_families(self) -> set[str]:
        """quality_score heuristic families that produce columns the rules read.

        Lets the planner add scoring in front of ``curate filter --preset NAME`` on unscored input.
        """
        return {f for f in (family_of(c) for c in self.required_columns()) if f is not None}

    def __getstate__(self) -> dict[str, object]:
        # Compiled expressions are rebuilt on the worker; the config is what travels.
        return {**self.__dict__, "_rules": None}

    def reasons(self, batch: pl.DataFrame) -> list[tuple[str, pl.Expr]]:
        return [(r.name, r.expr_for(batch.schema)) for r in self.compiled()]

    def failures(self, batch: pl.DataFrame) -> pl.DataFrame:
        """One boolean column per rule (named like the rule): True where the document fails it.

        Each rule is evaluated on its own, so ``--dry-run`` can report what every rule would
        remove, with examples, even when an earlier rule already rejects the document.
        """
        schema = batch.schema
        return batch.select([r.expr_for(schema).fill_null(False).not_().alias(r.name) for r in self.compiled()])

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        rules = self.compiled()
        if not rules:
            return batch
        fails = self.failures(batch)
        for r in rules:
            ctx.count(f"rule_{r.name}", int(fails[r.name].sum()))
        # the first failing rule is the reason (as FilterStage.process), from the rules evaluated once
        reason: pl.Expr = pl.lit(None, dtype=pl.String)
        for r in reversed(rules):
            reason = pl.when(pl.lit(fails[r.name])).then(pl.lit(r.name)).otherwise(reason)
        if REJECT in batch.columns:
            reason = pl.coalesce(pl.col(REJECT), reason)
        out = batch.with_columns(reason.alias(REJECT))
        if self.cfg.explain:
            names = [pl.when(fails[r.name]).then(pl.lit(r.name)).otherwise(None) for r in rules]
            detail = pl.concat_str(names, separator=",", ignore_nulls=True)
            detail = pl.when(detail == "").then(None).otherwise(detail)
            if REJECT_DETAIL in out.columns:
                detail = pl.coalesce(pl.col(REJECT_DETAIL), detail)
            # only rows this stage rejects (or an earlier one already did) carry a detail
            out = out.with_columns(
                pl.when(pl.col(REJECT).is_not_null()).then(detail).otherwise(None).alias(REJECT_DETAIL)
            )
        return out
