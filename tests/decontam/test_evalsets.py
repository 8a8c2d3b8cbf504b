"""Eval files: every format gives the same items; every mistake names the file and the line."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from curate.decontam.evalsets import read_eval_set
from curate.errors import ConfigError

ROWS = [{"task_id": "a", "q": "What is two plus two?", "choices": ["3", "4"]}, {"task_id": "b", "q": "Name a prime.", "choices": ["6", "7"]}]


def test_jsonl_parquet_and_csv_give_the_same_items(tmp_path: Path) -> None:
    jsonl = tmp_path / "e.jsonl.gz"
    with gzip.open(jsonl, "wt") as fh:
        fh.write("\n".join(pl.DataFrame(ROWS).write_ndjson().splitlines()) + "\n\n")
    parquet = tmp_path / "e.parquet"
    pl.DataFrame(ROWS).write_parquet(parquet)
    csv = tmp_path / "e.csv"
    pl.DataFrame(ROWS).with_columns(pl.col("choices").list.join("\n")).write_csv(csv)
    got = [read_eval_set("e", str(p), ["q", "choices"], id_field="task_id") for p in (jsonl, parquet, csv)]
    assert all(g.texts == ["What is two plus two?\n3\n4", "Name a prime.\n6\n7"] for g in got)
    assert all(g.ids == ["a", "b"] for g in got)


def test_a_template_fills_fields_and_ids_default_to_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"question": "Q1?", "answer": "A1"}\n\n{"question": "Q2?", "answer": "A2"}\n')
    items = read_eval_set("e", str(path), ["text"], template="Question: {question} Answer: {answer}")
    assert items.texts == ["Question: Q1? Answer: A1", "Question: Q2? Answer: A2"]
    assert items.ids == ["1", "3"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "fine"}\n{"text": "broken"\n', "e.jsonl:2: not valid JSON"),
        ('{"text": "fine"}\n["not", "an", "object"]\n', "e.jsonl:2: expected a JSON object"),
        ('{"text": "fine"}\n{"other": "x"}\n', "e.jsonl:2: no field 'text'"),
    ],
)
def test_a_bad_jsonl_line_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_eval_set("e", str(path), ["text"])


def test_a_missing_parquet_column_lists_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pl.DataFrame({"prompt": ["x"]}).write_parquet(path)
    with pytest.raises(ConfigError, match="no column 'text'") as err:
        read_eval_set("e", str(path), ["text"])
    assert "prompt" in (err.value.hint or "")


def test_a_csv_row_with_extra_values_is_named(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("text\nfine\n\"a\",\"b\"\n")
    with pytest.raises(ConfigError, match=r"e\.csv:3: more values"):
        read_eval_set("e", str(path), ["text"])


def test_missing_file_and_unknown_suffix_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        read_eval_set("e", str(tmp_path / "nope.jsonl"), ["text"])
    odd = tmp_path / "e.xml"
    odd.write_text("<x/>")
    with pytest.raises(ConfigError, match="cannot tell its format"):
        read_eval_set("e", str(odd), ["text"])
