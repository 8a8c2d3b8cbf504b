"""Single-stage commands build their stage config from flags and take the same path as `run`."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from conftest import make_records, read_dir, write_jsonl


def test_augment_command_adds_capped_flagged_rows(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", make_records(200, seed=4))
    out = tmp_path / "aug"
    result = cli("augment", src, "-o", out, "--op", "typo", "--rate", "0.05", "--fraction", "0.5", "--max-synthetic-fraction", "0.2", "--seed", "7", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    frame = read_dir(out)
    synthetic = frame.filter(pl.col("is_synthetic"))
    assert 0 < synthetic.height <= 0.2 * frame.height
    assert set(synthetic["origin_id"]) <= set(frame.filter(~pl.col("is_synthetic"))["id"])
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["steps"][1]["counts"]["docs_added"] == synthetic.height


def test_augment_command_rejects_an_unknown_operator(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", make_records(5))
    result = cli("augment", src, "-o", tmp_path / "o", "--op", "nope", "-q")
    assert result.exit_code == 2
    assert "augment.ops[0].op: Input should be 'typo'" in result.stderr
