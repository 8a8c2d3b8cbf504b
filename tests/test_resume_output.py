"""`--resume` continues the run that published an output; it never replaces another config's release."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from conftest import make_records, write_jsonl


def _config(tmp: Path, min_words: int) -> Path:
    cfg = {
        "input": {"sources": [{"paths": [str(tmp / "in.jsonl")]}]},
        "workdir": str(tmp / "work"),
        "output": {"path": str(tmp / "out")},
        "stages": [{"kind": "filter", "rules": {"enough_words": f"gopher_word_count >= {min_words}"}}],
    }
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resume_after_a_config_change_does_not_replace_the_release(cli: Any, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", make_records(40, seed=3))
    assert cli("run", _config(tmp_path, 20), "-q").exit_code == 0
    before = (tmp_path / "out" / "_manifest.json").read_bytes()
    result = cli("run", _config(tmp_path, 5), "--resume", "-q")
    assert result.exit_code == 2 and "holds a release of another config" in result.stderr
    assert (tmp_path / "out" / "_manifest.json").read_bytes() == before


def test_resume_of_the_same_config_is_allowed_and_overwrite_replaces(cli: Any, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", make_records(40, seed=3))
    assert cli("run", _config(tmp_path, 20), "-q").exit_code == 0
    assert cli("run", _config(tmp_path, 20), "--resume", "-q").exit_code == 0
    assert cli("run", _config(tmp_path, 5), "--resume", "--overwrite", "-q").exit_code == 0
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["steps"][-2]["config"]["rules"]["enough_words"] == "gopher_word_count >= 5"
