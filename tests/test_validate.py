"""`curate validate` finds at plan time what would otherwise fail at run time: columns, types, overlaps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import write_config, write_jsonl


def project(tmp_path: Path, stages: list[dict[str, Any]]) -> Path:
    write_jsonl(tmp_path / "d.jsonl", [{"text": "one two three", "m": 3, "lang": "en"}])
    return write_config(tmp_path, {"input": {"paths": ["d.jsonl"]}, "workdir": "w", "stages": stages})


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([{"kind": "exact_dedup", "keep": "highest:nosuch"}], "stages[0].exact_dedup.keep: highest:nosuch: no such column"),
        ([{"kind": "minhash_dedup", "keep": "highest:lang"}], "stages[0].minhash_dedup.keep: highest:lang: column lang is String"),
        ([{"kind": "filter", "rules": {"r": "m == 'x'"}}], "stages[0].filter.rules.r: column m is Int64, compared with a string"),
        ([{"kind": "exact_dedup"}, {"kind": "filter", "rules": {"r": "nosuch > 1"}}], "stages[1].filter.rules.r: unknown column 'nosuch'"),
    ],
)
def test_validate_names_the_stage_key_and_column(cli: Any, tmp_path: Path, stages: list[dict[str, Any]], message: str) -> None:
    result = cli("validate", project(tmp_path, stages))
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_validate_accepts_a_rule_over_a_column_of_the_right_type(cli: Any, tmp_path: Path) -> None:
    result = cli("validate", project(tmp_path, [{"kind": "filter", "rules": {"r": "m >= 2 and lang == 'en'"}}]))
    assert result.exit_code == 0, result.output
