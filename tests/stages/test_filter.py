"""filter: named rules reject documents, first failing rule is the reason, presets expand."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from curate.errors import ConfigError
from curate.stages.base import REJECT, REJECT_DETAIL, StageContext
from curate.stages.filter import PRESETS, Filter, FilterConfig
from curate.stages.quality_score import QualityScore, QualityScoreConfig

FRAME = pl.DataFrame(
    {
        "id": ["1", "2", "3", "4", "5", "6"],
        "text": ["a", "b", "c", "d", "e", "f"],
        "gopher_word_count": [10.0, 60.0, 200.0, None, 80.0, 55.0],
        "lang": ["en", "en", "fr", "en", None, "en"],
        "lang_score": [0.9, 0.5, 0.99, 0.7, 0.8, 0.95],
        "source": ["wiki", "web", "books", "wiki", "web", "books"],
    }
)
RULES = {
    "min_words": "gopher_word_count >= 50",
    "english": "lang == 'en' and lang_score >= 0.65",
    "sources": "source in ['wiki', 'books']",
}


def run(cfg: FilterConfig, frame: pl.DataFrame = FRAME) -> tuple[pl.DataFrame, StageContext]:
    ctx = StageContext()
    return Filter(cfg).process(frame, ctx), ctx


def test_first_failing_rule_is_the_reason_and_counts_are_per_rule() -> None:
    out, ctx = run(FilterConfig(rules=RULES))
    assert out[REJECT].to_list() == ["min_words", "english", "english", "min_words", "english", None]
    assert REJECT_DETAIL not in out.columns
    assert ctx.counters["rule_min_words"] == 2  # missing value fails the rule
    assert ctx.counters["rule_english"] == 3
    assert ctx.counters["rule_sources"] == 2
    assert_frame_equal(out.drop(REJECT), FRAME)


def test_explain_records_every_failing_rule() -> None:
    out, _ = run(FilterConfig(rules=RULES, explain=True))
    assert out[REJECT_DETAIL].to_list() == [
        "min_words", "english,sources", "english", "min_words", "english,sources", None
    ]


def test_earlier_rejection_is_kept() -> None:
    frame = FRAME.with_columns(pl.Series(REJECT, ["dup", None, None, None, None, None]))
    out, _ = run(FilterConfig(rules={"min_words": RULES["min_words"]}), frame)
    assert out[REJECT].to_list() == ["dup", None, None, "min_words", None, None]


def test_required_columns_and_needed_families() -> None:
    f = Filter(FilterConfig(rules=RULES))
    assert f.required_columns() == {"id", "gopher_word_count", "lang", "lang_score", "source"}
    assert f.needed_signal_families() == {"gopher_quality"}
    g = Filter(FilterConfig(preset=["gopher_repetition", "fineweb_quality"]))
    assert g.needed_signal_families() == {"gopher_repetition", "fineweb"}
    assert Filter(FilterConfig(preset="c4_quality")).needed_signal_families() == {"c4"}


def test_check_columns_names_the_rule_before_data_is_read() -> None:
    f = Filter(FilterConfig(rules={"hq": "fasttext_hq >= 0.5"}))
    with pytest.raises(ConfigError) as err:
        f.check_columns({"id", "text"})
    assert "filter rule 'hq': unknown column 'fasttext_hq'" in err.value.message
    assert err.value.hint == "known columns: id, text"


def test_config_errors() -> None:
    with pytest.raises(ValidationError) as err:
        FilterConfig(rules={"bad": "lang = 'en'"})
    (e,) = err.value.errors()
    assert e["loc"] == ("rules", "bad") and "syntax error at position 6" in e["msg"]
    with pytest.raises(ValidationError, match="give `rules`, a `preset`"):
        FilterConfig()
    with pytest.raises(ValidationError, match=r"unknown preset 'gopher_all' \(did you mean 'gopher_quality'\?\); presets: gopher_quality,"):
        FilterConfig(preset="gopher_all")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"unknown preset 'finweb' \(did you mean 'fineweb'\?\)"):
        FilterConfig(preset=["gopher", "finweb"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="rule name"):
        FilterConfig(rules={"bad name": "lang == 'en'"})


GOOD = (
    "The history of the city is long and the people who live there have many stories to tell. "
    "It was founded by traders who came with their goods from the coast and settled by the river. "
    "Over the centuries the town grew into a busy place of markets, churches and schools.\n"
    "Today the old centre is a quiet area with narrow streets, small shops and cafes that "
    "attract visitors from all over the country. Many of the buildings date back to that time.\n"
)
DOCS = pl.DataFrame(
    {"id": ["g", "s", "r", "e"], "text": [GOOD, "Too short.", "spam spam spam\n" * 30, ""]}
)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_on_scored_text(preset: str) -> None:
    scored = QualityScore(QualityScoreConfig()).process(DOCS, StageContext())
    out, ctx = run(FilterConfig(preset=preset), scored)
    reasons = out[REJECT].to_list()
    assert reasons[0] is None  # clean prose passes every published rule set
    assert reasons[2] is not None and reasons[3] is not None  # repetitive and empty fail
    assert sum(v for k, v in ctx.counters.items() if k.startswith("rule_")) >= 2
    assert all(r is None or r in PRESETS[preset] for r in reasons)


def test_preset_and_user_rules_combine_in_order() -> None:
    cfg = FilterConfig(preset="gopher_quality", rules={"not_g": "id != 'g'"})
    assert list(cfg.all_rules())[-1] == "not_g"
    scored = QualityScore(QualityScoreConfig(heuristics=["gopher_quality"])).process(DOCS, StageContext())
    out, _ = run(cfg, scored)
    assert out[REJECT][0] == "not_g"
    assert out[REJECT][1] == "gopher_min_words"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.one_of(st.none(), st.floats(0, 300)), st.sampled_from(["en", "fr", None])), max_size=15),
    st.integers(0, 15),
)
def test_batch_invariance(rows: list[tuple[float | None, str | None]], cut: int) -> None:
    frame = pl.DataFrame(
        {"id": [str(i) for i in range(len(rows))], "gopher_word_count": [r[0] for r in rows], "lang": [r[1] for r in rows]},
        schema={"id": pl.String, "gopher_word_count": pl.Float64, "lang": pl.String},
    )
    stage = Filter(FilterConfig(rules={"w": "gopher_word_count >= 50", "l": "lang == 'en'"}, explain=True))
    cut = min(cut, frame.height)
    whole = stage.process(frame, StageContext())
    parts = pl.concat([stage.process(frame.head(cut), StageContext()), stage.process(frame.tail(frame.height - cut), StageContext())])
    assert_frame_equal(whole, parts)


def test_failures_evaluates_every_rule_independently() -> None:
    fails = Filter(FilterConfig(rules=RULES)).failures(FRAME)
    assert fails.columns == list(RULES)
    assert fails["sources"].to_list() == [False, True, False, False, True, False]
    assert fails["min_words"].to_list() == [True, False, False, True, False, False]


def test_user_rule_replaces_a_preset_rule_of_the_same_name() -> None:
    cfg = FilterConfig(preset="gopher_quality", rules={"gopher_min_words": "gopher_word_count >= 5"})
    rules = cfg.all_rules()
    assert list(rules)[0] == "gopher_min_words" and rules["gopher_min_words"].endswith(">= 5")
    assert len(rules) == len(PRESETS["gopher_quality"])


def test_filter_pickles_without_compiled_expressions() -> None:
    import pickle

    stage = Filter(FilterConfig(rules=RULES))
    stage.process(FRAME, StageContext())
    shipped = pickle.loads(pickle.dumps(stage))
    assert shipped._rules is None
    assert_frame_equal(shipped.process(FRAME, StageContext()), stage.process(FRAME, StageContext()))


def test_rule_errors_are_located_at_the_rule_key_when_the_config_is_parsed() -> None:
    from curate.config import parse_config

    raw = {"stages": [{"kind": "filter", "rules": {"ok": "lang == 'en'"}},
                      {"kind": "filter", "rules": {"deep": "(" * 150 + "x" + ")" * 150, "big": "x > " + "9" * 400}}]}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    msg = err.value.message
    assert "stages[1].filter.rules.deep: at position 101: the rule nests deeper than 100 levels" in msg
    assert "stages[1].filter.rules.big: at position 5: integer" in msg and "does not fit in 64 bits" in msg
    assert "9" * 100 not in msg  # a long literal or rule is shown in part


def test_check_schema_names_stage_rule_and_type() -> None:
    f = Filter(FilterConfig(rules={"ok": "lang == 'en'", "r": "m == 'x'"}))
    with pytest.raises(ConfigError) as err:
        f.check_schema({"id": pl.String(), "lang": pl.String(), "m": pl.Int64()}, "stages[3].filter")
    assert err.value.message == "stages[3].filter.rules.r: column m is Int64, compared with a string"
    assert err.value.hint is not None and err.value.hint.splitlines()[-1].strip() == "^"


def test_check_schema_reports_an_unknown_column_with_the_known_ones() -> None:
    f = Filter(FilterConfig(rules={"hq": "fasttext_hq >= 0.5"}))
    with pytest.raises(ConfigError) as err:
        f.check_schema({"id": pl.String(), "text": pl.String()}, "stages[2].filter")
    assert err.value.message.startswith("stages[2].filter.rules.hq: unknown column 'fasttext_hq' at position 1")
    assert err.value.hint == "known columns: id, text"


def test_check_schema_skips_types_it_does_not_know() -> None:
    Filter(FilterConfig(rules={"r": "m == 'x'"})).check_schema({"id": pl.String(), "m": None})


def test_integer_list_on_a_float_signal_filters_at_run_time() -> None:
    out, _ = run(FilterConfig(rules={"counts": "gopher_word_count in [10, 200]"}))
    assert out[REJECT].to_list() == [None, "counts", None, "counts", "counts", "counts"]


def test_a_long_or_chain_filters() -> None:
    rule = " or ".join(f"gopher_word_count == {i}" for i in range(4000))
    out, ctx = run(FilterConfig(rules={"listed": rule}))
    assert out[REJECT].to_list() == [None, None, None, "listed", None, None]
    assert ctx.counters["rule_listed"] == 1
