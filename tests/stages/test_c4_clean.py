"""c4_clean: rewrites text, rejects what C4 drops; chained signals; the c4/fineweb chain presets."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from conftest import read_dir, write_jsonl
from curate.config import parse_config
from curate.pipeline import build_plan
from curate.quality.heuristics import compute_signals, signal_columns
from curate.runner import run_plan
from curate.stages.base import REJECT, REJECT_DETAIL, StageContext
from curate.stages.c4_clean import REMOVED_COLUMN, C4Clean, C4CleanConfig
from curate.stages.filter import PRESETS, Filter, FilterConfig

FIVE = "One sentence here. Two sentences here. Three are here. Four are here. Five are here."


def frame(texts: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"d{i}" for i in range(len(texts))], "text": texts, "source": ["s"] * len(texts)},
                        schema={"id": pl.String, "text": pl.String, "source": pl.String})


def test_text_is_rewritten_and_rejections_keep_the_original_text_with_a_reason() -> None:
    texts = [FIVE + "\nmenu item\nWe use cookies here.", "Lorem ipsum dolor sit.\n" + FIVE, "Just one line here.", "no ending"]
    ctx = StageContext()
    out = C4Clean(C4CleanConfig()).process(frame(texts), ctx)
    assert out["text"].to_list() == [FIVE, *texts[1:]]
    assert out[REJECT].to_list() == [None, "c4_lorem_ipsum", "c4_too_few_sentences", "c4_too_few_sentences"]
    assert out[REJECT_DETAIL].to_list() == [None, None, "1 of 1 lines kept, 1 sentences", "0 of 1 lines kept, 0 sentences"]
    # counters cover the documents kept
    assert ctx.counters["c4_lines_total"] == 3 and ctx.counters["c4_lines_kept"] == 1
    assert ctx.counters["c4_lines_removed_no_terminal_punct"] == 1 and ctx.counters["c4_lines_removed_policy"] == 1
    assert ctx.counters["c4_docs_modified"] == 1


def test_a_document_emptied_by_cleaning_is_rejected_not_dropped() -> None:
    out = C4Clean(C4CleanConfig(min_sentences=0)).process(frame(["no ending here", "", None, "A kept line."]), StageContext())
    assert out.height == 4
    assert out[REJECT].to_list() == ["c4_empty", "c4_empty", "c4_empty", None]
    assert out["text"].to_list() == ["no ending here", "", None, "A kept line."]


def test_removed_lines_can_be_kept_in_a_side_column() -> None:
    stage = C4Clean(C4CleanConfig(keep_removed=True, min_sentences=0))
    out = stage.process(frame(["A kept line.\nnot this one", "All fine here."]), StageContext())
    assert out[REMOVED_COLUMN].to_list() == [[{"rule": "no_terminal_punct", "line": "not this one"}], []]
    assert set(stage.added_schema()) == {REMOVED_COLUMN}
    assert C4Clean(C4CleanConfig()).added_columns() == set()


def test_every_rule_can_be_switched_off() -> None:
    text = "menu\nuse javascript now.\nThe {set} is here.\nTerms of use apply.\n" + "x" * 1200 + " long."
    cfg = C4CleanConfig(terminal_punct=False, min_words_per_line=0, max_word_length=None, lorem_ipsum=False,
                        javascript=False, curly_bracket=False, policy=False, min_sentences=0, remove_citations=False)
    out = C4Clean(cfg).process(frame([text]), StageContext())
    assert out["text"].to_list() == [text] and out[REJECT].to_list() == [None]


def test_an_earlier_rejection_stands() -> None:
    batch = frame(["Lorem ipsum dolor sit."]).with_columns(pl.lit("dup").alias(REJECT))
    out = C4Clean(C4CleanConfig()).process(batch, StageContext())
    assert out[REJECT].to_list() == ["dup"] and out["text"].to_list() == ["Lorem ipsum dolor sit."]


# ---------------------------------------------------------------- chain presets

def test_chain_presets_expand_into_filters_around_the_cleaning_stage() -> None:
    parts = FilterConfig(preset="fineweb", rules={"fineweb_line_punct": "fineweb_line_punct_frac >= 0.2", "mine": "gopher_word_count > 80"}).expand_chains()
    assert [p.kind for p in parts] == ["filter", "c4_clean", "filter"]
    assert parts[0].preset == ["gopher_repetition", "gopher_quality"]
    assert parts[1] == C4CleanConfig(terminal_punct=False)  # FineWeb's C4 settings
    # a user rule named like a preset rule replaces it in the filter where that rule runs
    assert parts[2].preset == ["fineweb_quality"]
    assert parts[2].rules == {"fineweb_line_punct": "fineweb_line_punct_frac >= 0.2", "mine": "gopher_word_count > 80"}
    assert [p.kind for p in FilterConfig(preset="c4").expand_chains()] == ["c4_clean"]
    gopher = FilterConfig(preset="gopher")
    assert gopher.expand_chains() == [gopher]
    assert Filter(gopher).cfg.all_rules() == {**PRESETS["gopher_repetition"], **PRESETS["gopher_quality"]}
    with pytest.raises(ValueError, match="chain of stages"):
        FilterConfig(preset="fineweb").all_rules()


def plan_kinds(tmp_path: Path, stages: list[dict]) -> list[str]:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": FIVE}])
    cfg = parse_config({"input": {"paths": [str(src)]}, "workdir": str(tmp_path / "w"), "stages": stages})
    return [s.kind for s in build_plan(cfg).steps[1:]]


def test_the_plan_rescores_signals_a_filter_reads_after_the_text_changed(tmp_path: Path) -> None:
    scored = {"kind": "quality_score", "heuristics": ["gopher", "c4", "fineweb"]}
    rule = {"kind": "filter", "rules": {"few_lines": "fineweb_short_line_frac <= 0.5"}}
    assert plan_kinds(tmp_path, [scored, rule]) == ["quality_score", "filter"]
    assert plan_kinds(tmp_path, [scored, {"kind": "c4_clean"}, rule]) == ["quality_score", "c4_clean", "quality_score", "filter"]
    # a scoring the user placed after the cleaning is fresh: nothing added
    assert plan_kinds(tmp_path, [{"kind": "c4_clean"}, scored, rule]) == ["c4_clean", "quality_score", "filter"]
    assert plan_kinds(tmp_path, [scored, {"kind": "c4_clean"}, scored, rule]) == ["quality_score", "c4_clean", "quality_score", "filter"]
    # signals present before the cleaning are computed again after it, even when no rule reads them
    assert plan_kinds(tmp_path, [scored, {"kind": "c4_clean"}]) == ["quality_score", "c4_clean", "quality_score"]
    assert plan_kinds(tmp_path, [{"kind": "filter", "preset": "fineweb"}]) == [
        "quality_score", "filter", "c4_clean", "quality_score", "filter"
    ]


LINES = st.sampled_from([
    "The cat sat on the mat.", "menu", "Short one.", "We use cookies here.", "Is it so, they asked?",
    "The the the the the.", "Read more", "A line that ends with a quote.\"", "- bullet item here.", "",
])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(LINES, min_size=1, max_size=8).map("\n".join), min_size=1, max_size=8))
def test_signals_after_cleaning_equal_signals_of_the_cleaned_text_alone(tmp_path_factory, docs: list[str]) -> None:
    tmp = tmp_path_factory.mktemp("chain")
    src = write_jsonl(tmp / "in.jsonl", [{"text": t} for t in docs])
    stages = [
        {"kind": "quality_score", "heuristics": ["gopher", "c4", "fineweb"]},  # signals of the original text
        {"kind": "c4_clean", "min_sentences": 0},
        {"kind": "filter", "rules": {"any": "fineweb_list_ratio >= 0 or gopher_word_count >= 0"}},
    ]
    cfg = parse_config({"input": {"paths": [str(src)]}, "workdir": str(tmp / "w"), "output": {"path": str(tmp / "out")},
                        "engine": {"workers": 1}, "stages": stages})
    run_plan(build_plan(cfg))
    out = read_dir(tmp / "out")
    if out.height == 0:
        return
    cols = signal_columns(["gopher", "c4", "fineweb"])
    want = compute_signals(out["text"], ["gopher", "c4", "fineweb"])
    assert_frame_equal(out.select(cols), want.select(cols))


def test_filter_command_with_the_fineweb_preset_conserves_every_document(cli, tmp_path: Path) -> None:
    prose = (
        "The history of the town is long and it is told in many books that are kept in the library.\n"
        "Many of the people who live there have been there for a long time and they know the story well.\n"
        "In the summer the visitors come to see the old church and to walk along the river with their families.\n"
        "The church was built in the twelfth century and it has been restored many times since then by the town.\n"
        "It is a place that is loved by all who visit it, and many return to it again and again each year.\n"
        "Most of the shops close early on Sunday, and the market is held on the square every Saturday morning."
    )
    docs = [
        {"id": "clean", "text": prose},
        {"id": "rewritten", "text": prose + "\nPlease enable JavaScript to use this site.\nBy using this site you accept our terms of use."},
        {"id": "lorem", "text": "Lorem ipsum dolor sit amet, it is said.\n" + prose},
        {"id": "short", "text": "Too short to keep."},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", docs)
    out = tmp_path / "out"
    result = cli("filter", src, "-o", out, "--preset", "fineweb", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "_manifest.json").read_text())
    kept = pl.read_parquet(out / "*.parquet")
    rejected = pl.read_parquet(out / "rejected" / "*.parquet")
    assert manifest["totals"]["docs_in"] == 4 == kept.height + rejected.height
    assert sorted(kept["id"]) == ["clean", "rewritten"]
    assert kept.filter(pl.col("id") == "rewritten")["text"].item() == prose  # its two boilerplate lines are gone
    reasons = dict(zip(rejected["id"], rejected["reject_reason"], strict=True))
    assert reasons == {"lorem": "c4_lorem_ipsum", "short": "gopher_top_2gram"}  # repetition runs first
    assert [s["stage"] for s in manifest["steps"]][1:] == ["quality_score", "filter", "c4_clean", "quality_score", "filter"]
    counters = manifest["steps"][3]["counts"]["counters"]  # lines removed per rule, over the documents kept
    assert counters["c4_lines_removed_javascript"] == 1 and counters["c4_lines_removed_policy"] == 1
    assert counters["c4_docs_modified"] == 1
    dry = cli("filter", src, "-o", tmp_path / "dry", "--preset", "fineweb", "--dry-run", "-q")
    assert dry.exit_code == 2 and "chain presets" in dry.stderr
