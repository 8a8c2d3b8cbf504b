"""curate inspect, curate diff and the gates: behaviour a user relies on in a refresh job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_helpers import pipeline, read, week_records, write_week

from curate.reporting.sample import ks_statistic


def _run(cli, tmp_path: Path, week: int, gates: dict | None = None, out: str = "out"):  # noqa: ANN001, ANN202
    drop = write_week(tmp_path, week)
    return cli("run", pipeline(tmp_path, drop, tmp_path / out, tmp_path / f"work-{out}", gates, name=f"w{week}-{out}.yaml"), "--quiet")


# ------------------------------------------------------------------ inspect


def test_inspect_shows_counts_steps_and_schema(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1).exit_code == 0
    out = cli("inspect", tmp_path / "out", "-n", "0").stdout
    manifest = read(tmp_path / "out" / "_manifest.json")
    kept, rejected = manifest["totals"]["docs_out"], manifest["totals"]["docs_rejected"]
    assert f"documents: {kept:,} kept" in out and f"{rejected:,} rejected" in out
    assert "01_exact_dedup" in out and "exact_duplicate" in out and "gopher_word_count: double" in out


def test_inspect_where_uses_the_rule_grammar(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1).exit_code == 0
    out = cli("inspect", tmp_path / "out", "--where", "gopher_word_count < 25 and source == 'books'", "-n", "50").stdout
    data = pl.concat([pl.read_parquet(f) for f in (tmp_path / "out").glob("*/part-*.parquet")])
    want = data.filter((pl.col("gopher_word_count") < 25) & (pl.col("source") == "books"))
    assert want.height > 0 and f"{want.height} kept row(s)" in out
    shown = out.split("kept row(s):")[1]
    assert set(want.get_column("id").to_list()) == {line.split(": ")[1] for line in shown.splitlines() if line.startswith("  id: ")}


def test_inspect_where_with_a_wrong_type_names_the_column_and_exits_2(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1).exit_code == 0
    result = cli("inspect", tmp_path / "out", "--where", "gopher_word_count > 'many'")
    assert result.exit_code == 2 and "--where: column gopher_word_count is Float64" in result.stderr


def test_inspect_by_reason_shows_rejected_documents_of_that_reason_only(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1).exit_code == 0
    out = cli("inspect", tmp_path / "out", "--reason", "exact_duplicate", "-n", "3").stdout
    reasons = [line.split(": ")[1] for line in out.splitlines() if line.startswith("  reject_reason: ")]
    assert reasons == ["exact_duplicate"] * 3


def test_inspect_id_shows_which_step_removed_a_duplicate_and_its_survivor(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1).exit_code == 0
    # doc-0010 repeats doc-0003's text; the survivor is whichever exact_dedup keeps
    rejected = pl.read_parquet(tmp_path / "work-out" / "01_exact_dedup" / "rejected" / "*.parquet")
    row = rejected.filter(pl.col("id").is_in(["doc-0003", "doc-0010"])).row(0, named=True)
    out = cli("inspect", tmp_path / "out", "--id", row["id"]).stdout
    assert f"{row['id']}: rejected" in out and "removed by 01_exact_dedup: exact_duplicate" in out
    assert f"duplicate of {row['duplicate_of']}" in out
    assert "  00_ingest: kept\n  01_exact_dedup: removed (exact_duplicate)" in out
    kept = cli("inspect", tmp_path / "out", "--id", row["duplicate_of"]).stdout
    assert f"{row['duplicate_of']}: kept" in kept and "  05_export: kept" in kept
    missing = cli("inspect", tmp_path / "out", "--id", "no-such-id")
    assert "not found" in missing.stdout and missing.exit_code == 1


def _shards_with_rejected(root: Path, reasons: list[str]) -> Path:
    """A command's output (shards layout) of one kept file and one rejected file with ``reasons``."""
    (root / "data").mkdir(parents=True)
    (root / "rejected").mkdir()
    pl.DataFrame({"id": ["k1", "k2"], "text": ["kept one", "kept two"]}).write_parquet(root / "data" / "part-00000.parquet")
    ids = [f"r{i}" for i in range(len(reasons))]
    pl.DataFrame({"id": ids, "text": ids, "reject_stage": ["filter"] * len(ids), "reject_reason": reasons}).write_parquet(root / "rejected" / "part-00000.parquet")
    block = {"layout": "shards", "data_files": ["data/part-00000.parquet"], "rejected_files": ["rejected/part-00000.parquet"]}
    (root / "_manifest.json").write_text(json.dumps({"curate_dataset": block}))
    return root


