"""The filter-rule language: what it accepts, what it computes, and how it reports mistakes."""

from __future__ import annotations

import polars as pl
import pytest

from curate.errors import ConfigError
from curate.rules import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    MAX_RULE_CHARS,
    Logic,
    parse_rule,
    rule_columns,
)

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


# ---------------------------------------------------------------- limits and long rules

def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse_rule("r", text)
    return err.value.message


def test_a_long_or_chain_is_one_flat_any() -> None:
    rule = parse_rule("r", " or ".join(f"x == {i}" for i in range(4000)))
    assert isinstance(rule.tree, Logic) and len(rule.tree.items) == 4000
    frame = pl.DataFrame({"x": [5, 3999, 4000, None]})
    assert frame.select(rule.expr).to_series().to_list() == [True, True, False, None]


def test_a_long_and_chain_is_one_flat_all() -> None:
    rule = parse_rule("r", " and ".join(f"x != {i}" for i in range(4000)))
    assert isinstance(rule.tree, Logic) and len(rule.tree.items) == 4000
    frame = pl.DataFrame({"x": [5, 4000, None]})
    assert frame.select(rule.expr).to_series().to_list() == [False, True, None]


def test_flat_chains_keep_null_logic_and_precedence() -> None:
    frame = pl.DataFrame({"a": [True, False, None, None, False], "b": [None, None, None, True, False]})
    got = frame.select(parse_rule("r", "a or b or a and b").expr).to_series().to_list()
    want = frame.select((pl.col("a") | pl.col("b") | (pl.col("a") & pl.col("b"))).alias("r")).to_series().to_list()
    assert got == want


def test_deep_parentheses_are_an_error_naming_the_limit() -> None:
    assert keep("(" * (MAX_DEPTH - 1) + "lang == 'en'" + ")" * (MAX_DEPTH - 1)) == keep("lang == 'en'")
    msg = error_of("(" * 120 + "lang == 'en'" + ")" * 120)
    assert f"nests deeper than {MAX_DEPTH} levels" in msg and "position 101" in msg


@pytest.mark.parametrize("text", ["not " * 150 + "flag", "-" * 150 + "lang_score > 0", " + ".join(["lang_score"] * 150) + " > 0"])
def test_long_prefix_and_arithmetic_chains_count_as_nesting(text: str) -> None:
    assert f"nests deeper than {MAX_DEPTH} levels" in error_of(text)


def test_rule_length_limit() -> None:
    msg = error_of("x == 1 or " * (MAX_RULE_CHARS // 10) + "x == 1")
    assert f"characters long; the limit is {MAX_RULE_CHARS:,}" in msg


@pytest.mark.parametrize("text", ["x > " + "9" * 400, f"x > {INT64_MAX + 1}", f"x == {INT64_MIN - 1}", "x in [1, 99999999999999999999]"])
def test_integers_must_fit_int64(text: str) -> None:
    assert "does not fit in 64 bits" in error_of(text)


def test_int64_bounds_are_accepted() -> None:
    frame = pl.DataFrame({"x": [INT64_MIN, INT64_MAX, 0]})
    rule = parse_rule("r", f"x == {INT64_MIN} or x == {INT64_MAX}")
    assert frame.select(rule.expr).to_series().to_list() == [True, True, False]


@pytest.mark.parametrize("text", ["x > 1e999", "x < -1e400", "x in [1.5, 1e999]"])
def test_floats_must_be_finite(text: str) -> None:
    assert "must be finite" in error_of(text)


def test_a_long_rule_shows_a_window_around_the_error() -> None:
    msg = error_of(" or ".join(f"x == {i}" for i in range(1000)) + " or x = 3")
    line, caret = msg.splitlines()[-2:]
    assert len(line) < 100 and line.strip().startswith("...")
    assert line[caret.index("^")] == "="


def test_comparisons_do_not_chain() -> None:
    assert "unexpected '<'" in error_of("lang_score < 1 < 2")


# ---------------------------------------------------------------- lists and types


def test_integer_list_matches_a_float_column_and_big_integers_exactly() -> None:
    frame = pl.DataFrame({"f": [1.0, 2.5, None], "i": [2**62, 2**62 + 1, 3]})
    rule = parse_rule("r", "f in [1, 2]")
    assert frame.select(rule.expr_for(frame.schema)).to_series().to_list() == [True, False, None]
    big = parse_rule("r", f"i in [{2**62}]")
    assert frame.select(big.expr_for(frame.schema)).to_series().to_list() == [True, False, False]


def test_comparisons_expose_the_literal_kind() -> None:
    rule = parse_rule("r", "m == 'x' and 3 < n and lang in ['en'] and a == b and a + 1 > 2.5")
    got = {(c.op, c.column, c.other, c.other_column) for c in rule.comparisons()}
    assert got == {
        ("==", "m", "string", None),
        ("<", "n", "int", None),
        ("in", "lang", "string", None),
        ("==", "a", "column", "b"),
        (">", None, "float", None),
    }


SCHEMA = {"m": pl.Int64(), "f": pl.Float64(), "lang": pl.String(), "flag": pl.Boolean(), "meta": None}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("m == 'x'", "column m is Int64, compared with a string"),
        ("'x' != m", "column m is Int64, compared with a string"),
        ("lang > 3", "column lang is String, compared with a number"),
        ("flag == 'yes'", "column flag is Boolean, compared with a string"),
        ("m == lang", "column m is Int64, compared with column lang (String)"),
        ("m in ['a', 'b']", "column m is Int64, compared with a list of strings"),
        ("lang not in [1, 2]", "column lang is String, compared with a list of numbers"),
        ("lang + 1 > 2", "column lang is String, used in arithmetic"),
        ("f", "column f is Float64, used as a condition (true/false)"),
        ("flag and lang", "column lang is String, used as a condition (true/false)"),
        ("(m + 1) == 'x'", "this number expression, compared with a string"),
    ],
)
def test_type_problems_name_the_column_and_its_type(text: str, problem: str) -> None:
    assert [p for p, _ in parse_rule("r", text).type_problems(SCHEMA)] == [problem]


@pytest.mark.parametrize(
    "text",
    ["m == 1.5", "f in [1, 2]", "flag == 1", "flag", "not flag", "meta == 'x'", "meta > 2", "m == null",
     "lang is null", "m + f * 2 > 1", "lang in ['en', null]", "m in [null]", "-m < 0", "lang == 'en' or m > 1"],
)
def test_well_typed_or_unknown_types_pass(text: str) -> None:
    assert parse_rule("r", text).type_problems(SCHEMA) == []


def test_type_problem_position_points_at_the_column() -> None:
    ((_, pos),) = parse_rule("r", "lang == 'en' and m == 'x'").type_problems(SCHEMA)
    assert pos == len("lang == 'en' and ")
