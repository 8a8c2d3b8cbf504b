"""Bad-words filter: rejects documents holding a word of a user-given list for their language.

The matching follows C4 (Raffel et al. 2020) as datatrove's ``C4BadWordsFilter`` does it: the
text is lowercased (the words are not: lists are written in lower case), a word matches when it
is flanked by non-word characters or the text's ends, except in the languages written without
spaces (``substring_languages``: ja, th, zh by default) where any occurrence matches. curate
ships no list and downloads none: the user gives one file per language (one word or phrase a
line, blank lines ignored), and the files' content is part of the step's fingerprint. A list
with no words, and a language the config names beyond the defaults (``default_language`` other
than en, ``substring_languages`` other than ja, th, zh) without a list, are config errors: either
would let documents pass unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator

from curate.errors import ConfigError
from curate.stages.base import REJECT, REJECT_DETAIL, MapStage, StageConfig, StageContext

COUNT_COLUMN = "bad_word_count"
"""Int32: matches in the document (0 without; null where its language has no list)."""
REASON = "bad_words"
_META = re.compile(r"([\\.+*?()|\[\]{}^$#&\-~])")


def escape(word: str) -> str:
    """A word as a literal in the regex dialect polars uses (every meta character escaped)."""
    return _META.sub(r"\\\1", word)


def _double(text: str) -> str:
    return text.replace(" ", "  ").replace("\n", "\n\n")


def read_list(path: str, allow: frozenset[str] = frozenset()) -> list[str]:
    """The words of a list file: one a line, stripped, blank lines and allowed words left out."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"bad_words.lists: cannot read {path}: {exc}") from exc
    words = {w.strip() for w in text.splitlines()} - {""} - allow
    return sorted(words)


class BadWordsConfig(StageConfig):
    kind: Literal["bad_words"] = "bad_words"
    lists: dict[str, str] = Field(
        min_length=1,
        description="Word list per language code, e.g. {en: lists/en.txt}: one word or phrase a "
        "line (UTF-8), matched against the lowercased text; a file with no words is an error. curate ships "
        "and downloads none.",
    )
    language_column: str = Field(
        "lang", description="Column holding each document's language code (quality_score's `lang`)."
    )
    default_language: str = Field(
        "en", min_length=1, description="Language of documents without the column or with a null value; when given, "
        "other than en, it must have a list."
    )
    substring_languages: list[str] = Field(
        default_factory=lambda: ["ja", "th", "zh"],
        description="Languages written without spaces: a word matches anywhere, not only between "
        "non-word characters (C4's rule); each one beyond ja, th, zh must have a list.",
    )
    allow: list[str] = Field(
        default_factory=lambda: ["sm", "グロ", "女の子", "性"],
        description="Words removed from every list (C4's allowlist: common subwords in languages "
        "without spaces).",
    )
    missing_language: Literal["keep", "reject"] = Field(
        "keep",
        description="Documents whose language has no list: keep (counted as "
        "`bad_words_missing_<lang>`) or reject (reason `bad_words_no_list`).",
    )
    keep_fraction: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Share of documents with bad words kept anyway, drawn per document from the run seed.",
    )

    @field_validator("lists")
    @classmethod
    def _codes(cls, v: dict[str, str]) -> dict[str, str]:
        for code, path in v.items():
            if not code.strip() or not path.strip():
                raise ValueError("each entry is LANGUAGE: PATH, neither empty")
        return v

    @model_validator(mode="after")
    def _languages_have_lists(self) -> BadWordsConfig:
        """A language the config names beyond the defaults (``default_language`` other than en,
        ``substring_languages`` other than ja, th, zh) must have a list: else its documents would
        pass unchecked (compared by value, so a dumped config validates again)."""
        fields = type(self).model_fields
        default_subs = set(fields["substring_languages"].get_default(call_default_factory=True))
        named = [
            ("default_language", [self.default_language] if self.default_language != fields["default_language"].default else []),
            ("substring_languages", [c for c in self.substring_languages if c not in default_subs]),
        ]
        for key, codes in named:
            missing = [c for c in codes if c not in self.lists]
            if missing:
                raise ValueError(
                    f"{key}: {', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no list; "
                    f"languages with lists: {', '.join(sorted(self.lists))}"
                )
        return self

    def with_paths(self, fix: Callable[[str], str]) -> BadWordsConfig:
        return self.model_copy(update={"lists": {k: fix(p) for k, p in self.lists.items()}})

    def input_paths(self) -> list[tuple[str, str]]:
        """The list files: their content is part of the step's fingerprint."""
        return [(f"lists.{code}", path) for code, path in sorted(self.lists.items())]