def test_inspect_reason_that_no_row_has_exits_1_and_lists_the_reasons_with_counts(tmp_path: Path, cli) -> None:  # noqa: ANN001
    out = _shards_with_rejected(tmp_path / "out", ["too_short", "too_short", "exact_duplicate"])
    missing = cli("inspect", out, "--reason", "too_long")
    assert missing.exit_code == 1
    assert "no rejected row has reason 'too_long'; the reasons here: too_short 2, exact_duplicate 1" in missing.stdout
    found = cli("inspect", out, "--reason", "exact_duplicate")
    assert found.exit_code == 0 and "1 rejected row(s):" in found.stdout and "  id: r2" in found.stdout


# ------------------------------------------------------------------ diff


def test_diff_counts_added_removed_and_kept_documents_by_source(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1, out="w1").exit_code == 0
    assert _run(cli, tmp_path, 2, out="w2").exit_code == 0
    result = cli("diff", tmp_path / "w1", tmp_path / "w2", "--json")
    assert result.exit_code == 0
    d = json.loads(result.stdout)

    def ids(folder: str) -> dict[str, str]:
        frame = pl.concat([pl.read_parquet(f) for f in (tmp_path / folder).glob("*/part-*.parquet")])
        return dict(zip(frame.get_column("id").to_list(), frame.get_column("source").to_list(), strict=True))

    a, b = ids("w1"), ids("w2")
    assert d["documents"] == {"old": len(a), "new": len(b), "added": len(b.keys() - a.keys()), "removed": len(a.keys() - b.keys()), "kept": len(a.keys() & b.keys())}
    assert d["by_source"]["books"]["added"] == sum(1 for k in b.keys() - a.keys() if b[k] == "books")
    # the first ten ids are not in week 2's drop: they are gone because they are not in the input
    assert d["removed_by_reason"]["not in the new input"] == len({f"doc-{i:04d}" for i in range(10)} & a.keys())
    assert d["tokens"]["delta"] == d["tokens"]["new"] - d["tokens"]["old"]
    text = cli("diff", tmp_path / "w1", tmp_path / "w2").stdout
    assert f"{d['documents']['added']:,} added, {d['documents']['removed']:,} removed" in text


def test_diff_of_a_release_with_itself_shows_no_change(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1).exit_code == 0
    d = json.loads(cli("diff", tmp_path / "out", tmp_path / "out", "--json").stdout)
    assert d["documents"]["added"] == d["documents"]["removed"] == 0
    assert all(s["ks"] == 0.0 for s in d["signals"])


def test_diff_of_folders_that_are_not_releases_is_a_usage_error(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1).exit_code == 0
    result = cli("diff", tmp_path / "work-out", tmp_path / "out")
    assert result.exit_code == 2 and "OLD:" in result.stderr


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=30), st.lists(st.integers(-5, 5), min_size=1, max_size=30))
def test_ks_statistic_is_the_largest_gap_between_the_empirical_cdfs(a: list[int], b: list[int]) -> None:
    def cdf(xs: list[int], t: int) -> float:
        return sum(x <= t for x in xs) / len(xs)

    want = max(abs(cdf(a, t) - cdf(b, t)) for t in set(a) | set(b))
    assert ks_statistic(np.array(a, float), np.array(b, float)) == pytest.approx(want, abs=1e-6)


# ------------------------------------------------------------------ gates


def test_a_failing_gate_exits_1_publishes_nothing_and_says_why_in_the_report(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1).exit_code == 0
    before = read(tmp_path / "out" / "_manifest.json")
    files_before = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*"))
    result = _run(cli, tmp_path, 2, gates={"min_docs": 10_000})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: gate failed: min_docs: the release holds ")
    after = read(tmp_path / "out" / "_manifest.json")
    assert after["run_id"] == before["run_id"]  # the previous release is still the one in place
    assert sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*")) == files_before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staged release left beside it
    report = read(tmp_path / "work-out" / "report.json")
    assert report["gates"]["passed"] is False
    assert report["gates"]["results"][0] | {"message": ""} == {"gate": "min_docs", "value": report["totals"]["docs_out"], "limit": 10_000, "passed": False, "message": ""}
    assert "Gate failed" in (tmp_path / "work-out" / "report.html").read_text()


