"""examples/weekly-refresh/: the script run on two generated weeks of the shipped corpus, then a bad week."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "weekly-refresh" / "refresh.sh"
MANUAL = ROOT / "examples" / "corpus" / "manual"


def refresh(drop: Path, state: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"CURATE": str(Path(sys.executable).with_name("curate"))}
    return subprocess.run(["bash", str(SCRIPT), str(drop), str(state)], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def weeks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Week 1 is the manual's first part, week 2 its second; both refreshes run once here."""
    tmp = tmp_path_factory.mktemp("weekly")
    for week, part in (("2026-W01", "part-0"), ("2026-W02", "part-1")):
        (tmp / week).mkdir()
        shutil.copy(MANUAL / f"{part}.jsonl.gz", tmp / week / f"{part}.jsonl.gz")
    state = tmp / "state"
    first = refresh(tmp / "2026-W01", state)
    assert first.returncode == 0, first.stderr
    released = json.loads((state / "release" / "_manifest.json").read_text())
    second = refresh(tmp / "2026-W02", state)
    assert second.returncode == 0, second.stderr
    return {"tmp": tmp, "state": state, "first": released, "second": second}


def test_the_first_week_publishes_a_release_with_its_report(weeks: dict) -> None:
    first, state = weeks["first"], weeks["state"]
    assert first["totals"]["docs_out"] > 500
    assert (state / "drops" / "2026-W01" / "part-0.jsonl.gz").is_file()
    stages = [s["stage"] for s in first["steps"]]
    assert stages == ["ingest", "minhash_dedup", "decontaminate", "quality_score", "filter", "pii", "tokens", "export"]


def test_the_second_week_keeps_every_released_document_and_adds_the_new_ones(weeks: dict) -> None:
    state, first = weeks["state"], weeks["first"]
    diff = json.loads((state / "diff.json").read_text())
    docs = diff["documents"]
    assert docs["old"] == first["totals"]["docs_out"]
    assert docs["removed"] == 0 and docs["kept"] == docs["old"]  # the index keeps what was released
    assert docs["added"] == docs["new"] - docs["old"] > 0
    assert diff["tokens"]["delta"] > 0
    assert diff["contamination"] == {"manual_quiz": 6}
    assert f"{docs['added']:,} added, 0 removed" in weeks["second"].stdout


def test_the_second_weeks_report_holds_the_diff_and_the_passed_gates(weeks: dict) -> None:
    state = weeks["state"]
    report = json.loads((state / "release" / "report.json").read_text())
    assert report["gates"]["passed"] is True
    gates = {r["gate"] for r in report["gates"]["results"]}
    assert {"min_docs", "min_kept_fraction", "max_contamination_items", "max_pii_per_million", "max_score_shift"} <= gates
    shift = next(r for r in report["gates"]["results"] if r["gate"] == "max_score_shift")
    assert shift["passed"] is True and 0 < shift["value"] < 0.3
    assert report["diff"]["documents"] == json.loads((state / "diff.json").read_text())["documents"]
    assert "Changes since the previous release" in (state / "release" / "report.html").read_text()


def test_a_bad_week_fails_its_gate_and_leaves_last_weeks_release_in_place(weeks: dict) -> None:
    tmp, state = weeks["tmp"], weeks["state"]
    before = (state / "release" / "_manifest.json").read_text()
    # a feed gone wrong: one released page re-sent 600 times with a counter appended
    with gzip.open(MANUAL / "part-0.jsonl.gz", "rt") as fh:
        page = json.loads(fh.readline())["text"]
    bad = tmp / "2026-W03"
    bad.mkdir()
    (bad / "feed.jsonl").write_text("".join(json.dumps({"text": f"{page}\n{i}"}) + "\n" for i in range(600)))
    result = refresh(bad, state)
    assert result.returncode == 1
    assert result.stderr.startswith("error: gate failed: ")
    assert (state / "release" / "_manifest.json").read_text() == before
    gates = json.loads((state / "work" / "report.json").read_text())["gates"]
    failed = {r["gate"] for r in gates["results"] if r["passed"] is False}
    assert gates["passed"] is False and failed == {"min_kept_fraction", "max_reject_share_per_reason[near_duplicate]"}
