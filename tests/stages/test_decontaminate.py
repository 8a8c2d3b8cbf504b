"""Decontaminate: each mode on tiny planted examples, the common-n-gram whitelist, and the command."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.runner import run_stage_frames
from curate.stages.base import REJECT
from curate.stages.decontaminate import Decontaminate, DecontaminateConfig

ITEM = "Which river flows through the ancient city that was the capital of the western roman empire"
FILLER = "Gardening notes: tomatoes need sun, water and patience; peppers like it warm and dry. "


def evals(tmp_path: Path, *items: str) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps({"question": t}) + "\n" for t in items))
    return path


def run(tmp_path: Path, texts: list[str | None], counters: Counter[str] | None = None, **cfg: object) -> pl.DataFrame:
    """Every row after the stage (kept and rejected, by id), through the runner's own units."""
    config = DecontaminateConfig(evals=[{"name": "rivers", "path": str(evals(tmp_path, ITEM)), "fields": ["question"]}], **cfg)
    frame = pl.DataFrame({"id": [f"d{i}" for i in range(len(texts))], "text": texts}, schema={"id": pl.String, "text": pl.String})
    rows, _ = run_stage_frames(Decontaminate(config), [frame.slice(0, 2), frame.slice(2)], tmp_path / "work", counters=counters)
    return rows.sort("id")


def test_drop_removes_a_document_with_any_matched_ngram(tmp_path: Path) -> None:
    rows = run(tmp_path, [FILLER + ITEM.upper() + ".", FILLER, None, ""])
    assert rows[REJECT].to_list() == ["contaminated", None, None, None]
    assert rows["decontam_benchmarks"].to_list() == [["rivers"], [], [], []]
    assert rows["decontam_ngrams"].to_list() == [4, 0, 0, 0]  # 16 words: four 13-grams


def test_span_cuts_a_window_around_the_match_and_keeps_the_rest(tmp_path: Path) -> None:
    before, after = FILLER * 6, " Unrelated closing remarks about the weather." * 10
    counters: Counter[str] = Counter()
    rows = run(tmp_path, [before + ITEM + after, FILLER], counters, mode="span", window=20, min_fragment=50)
    cut = rows.row(0, named=True)
    assert cut[REJECT] is None
    assert "roman empire" not in cut["text"] and "river" not in cut["text"]
    assert cut["text"] == before[:-20].strip() + "\n\n" + after[20:].strip()
    assert cut["decontam_chars_removed"] == len(ITEM) + 40
    assert rows.row(1, named=True)["text"] == FILLER
    assert counters["decontam_docs_cut"] == 1 and counters["decontam_chars_removed_rivers"] == cut["decontam_chars_removed"]


def test_span_removes_a_document_cut_too_often_or_left_empty(tmp_path: Path) -> None:
    many = (FILLER * 4 + ITEM + ". ") * 4 + FILLER * 4
    run(tmp_path, [many, ITEM], mode="span", window=10, min_fragment=20, max_splits=3)
    rejected = pl.read_parquet(tmp_path / "work" / "01_stage" / "rejected").sort("id")
    assert rejected["reject_reason"].to_list() == ["contaminated", "contaminated"]
    detail = rejected["reject_detail"].to_list()
    assert detail[0].startswith("cut 4 times (more than max_splits 3)") and detail[1].startswith("nothing left")


def test_coverage_is_the_share_of_an_items_words_that_matched_ngrams_span(tmp_path: Path) -> None:
    words = ITEM.split()  # 16 words: 13-grams at positions 0 to 3
    half = " ".join(words[:14])  # grams 0 and 1 span words 0-13: 14 of 16
    edited = ITEM.replace("empire", "republic")  # grams 0-2 survive: 15 of 16
    one = " ".join(words[:13])  # 13 of 16
    middle = ITEM.replace("ancient", "old")  # every gram holds word 5: nothing matches
    rows = run(tmp_path, [FILLER + ITEM, FILLER + half, FILLER + edited, FILLER + one, FILLER + middle], mode="coverage", coverage=0.9)
    assert rows[REJECT].to_list() == ["contaminated", None, "contaminated", None, None]
    assert rows["decontam_coverage"].to_list() == pytest.approx([1.0, 14 / 16, 15 / 16, 13 / 16, 0.0])


