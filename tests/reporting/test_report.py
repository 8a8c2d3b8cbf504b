"""report.json and report.html: written by every run, figures equal to the manifests, hostile text escaped."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_helpers import HOSTILE, pipeline, read, write_week


@pytest.fixture
def release(tmp_path: Path, cli) -> tuple[Path, Path]:  # noqa: ANN001
    drop = write_week(tmp_path, 1)
    out, work = tmp_path / "out", tmp_path / "work"
    result = cli("run", pipeline(tmp_path, drop, out, work))
    assert result.exit_code == 0, result.output
    return out, work


def test_every_run_writes_the_report_in_the_release_and_the_workdir_and_prints_its_path(tmp_path: Path, cli) -> None:  # noqa: ANN001
    drop = write_week(tmp_path, 1)
    result = cli("run", pipeline(tmp_path, drop, tmp_path / "out", tmp_path / "work"))
    assert result.exit_code == 0
    for folder in (tmp_path / "out", tmp_path / "work"):
        assert (folder / "report.json").is_file() and (folder / "report.html").is_file()
    assert f"report: {tmp_path / 'out' / 'report.html'}" in result.stdout


def test_report_numbers_equal_the_manifest_counts(release: tuple[Path, Path]) -> None:
    out, _ = release
    report, manifest = read(out / "report.json"), read(out / "_manifest.json")
    assert report["totals"] == manifest["totals"]
    assert report["run"]["config_hash"] == manifest["config_hash"] and report["run"]["seed"] == 7
    assert [(f["step"], f["docs_in"], f["docs_rejected"], f["docs_kept"]) for f in report["funnel"]] == [
        (s["folder"], s["counts"]["docs_in"], s["counts"]["docs_rejected"], s["counts"]["docs_kept"]) for s in manifest["steps"]
    ]
    reasons = {(r["step"], r["reason"]): r["count"] for r in report["reasons"]}
    assert reasons == {(s["folder"], k): v for s in manifest["steps"] for k, v in s["counts"]["rejected_by_reason"].items()}
    assert report["sources"] == manifest["sources"] and report["splits"] == manifest["splits"]
    tokens_step = next(s for s in manifest["steps"] if s["stage"] == "tokens")
    assert report["token_counts"][0]["table"]["total"] == tokens_step["counts"]["counters"]["tokens_total"]
    hist = next(h for h in report["histograms"] if h["column"] == "gopher_word_count")
    assert sum(hist["kept"]) == hist["sample_kept"] == manifest["totals"]["docs_out"]  # the whole (small) release is the sample
    assert sum(hist["rejected"]) == hist["sample_rejected"] == reasons[("03_filter", "enough_words")]


def test_thresholds_of_filter_rules_are_drawn_on_their_histogram(release: tuple[Path, Path]) -> None:
    out, _ = release
    report = read(out / "report.json")
    hist = next(h for h in report["histograms"] if h["column"] == "gopher_word_count")
    assert hist["thresholds"] == [{"rule": "enough_words", "op": ">=", "value": 10.0, "step": "03_filter"}]
    page = (out / "report.html").read_text()
    assert 'data-chart="hist-gopher_word_count"' in page and 'class="threshold"' in page


def test_removed_examples_link_to_their_rejected_set(release: tuple[Path, Path]) -> None:
    out, work = release
    report = read(out / "report.json")
    dup = next(r for r in report["reasons"] if r["reason"] == "exact_duplicate")
    assert 1 <= len(dup["examples"]) <= 3
    for ex in dup["examples"]:
        assert ex["file"].startswith("_rejected/01_exact_dedup-") and (out / ex["file"]).is_file()
    # the workdir's copy links to the workdir's own rejected files
    local = next(r for r in read(work / "report.json")["reasons"] if r["reason"] == "exact_duplicate")
    assert all((work / ex["file"]).is_file() and "/rejected/" in ex["file"] for ex in local["examples"])


def test_hostile_text_is_escaped_and_the_page_runs_no_script(release: tuple[Path, Path]) -> None:
    out, _ = release
    report = read(out / "report.json")
    examples = [ex["text"] for r in report["reasons"] for ex in r["examples"]]
    assert HOSTILE in examples  # the short hostile document was rejected by the word-count rule
    page = (out / "report.html").read_text()
    assert "<script" not in page.lower() and "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    assert html.escape(HOSTILE, quote=True) in page
    assert not re.search(r"<(link|iframe|object|embed)\b", page) and "http://" not in page and "https://" not in page


def test_curate_report_rebuilds_the_report_of_a_release_and_of_a_workdir(release: tuple[Path, Path], cli, tmp_path: Path) -> None:  # noqa: ANN001
    out, work = release
    first = read(out / "report.json")
    (out / "report.json").unlink()
    result = cli("report", out)
    assert result.exit_code == 0 and result.stdout.strip() == str(out / "report.html")
    again = read(out / "report.json")
    assert again["funnel"] == first["funnel"] and again["reasons"] == first["reasons"]
    result = cli("report", work, "-o", tmp_path / "elsewhere")
    assert result.exit_code == 0 and (tmp_path / "elsewhere" / "report.html").is_file()
    assert read(tmp_path / "elsewhere" / "report.json")["kind"] == "workdir"


def test_curate_report_of_a_folder_curate_did_not_write_is_a_usage_error(tmp_path: Path, cli) -> None:  # noqa: ANN001
    (tmp_path / "empty").mkdir()
    result = cli("report", tmp_path / "empty")
    assert result.exit_code == 2 and "not a folder curate wrote" in result.stderr


def test_a_run_without_output_reports_its_workdir(tmp_path: Path, cli) -> None:  # noqa: ANN001
    import yaml

    drop = write_week(tmp_path, 1)
    config = pipeline(tmp_path, drop, tmp_path / "out", tmp_path / "work")
    cfg = yaml.safe_load(config.read_text())
    del cfg["output"]
    config.write_text(yaml.safe_dump(cfg))
    result = cli("run", config)
    assert result.exit_code == 0
    report = read(tmp_path / "work" / "report.json")
    assert report["kind"] == "workdir" and report["funnel"][-1]["step"] == "04_tokens"
    assert report["totals"]["docs_out"] == report["funnel"][-1]["docs_kept"]


def test_a_json_lines_release_is_sampled_from_the_workdir_and_not_diffed(tmp_path: Path, cli) -> None:  # noqa: ANN001
    import yaml

    drop = write_week(tmp_path, 1)
    config = pipeline(tmp_path, drop, tmp_path / "out", tmp_path / "work")
    cfg = yaml.safe_load(config.read_text())
    cfg["output"]["format"] = "jsonl"
    config.write_text(yaml.safe_dump(cfg))
    assert cli("run", config, "-q").exit_code == 0
    report = read(tmp_path / "out" / "report.json")
    hist = next(h for h in report["histograms"] if h["column"] == "gopher_word_count")
    assert sum(hist["kept"]) == report["totals"]["docs_out"]
    assert cli("run", config, "-q").exit_code == 0  # a second release over the first: no diff, no error
    assert read(tmp_path / "out" / "report.json")["diff"] is None
    result = cli("diff", tmp_path / "out", tmp_path / "out")
    assert result.exit_code == 2 and "JSON Lines release" in result.stderr


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), max_size=60),
    st.lists(st.floats(-1e6, 1e6), max_size=60),
    st.lists(st.floats(-1e6, 1e6), max_size=3),
)
def test_histograms_count_every_sampled_value_once_and_span_the_thresholds(kept: list[float], rejected: list[float], limits: list[float]) -> None:
    import numpy as np

    from curate.reporting.sample import histogram

    h = histogram(np.array(kept, float), np.array(rejected, float), limits)
    if not kept and not rejected:
        assert h is None
        return
    assert h is not None and sum(h["kept"]) == len(kept) and sum(h["rejected"]) == len(rejected)
    assert len(h["edges"]) == len(h["kept"]) + 1 and h["edges"] == sorted(h["edges"])
    assert all(h["edges"][0] - 1e-6 <= t <= h["edges"][-1] + 1e-6 for t in limits)
