"""`--resume` after a change of config or input equals a fresh run of the changed config, byte for
byte, and the manifest balances (every input line kept or rejected). All through the CLI.

Each case: run the pipeline to completion, change one thing, `curate run --resume` in the same
workdir; separately, a fresh run of the changed project in a new folder; compare.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from faults import project
from faults.conftest import record, run_cli

FULL = pytest.mark.faults_full
pytestmark = pytest.mark.timeout(1200)


def _stage(cfg: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(s for s in cfg["stages"] if s["kind"] == kind)


def loosen_rule(root: Path, cfg: dict[str, Any]) -> None:
    _stage(cfg, "filter")["rules"]["enough"] = "n >= 6"


def tighten_rule(root: Path, cfg: dict[str, Any]) -> None:
    _stage(cfg, "filter")["rules"]["enough"] = "n >= 30"


def add_rule(root: Path, cfg: dict[str, Any]) -> None:
    _stage(cfg, "filter")["rules"]["not_too_many"] = "n <= 120"


def split_fraction(root: Path, cfg: dict[str, Any]) -> None:
    cfg["output"]["split"] = {"validation": 0.25, "test": 0.05}


def seed(root: Path, cfg: dict[str, Any]) -> None:
    cfg["seed"] = 4


def add_stage(root: Path, cfg: dict[str, Any]) -> None:
    cfg["stages"].append({"kind": "exact_dedup", "lowercase": True})


def remove_stage(root: Path, cfg: dict[str, Any]) -> None:
    cfg["stages"] = [s for s in cfg["stages"] if s["kind"] != "exact_dedup"]


def output_shard_size(root: Path, cfg: dict[str, Any]) -> None:
    cfg["output"]["rows_per_shard"] = 37


def delete_input(root: Path, cfg: dict[str, Any]) -> None:
    (root / "in" / "part-1.jsonl").unlink()


def add_input(root: Path, cfg: dict[str, Any]) -> None:
    (root / "in" / "part-2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in project.records(150, seed=33)))


def modify_input(root: Path, cfg: dict[str, Any]) -> None:
    path = root / "in" / "part-1.jsonl"
    lines = path.read_text().splitlines()
    # same size, other content: some words upper-cased in 20 records
    lines[20:40] = [line.replace("data", "DATA").replace("text", "TEXT") for line in lines[20:40]]
    path.write_text("\n".join(lines) + "\n")


def truncate_input(root: Path, cfg: dict[str, Any]) -> None:
    path = root / "in" / "part-0.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:100]) + "\n")


def change_model(root: Path, cfg: dict[str, Any]) -> None:
    train_model(root, root / "model.bin", seed=1, flip=True)


def train_model(root: Path, model: Path, seed: int, flip: bool = False) -> None:
    pos, neg = root / "pos.txt", root / "neg.txt"
    good = [r["text"] for r in project.records(300, seed=100 + seed)]
    bad = [" ".join(t.split()[:3]) + " ###" for t in good]
    pos.write_text("\n".join(bad if flip else good) + "\n")
    neg.write_text("\n".join(good if flip else bad) + "\n")
    result = run_cli(
        ["train-classifier", "-p", pos, "-n", neg, "-o", model, "--dim", "4", "--word-ngrams", "1", "--epoch", "3", "--seed", str(seed)],
        root, timeout=300,
    )
    assert result.returncode == 0, result.stderr


def with_model(root: Path, cfg: dict[str, Any]) -> None:
    train_model(root, root / "model.bin", seed=0)
    cfg["stages"] = [
        {"kind": "exact_dedup"},
        {"kind": "quality_score", "heuristics": [], "fasttext": [{"name": "hq", "path": "model.bin"}]},
        {"kind": "filter", "rules": {"enough": "n >= 12", "hq": "fasttext_hq >= 0.2"}},
    ]


# name -> (change, set-up before the first run, in the fast subset)
CHANGES: dict[str, tuple[Callable[[Path, dict[str, Any]], None], Callable[[Path, dict[str, Any]], None] | None, bool]] = {
    "loosen_filter_rule": (loosen_rule, None, False),
    "tighten_filter_rule": (tighten_rule, None, True),
    "add_filter_rule": (add_rule, None, False),
    "change_split_fraction": (split_fraction, None, False),
    "change_seed": (seed, None, True),
    "add_stage": (add_stage, None, False),
    "remove_stage": (remove_stage, None, False),
    "change_output_shard_size": (output_shard_size, None, False),
    "delete_input_file": (delete_input, None, True),
    "add_input_file": (add_input, None, False),
    "modify_input_file": (modify_input, None, False),
    "truncate_input_file": (truncate_input, None, False),
    "change_model_file_content": (change_model, with_model, False),
}


def planted(root: Path) -> int:
    return sum(len([line for line in p.read_text().splitlines() if line.strip()]) for p in (root / "in").glob("*.jsonl"))


def build(root: Path, name: str, changed: bool) -> Path:
    change, setup, _ = CHANGES[name]
    project.write_inputs(root, small=True)
    cfg = project.config(root, small=True)
    if setup:
        setup(root, cfg)
    if changed:
        change(root, cfg)
    return project.write_config(root, cfg)


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if fast else [FULL]) for n, (_, _, fast) in CHANGES.items()])
def test_resume_after_change_equals_a_fresh_run(tmp_path: Path, name: str) -> None:
    a, fresh = tmp_path / "a", tmp_path / "fresh"
    a.mkdir()
    fresh.mkdir()
    first = run_cli(["run", build(a, name, changed=False), "-q"], a, timeout=600)
    assert first.returncode == 0, first.stderr
    before = project.published(a / "out")
    change, _, _ = CHANGES[name]
    cfg = project.config(a, small=True)
    if CHANGES[name][1]:
        CHANGES[name][1](a, cfg)
    change(a, cfg)
    project.write_config(a, cfg)
    resumed = run_cli(["run", a / "c.yaml", "--resume", "-q"], a, timeout=600)
    again = run_cli(["run", build(fresh, name, changed=True), "-q"], fresh, timeout=600)
    assert again.returncode == 0, again.stderr
    same = resumed.returncode == 0 and project.published(a / "out") == project.published(fresh / "out")
    ok, detail = project.balance(a, planted(a)) if resumed.returncode == 0 else (False, resumed.stderr)
    totals_same = resumed.returncode == 0 and json.loads((a / "out" / "_manifest.json").read_text())["totals"] == json.loads((fresh / "out" / "_manifest.json").read_text())["totals"]
    record("change", name=name, ok=same and ok and totals_same)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert same, f"{name}: the resumed output differs from a fresh run of the changed config"
    assert totals_same
    assert ok, detail
    if name != "add_stage":
        assert project.published(a / "out") != before, f"{name}: the change changed nothing (a weak case)"
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_at_least_8_kinds_of_change() -> None:
    assert len(CHANGES) >= 8
