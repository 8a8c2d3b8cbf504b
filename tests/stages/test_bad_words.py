"""bad_words: user-given lists per language, C4's matching rules, reason and match count recorded."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from conftest import write_jsonl
from curate.config import parse_config
from curate.errors import ConfigError
from curate.pipeline import build_plan
from curate.stages.bad_words import COUNT_COLUMN, BadWords, BadWordsConfig
from curate.stages.base import REJECT, REJECT_DETAIL, StageContext


@pytest.fixture
def lists(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "en.txt").write_text("darn\nheck\nbad phrase\n\nc++\n", encoding="utf-8")
    (tmp_path / "zh.txt").write_text("坏\n性\n", encoding="utf-8")
    return {"en": str(tmp_path / "en.txt"), "zh": str(tmp_path / "zh.txt")}


def run(cfg: BadWordsConfig, texts: list[str], langs: list[str | None] | None = None, ctx: StageContext | None = None) -> pl.DataFrame:
    data = {"id": [f"d{i}" for i in range(len(texts))], "text": texts}
    if langs is not None:
        data["lang"] = langs
    return BadWords(cfg).process(pl.DataFrame(data, schema={k: pl.String for k in data}), ctx or StageContext())


def test_words_match_between_non_word_characters_in_any_case(lists: dict[str, str]) -> None:
    out = run(BadWordsConfig(lists=lists), ["Oh DARN it.", "darned", "(heck)", "a bad phrase here", "bad  phrase", "I like c++ a lot", "clean"])
    assert out[REJECT].to_list() == ["bad_words", None, "bad_words", "bad_words", None, "bad_words", None]
    assert out[COUNT_COLUMN].to_list() == [1, 0, 1, 1, 0, 1, 0]


def test_the_count_counts_adjacent_occurrences_and_the_detail_names_the_language(lists: dict[str, str]) -> None:
    out = run(BadWordsConfig(lists=lists), ["heck heck, darn heck", "heck\nheck", "heck,heck"])
    assert out[COUNT_COLUMN].to_list() == [4, 2, 1]  # one non-word character other than a space is taken by the first match
    assert out[REJECT_DETAIL].to_list() == ["4 matches (en)", "2 matches (en)", "1 matches (en)"]


def test_languages_without_spaces_match_substrings_and_the_allowlist_is_left_out(lists: dict[str, str]) -> None:
    out = run(BadWordsConfig(lists=lists), ["这是坏的", "女性", "darn"], ["zh", "zh", "zh"])
    assert out[REJECT].to_list() == ["bad_words", None, None]  # 性 is on C4's allowlist; darn is not in zh's list
    out = run(BadWordsConfig(lists=lists, allow=[]), ["女性"], ["zh"])
    assert out[REJECT].to_list() == ["bad_words"]


def test_the_language_column_picks_the_list_and_missing_languages_follow_the_policy(lists: dict[str, str]) -> None:
    ctx = StageContext()
    out = run(BadWordsConfig(lists=lists), ["darn", "darn", "darn"], ["en", None, "fr"], ctx)
    assert out[REJECT].to_list() == ["bad_words", "bad_words", None]  # null -> default_language en
    assert out[COUNT_COLUMN].to_list() == [1, 1, None]
    assert ctx.counters["bad_words_missing_fr"] == 1 and ctx.counters["bad_words_docs_en"] == 2
    out = run(BadWordsConfig(lists=lists, missing_language="reject"), ["darn"], ["fr"])
    assert out[REJECT].to_list() == ["bad_words_no_list"]
    out = run(BadWordsConfig(lists=lists, default_language="zh"), ["darn"])  # no lang column
    assert out[REJECT].to_list() == [None]


def test_keep_fraction_spares_a_reproducible_share(lists: dict[str, str]) -> None:
    texts = ["darn"] * 400
    a = run(BadWordsConfig(lists=lists, keep_fraction=0.25), texts, ctx=StageContext(seed=3, stage_index=1))
    b = run(BadWordsConfig(lists=lists, keep_fraction=0.25), texts, ctx=StageContext(seed=3, stage_index=1))
    kept = a[REJECT].is_null().sum()
    assert a[REJECT].to_list() == b[REJECT].to_list() and 60 < kept < 140


def test_config_needs_lists_and_a_missing_file_is_named(tmp_path: Path, lists: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        BadWordsConfig(lists={})
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "darn"}])
    cfg = parse_config({"input": {"paths": [str(src)]}, "workdir": str(tmp_path / "w"),
                        "stages": [{"kind": "bad_words", "lists": {"en": str(tmp_path / "nope.txt")}}]})
    with pytest.raises(Exception, match=r"bad_words\.lists\.en: file not found"):
        build_plan(cfg)


def test_the_lists_content_is_part_of_the_step_fingerprint(tmp_path: Path, lists: dict[str, str]) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "darn"}])

    def fingerprint() -> str:
        cfg = parse_config({"input": {"paths": [str(src)]}, "workdir": str(tmp_path / "w"),
                            "stages": [{"kind": "bad_words", "lists": lists}]})
        return build_plan(cfg).steps[1].fingerprint

    before = fingerprint()
    assert fingerprint() == before
    Path(lists["en"]).write_text("darn\nshucks\n", encoding="utf-8")
    assert fingerprint() != before


WORDS = st.sampled_from(["darn", "heck", "bad", "phrase", "Darn", "darned", "c++", "c", "the", "x"])
SEPS = st.sampled_from([" ", "  ", ", ", ".", "-", "_", "\n", "'", "é"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.tuples(WORDS, SEPS), max_size=8).map(lambda ps: "".join(w + s for w, s in ps)), min_size=1, max_size=10))
def test_decisions_equal_c4s_rule_in_python(lists: dict[str, str], texts: list[str]) -> None:
    words = ["darn", "heck", "bad phrase", "c++"]
    rule = re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(re.escape(w) for w in words)))
    out = run(BadWordsConfig(lists=lists), texts)
    assert out[REJECT].is_not_null().to_list() == [rule.search(t.lower()) is not None for t in texts]


def test_filter_command_takes_word_lists(cli, tmp_path: Path, lists: dict[str, str]) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "well darn it"}, {"id": "b", "text": "all good"}])
    out = tmp_path / "out"
    result = cli("filter", src, "-o", out, "--bad-words", f"en={lists['en']}", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out / "*.parquet")["id"].to_list() == ["b"]
    rejected = pl.read_parquet(out / "rejected" / "*.parquet")
    assert rejected.select("id", "reject_reason", "reject_detail").rows() == [("a", "bad_words", "1 matches (en)")]
    bad = cli("filter", src, "-o", tmp_path / "x", "--bad-words", "en", "-q")
    assert bad.exit_code == 2 and "LANG=PATH" in bad.stderr


@pytest.mark.parametrize(("content", "why"), [("", "holds no words$"), ("\n  \n", "holds no words$"), ("sm\n", "holds no words once the `allow` words are left out")])
def test_an_empty_list_is_a_config_error_naming_the_key_and_file(tmp_path: Path, lists: dict[str, str], content: str, why: str) -> None:
    (tmp_path / "de.txt").write_text(content, encoding="utf-8")
    stage = BadWords(BadWordsConfig(lists={**lists, "de": str(tmp_path / "de.txt")}))
    with pytest.raises(ConfigError, match=rf"^bad_words\.lists\.de: {re.escape(str(tmp_path / 'de.txt'))} {why}"):
        stage.setup()


def test_cli_with_an_empty_list_exits_2_with_one_line(cli, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("\n", encoding="utf-8")
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": "oh darn"}, {"text": "fine"}])
    result = cli("filter", src, "-o", tmp_path / "out", "--bad-words", f"en={tmp_path / 'empty.txt'}", "-w", "1", "-q")
    assert result.exit_code == 2 and result.stderr.startswith(f"error: bad_words.lists.en: {tmp_path / 'empty.txt'} holds no words\n")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("default_language", "fr", "default_language: fr has no list; languages with lists: en, zh"),
    ("substring_languages", ["zh", "ko", "my"], "substring_languages: ko, my have no list; languages with lists: en, zh"),
])
def test_a_language_the_config_names_without_a_list_is_a_config_error(lists: dict[str, str], key: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        BadWordsConfig(lists=lists, **{key: value})
    # the defaults (en; ja, th, zh) are not checked, so a dumped config validates again
    only_de = BadWordsConfig(lists={"de": lists["en"]})
    assert BadWordsConfig.model_validate(only_de.model_dump()) == only_de


def test_validate_names_the_stage_key_and_the_languages_with_lists(cli, tmp_path: Path, lists: dict[str, str]) -> None:
    import yaml

    src = write_jsonl(tmp_path / "d.jsonl", [{"text": "darn"}])
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"input": {"paths": [str(src)]}, "workdir": str(tmp_path / "w"),
                                      "stages": [{"kind": "bad_words", "lists": lists, "default_language": "de"}]}))
    result = cli("validate", config)
    assert result.exit_code == 2
    assert "stages[0].bad_words: default_language: de has no list; languages with lists: en, zh" in result.stderr