def test_passing_gates_publish_and_are_recorded_with_the_release(tmp_path: Path, cli) -> None:  # noqa: ANN001
    gates = {"min_docs": 10, "min_kept_fraction": 0.5, "max_reject_share_per_reason": 0.5, "max_synthetic_fraction": 0.0, "max_score_shift": 1.0}
    assert _run(cli, tmp_path, 1, gates=gates).exit_code == 0
    report = read(tmp_path / "out" / "report.json")
    assert report["gates"]["passed"] is True
    by_gate = {r["gate"]: r for r in report["gates"]["results"]}
    assert by_gate["max_score_shift"]["passed"] is None  # no previous release to compare with
    totals = report["totals"]
    assert by_gate["min_kept_fraction"]["value"] == pytest.approx((totals["docs_in"] - totals["docs_rejected"]) / totals["docs_in"], abs=1e-6)
    # one number for every reason, all within it: one row with the largest share
    assert by_gate["max_reject_share_per_reason"]["value"] == round(max(r["count"] for r in report["reasons"]) / totals["docs_in"], 6)
    assert not any(g.startswith("max_reject_share_per_reason[") for g in by_gate)
    assert _run(cli, tmp_path, 2, gates=gates).exit_code == 0
    second = read(tmp_path / "out" / "report.json")
    assert {r["gate"]: r for r in second["gates"]["results"]}["max_score_shift"]["passed"] is True
    assert second["diff"]["documents"]["removed"] > 0
    # `curate report` rebuilds the figures and keeps the verdict and the diff made at publish time
    assert cli("report", tmp_path / "out").exit_code == 0
    rebuilt = read(tmp_path / "out" / "report.json")
    assert rebuilt["gates"] == second["gates"] and rebuilt["diff"] == second["diff"]


def test_reject_share_gate_names_the_reason_that_took_too_much(tmp_path: Path, cli) -> None:  # noqa: ANN001
    result = _run(cli, tmp_path, 1, gates={"max_reject_share_per_reason": {"exact_duplicate": 0.01}})
    assert result.exit_code == 1 and "gate failed: max_reject_share_per_reason[exact_duplicate]: 01_exact_dedup removed" in result.stderr
    assert not (tmp_path / "out").exists()


def test_gates_missing_their_stage_fail_rather_than_pass_silently(tmp_path: Path, cli) -> None:  # noqa: ANN001
    result = _run(cli, tmp_path, 1, gates={"max_pii_per_million": 10})
    assert result.exit_code == 1 and "gate failed: max_pii_per_million: no pii step ran" in result.stderr


def test_an_unknown_gate_is_a_config_error_naming_the_key(tmp_path: Path, cli) -> None:  # noqa: ANN001
    result = _run(cli, tmp_path, 1, gates={"min_documents": 10})
    assert result.exit_code == 2 and "gates.min_documents" in result.stderr


def test_changing_only_the_gates_reuses_every_step_on_resume(tmp_path: Path, cli) -> None:  # noqa: ANN001
    drop = write_week(tmp_path, 1)
    assert cli("run", pipeline(tmp_path, drop, tmp_path / "out", tmp_path / "work", {"min_docs": 1})).exit_code == 0
    result = cli("run", pipeline(tmp_path, drop, tmp_path / "out", tmp_path / "work", {"min_docs": 2}), "--resume")
    assert result.exit_code == 0
    assert all(s["resumed_from_previous_run"] for s in read(tmp_path / "work" / "_run.json")["steps"])