def test_ngrams_common_in_the_corpus_are_ignored(tmp_path: Path) -> None:
    texts = [FILLER + ITEM] * 3 + [FILLER]
    assert run(tmp_path, texts, max_doc_frequency=2)[REJECT].to_list() == [None] * 4
    assert run(tmp_path, texts, max_doc_frequency=3)[REJECT].to_list() == ["contaminated"] * 3 + [None]
    assert run(tmp_path, texts, max_doc_frequency=None)[REJECT].to_list() == ["contaminated"] * 3 + [None]


def test_counters_report_the_index_and_each_eval_set(tmp_path: Path) -> None:
    counters: Counter[str] = Counter()
    run(tmp_path, [FILLER + ITEM, FILLER], counters)
    assert counters["decontam_items_rivers"] == 1 and counters["decontam_items_hit_rivers"] == 1
    assert counters["decontam_docs_rivers"] == 1 and counters["decontam_index_ngrams"] == 4
    assert counters["decontam_chars_removed_rivers"] == len(FILLER + ITEM)


def test_config_checks_name_the_problem() -> None:
    with pytest.raises(ValueError, match="fields` or `template"):
        DecontaminateConfig(evals=[{"name": "a", "path": "x.jsonl", "fields": ["q"], "template": "{q}"}])
    with pytest.raises(ValueError, match="unique"):
        DecontaminateConfig(evals=[{"name": "a", "path": "x.jsonl"}, {"name": "a", "path": "y.jsonl"}])
    with pytest.raises(ValueError, match="min_words"):
        DecontaminateConfig(evals=[{"name": "a", "path": "x.jsonl"}], ngram=5, min_words=8)


def test_the_command_conserves_documents_and_reruns_when_an_eval_file_changes(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in [FILLER + ITEM, FILLER, FILLER + "x"]))
    eval_file = evals(tmp_path, ITEM)
    out = tmp_path / "out"
    args = ["decontaminate", str(corpus), "-o", str(out), "--against", f"rivers={eval_file}:question", "--workers", "1", "-q"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    step = json.loads((out / "_manifest.json").read_text())["steps"][-1]["counts"]
    assert (step["docs_in"], step["docs_kept"], step["rejected_by_reason"]) == (3, 2, {"contaminated": 1})
    assert pl.read_parquet(out / "rejected").height == 1 and pl.read_parquet(out / "*.parquet").height == 2
    eval_file.write_text(json.dumps({"question": "tomatoes need sun water and patience peppers like it warm and dry"}) + "\n")
    again = CliRunner().invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    step = json.loads((out / "_manifest.json").read_text())["steps"][-1]["counts"]
    assert step["rejected_by_reason"] == {"contaminated": 3}


def test_a_bad_eval_file_is_a_clear_error_naming_file_and_line(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"text": FILLER}) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "fine"}\n{"question": \n')
    result = CliRunner().invoke(app, ["decontaminate", str(corpus), "-o", str(tmp_path / "o"), "--against", f"b={bad}:question", "-w", "1", "-q"])
    assert result.exit_code == 2
    assert f"{bad}:2: not valid JSON" in result.output and "Traceback" not in result.output


def test_the_release_manifest_and_card_carry_a_table_per_eval_set(tmp_path: Path) -> None:
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in [FILLER + ITEM, FILLER]))
    evals(tmp_path, ITEM, "one two")
    (tmp_path / "run.yaml").write_text(
        "input: {paths: [corpus.jsonl]}\nworkdir: work\noutput: {path: release}\nengine: {workers: 1}\n"
        "stages: [{kind: decontaminate, evals: [{name: rivers, path: eval.jsonl, fields: [question]}]}]\n"
    )
    result = CliRunner().invoke(app, ["run", str(tmp_path / "run.yaml"), "-q"])
    assert result.exit_code == 0, result.output
    step = next(s for s in json.loads((tmp_path / "release" / "_manifest.json").read_text())["steps"] if s["stage"] == "decontaminate")
    chars = len(FILLER + ITEM)
    assert step["contamination"] == {"rivers": {"items": 2, "items_too_short": 1, "items_hit": 1, "documents": 1, "chars_removed": chars}}
    assert step["index_ngrams"] == 4 and step["index_bytes"] > 0
    card = (tmp_path / "release" / "README.md").read_text()
    assert f"| rivers | 2 | 1 | 1 | 1 | {chars:,} |" in card
