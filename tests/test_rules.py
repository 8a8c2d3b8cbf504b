"""The filter-rule language: what it accepts, what it computes, and how it reports mistakes."""

from __future__ import annotations

import polars as pl
import pytest

from curate.errors import ConfigError
from curate.rules import parse_rule, rule_columns

FRAME = pl.DataFrame(
    {
        "gopher_word_count": [10.0, 60.0, 200.0, None, 80.0],
        "lang": ["en", "en", "fr", "en", None],
        "lang_score": [0.9, 0.5, 0.99, 0.7, 0.8],
        "source": ["wiki", "web", "books", "wiki", "web"],
        "flag": [True, False, True, False, None],
    }
)


def keep(text: str) -> list[bool | None]:
    return FRAME.select(parse_rule("r", text, FRAME.columns).expr).to_series().to_list()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("gopher_word_count >= 50", [False, True, True, None, True]),
        ("lang == 'en' and lang_score >= 0.65", [True, False, False, True, None]),
        ("source in ['wiki', 'books']", [True, False, True, True, False]),
        ("source not in ['wiki', \"books\"]", [False, True, False, False, True]),
        ("not (lang == 'en')", [False, False, True, False, None]),
        ("gopher_word_count * 2 + 1 > 150 or flag", [True, False, True, None, True]),
        ("gopher_word_count / 10 % 4 == 2", [False, True, False, None, False]),
        ("-gopher_word_count < -100", [False, False, True, None, False]),
        ("flag == true", [True, False, True, False, None]),
        ("lang is null", [False, False, False, False, True]),
        ("lang is not null and `lang_score` > 0.8", [True, False, True, False, False]),
        ("gopher_word_count >= 1e2", [False, False, True, None, False]),
        ("lang in ['en',]", [True, True, False, True, None]),
        ("A == 1 OR lang_score > 0.95".replace("A == 1 OR ", ""), [False, False, True, False, False]),
    ],
)
def test_rules_compute_the_expected_values(text: str, want: list[bool | None]) -> None:
    assert keep(text) == want


def test_keywords_are_case_insensitive_and_precedence_is_usual() -> None:
    assert keep("lang == 'fr' OR lang == 'en' AND lang_score > 0.8") == [True, False, True, False, None]
    assert keep("NOT flag") == [False, True, False, True, None]


def test_rule_columns_and_alias() -> None:
    rule = parse_rule("hq", "fasttext_hq >= 0.5 and source in ['a']")
    assert rule.columns == {"fasttext_hq", "source"}
    assert rule.name == "hq" and rule.source.startswith("fasttext_hq")
    assert rule_columns("a + b > c") == {"a", "b", "c"}
    assert rule_columns("a >") == set()


@pytest.mark.parametrize(
    ("text", "pos", "what"),
    [
        ("gopher_word_count >= ", 22, "end of rule"),
        ("lang = 'en'", 6, "unexpected character '='"),
        ("(lang == 'en'", 14, "expected ')'"),
        ("lang in 'en'", 9, "expected '['"),
        ("lang == 'en' lang", 14, "unexpected 'lang'"),
        ("", 1, "empty rule"),
        ("source in ['a', 1]", 11, "one type"),
        ("x ! 3", 3, "unexpected character '!'"),
        ("import os", 8, "unexpected 'os'"),
    ],
)
def test_syntax_errors_name_rule_position_and_show_a_caret(text: str, pos: int, what: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_rule("my_rule", text, FRAME.columns)
    msg = err.value.message
    assert "filter rule 'my_rule'" in msg and f"position {pos}" in msg and what in msg
    caret = msg.splitlines()[-1]
    assert caret.index("^") - 4 == pos - 1


def test_unknown_column_lists_known_columns() -> None:
    with pytest.raises(ConfigError) as err:
        parse_rule("min_words", "gopher_words >= 50", ["gopher_word_count", "text"])
    assert "unknown column 'gopher_words' at position 1" in err.value.message
    assert err.value.hint == "known columns: gopher_word_count, text"
    assert err.value.exit_code == 2


def test_never_evaluates_python() -> None:
    for text in ("__import__('os').system('true')", "open('x')", "lang.upper() == 'EN'", "a[0] > 1"):
        with pytest.raises(ConfigError):
            parse_rule("r", text)