class BadWords(MapStage):
    """Rejects documents with a bad word of their language's list (reason ``bad_words``).

    Reads ``text`` and, when present, ``language_column``. Adds ``bad_word_count`` (Int32): the
    occurrences (two words one space or newline apart both count; two one other non-word
    character apart count once, as the pattern takes that character with the first), 0 without,
    null where the language has no list.
    A rejection's ``_reject_detail`` says ``N matches (LANG)``. Counts per language
    ``bad_words_docs_<lang>`` (documents with matches), ``bad_words_kept_<lang>`` (kept by
    ``keep_fraction``) and ``bad_words_missing_<lang>``. Memory: the lists' regexes once per
    worker, and the lowercased text of the batch.
    """

    kind: ClassVar[str] = "bad_words"
    Config: ClassVar[type[StageConfig]] = BadWordsConfig
    adds: ClassVar[frozenset[str]] = frozenset({COUNT_COLUMN})

    def __init__(self, cfg: BadWordsConfig) -> None:
        super().__init__(cfg)
        self.cfg: BadWordsConfig = cfg
        self._patterns: dict[str, tuple[str, str]] | None = None

    def added_schema(self) -> dict[str, pl.DataType | None]:
        return {COUNT_COLUMN: pl.Int32()}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_patterns": None}  # lists are read where the stage runs

    def setup(self) -> None:
        """Read every list once per worker: (pattern that decides, pattern that counts) per language."""
        allow = frozenset(self.cfg.allow)
        patterns: dict[str, tuple[str, str]] = {}
        for code, path in self.cfg.lists.items():
            words = read_list(path, allow)
            if not words:  # an empty file (or one of allowed words only) would filter nothing
                left = " once the `allow` words are left out" if read_list(path) else ""
                raise ConfigError(f"bad_words.lists.{code}: {path} holds no words{left}", hint="one word or phrase a line (UTF-8)")
            if code in self.cfg.substring_languages:
                alt = "|".join(escape(w) for w in words)
                patterns[code] = (alt, alt)
            else:
                bounded = r"(?:\W|^)(?:{})(?:\W|$)"
                # counting: spaces and newlines doubled on both sides, so two matches one space
                # apart are both counted (the pattern consumes the character around a match)
                doubled = "|".join(escape(_double(w)) for w in words)
                patterns[code] = (bounded.format("|".join(escape(w) for w in words)), bounded.format(doubled))
        self._patterns = patterns

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        if self._patterns is None:
            self.setup()
        assert self._patterns is not None
        col = self.cfg.language_column
        lang = (
            batch[col].cast(pl.String).fill_null(self.cfg.default_language)
            if col in batch.columns
            else pl.Series([self.cfg.default_language] * batch.height, dtype=pl.String)
        )
        work = pl.DataFrame({"_i": pl.int_range(batch.height, eager=True), "lang": lang, "text": batch["text"]})
        counts = []
        for code in lang.unique().sort().to_list():
            sub = work.filter(pl.col("lang") == code)
            if code not in self.cfg.lists:
                ctx.count(f"bad_words_missing_{code}", sub.height)
                continue
            decide, count = self._patterns[code]
            low = sub.select("_i", pl.col("text").fill_null("").str.to_lowercase().alias("low"))
            hit = low.filter(pl.col("low").str.contains(decide))
            n_hit = hit.select(
                "_i",
                pl.col("low").str.replace_all(" ", "  ", literal=True).str.replace_all("\n", "\n\n", literal=True)
                .str.count_matches(count).cast(pl.Int32).clip(1).alias("n")
                if count != decide else pl.col("low").str.count_matches(count).cast(pl.Int32).alias("n"),
            )
            ctx.count(f"bad_words_docs_{code}", n_hit.height)
            counts.append(
                low.select("_i").join(n_hit, on="_i", how="left").with_columns(pl.col("n").fill_null(0))
            )
        n = pl.DataFrame({"_i": work["_i"]}).join(
            pl.concat(counts) if counts else pl.DataFrame(schema={"_i": pl.Int64, "n": pl.Int32}),
            on="_i", how="left", maintain_order="left",
        )["n"]
        hit = (n > 0).fill_null(False)
        if self.cfg.keep_fraction > 0:
            spared = ctx.uniform(batch["id"]) < self.cfg.keep_fraction
            for code in lang.filter(hit & spared).unique().to_list():
                ctx.count(f"bad_words_kept_{code}", int((hit & spared & (lang == code)).sum()))
            hit = hit & ~spared
        no_list = n.is_null() & (self.cfg.missing_language == "reject")
        reason = pl.select(
            pl.when(pl.lit(hit)).then(pl.lit(REASON))
            .when(pl.lit(no_list)).then(pl.lit("bad_words_no_list"))
            .otherwise(pl.lit(None, pl.String))
        ).to_series()
        detail = pl.select(pl.when(pl.lit(hit)).then(pl.format("{} matches ({})", pl.lit(n), pl.lit(lang)))).to_series()
        if REJECT in batch.columns:
            reason = pl.select(pl.coalesce(batch[REJECT], reason)).to_series()
        new = [n.alias(COUNT_COLUMN), reason.alias(REJECT)]
        if REJECT_DETAIL in batch.columns:
            new.append(pl.select(pl.coalesce(batch[REJECT_DETAIL], detail)).to_series().alias(REJECT_DETAIL))
        elif hit.any():
            new.append(detail.alias(REJECT_DETAIL))
        return batch.with_columns(new)