def test_diff_checks_gates_against_the_new_release(tmp_path: Path, cli) -> None:  # noqa: ANN001
    assert _run(cli, tmp_path, 1, out="w1").exit_code == 0
    assert _run(cli, tmp_path, 2, out="w2").exit_code == 0
    (tmp_path / "gates.yaml").write_text("gates:\n  max_score_shift: 0.0\n  min_docs: 1\n")
    result = cli("diff", tmp_path / "w1", tmp_path / "w2", "--gates", tmp_path / "gates.yaml")
    assert result.exit_code == 1 and result.stderr.startswith("error: gate failed: max_score_shift: ")
    assert "min_docs: pass" in result.stdout
    (tmp_path / "gates.yaml").write_text("gates:\n  max_score_shift: 1.0\n")
    assert cli("diff", tmp_path / "w1", tmp_path / "w2", "--gates", tmp_path / "gates.yaml").exit_code == 0


def _pairs_run(tmp_path: Path, originals: str, gate: float) -> tuple[Path, dict]:
    """20 Q&A rows -> augment preference pairs (2 degradations, cap 0.5) -> a release gated on the synthetic share."""
    import yaml

    rows = [{"id": f"q{i:02d}", "text": f"How far is town {i}?", "prompt": f"How far is town {i}?",
             "response": f"Town {i} is {i + 3} km away. It is not far.\nWalk north.\nThen turn left."} for i in range(20)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    augment = {"kind": "augment", "pairs": "preference", "field": "response", "prompt_field": "prompt", "fraction": 1.0,
               "degradations": [{"name": "truncate"}, {"name": "negate"}], "originals": originals, "max_synthetic_fraction": 0.5}
    cfg = {"input": {"sources": [{"paths": [str(tmp_path / "qa.jsonl")]}]}, "stages": [augment],
           "output": {"path": str(tmp_path / originals)}, "workdir": str(tmp_path / f"work-{originals}"),
           "gates": {"max_synthetic_fraction": gate}}
    config = tmp_path / f"{originals}.yaml"
    config.write_text(yaml.safe_dump(cfg))
    return config, cfg


@pytest.mark.parametrize("originals", ["keep", "separate"])
def test_synthetic_share_gate_measures_what_the_augment_cap_bounds(tmp_path: Path, cli, originals: str) -> None:  # noqa: ANN001
    # cap 0.5 with 2 pairs a source: 10 sources, 20 pairs, 20 originals (in the output, or set aside as pair_source)
    config, _ = _pairs_run(tmp_path, originals, 0.5)
    result = cli("run", config, "-q")
    assert result.exit_code == 0, result.output
    gate = read(tmp_path / originals / "report.json")["gates"]["results"][0]
    assert gate["gate"] == "max_synthetic_fraction" and gate["value"] == 0.5 and gate["passed"] is True
    kept = pl.read_parquet(list((tmp_path / originals).glob("*/part-*.parquet")))
    assert int(kept["is_synthetic"].sum()) == 20 and kept.height == (20 if originals == "separate" else 40)
    stricter, _ = _pairs_run(tmp_path, originals, 0.4)
    failed = cli("run", stricter, "-q", "--overwrite")
    assert failed.exit_code == 1 and "gate failed: max_synthetic_fraction: 20 of the " in failed.stderr and "(0.5000)" in failed.stderr


def test_week_records_are_what_the_tests_assume() -> None:
    one, two = week_records(1), week_records(2)
    assert {r["id"] for r in one} - {r["id"] for r in two} == {f"doc-{i:04d}" for i in range(10)}
    assert len({r["id"] for r in two} - {r["id"] for r in one}) == 15


def test_diff_says_which_rule_removed_documents_the_new_release_dropped(tmp_path: Path, cli) -> None:  # noqa: ANN001
    import yaml

    assert _run(cli, tmp_path, 1, out="old").exit_code == 0
    config = tmp_path / "w1-old.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["stages"][2]["rules"]["enough_words"] = "gopher_word_count >= 40"
    cfg["output"]["path"], cfg["workdir"] = str(tmp_path / "new"), str(tmp_path / "work-new")
    config.write_text(yaml.safe_dump(cfg))
    assert cli("run", config, "-q").exit_code == 0
    d = json.loads(cli("diff", tmp_path / "old", tmp_path / "new", "--json").stdout)
    old = pl.concat([pl.read_parquet(f) for f in (tmp_path / "old").glob("*/part-*.parquet")])
    dropped = old.filter(pl.col("gopher_word_count") < 40).height
    assert dropped > 0 and d["removed_by_reason"] == {"enough_words": dropped} and d["documents"]["added"] == 0
