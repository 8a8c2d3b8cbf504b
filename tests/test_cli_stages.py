"""Single-stage commands build their stage config from flags and take the same path as `run`."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from conftest import make_records, read_dir, read_rejected, write_jsonl


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


def _docs(tmp_path: Path) -> Path:
    good = [{"text": " ".join(["The quick brown fox jumps over the lazy dog and the cat."] * 8)} for _ in range(5)]
    short = [{"text": "too short"} for _ in range(3)]
    return write_jsonl(tmp_path / "d.jsonl", [{**r, "n": i} for i, r in enumerate(good + short)])


def test_filter_preset_scores_unscored_input_first(cli, tmp_path: Path) -> None:
    out = tmp_path / "f"
    result = cli("filter", _docs(tmp_path), "-o", out, "--preset", "gopher_quality", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    kinds = [s["stage"] for s in json.loads((out / "_manifest.json").read_text())["steps"]]
    assert kinds == ["ingest", "quality_score", "filter"]
    assert read_dir(out).height == 5


def test_filter_rule_from_the_command_line(cli, tmp_path: Path) -> None:
    out = tmp_path / "f"
    result = cli("filter", _docs(tmp_path), "-o", out, "--rule", "first_half=n < 4", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert sorted(read_dir(out)["n"].to_list()) == [0, 1, 2, 3]
    rejected = pl.read_parquet(out / "rejected")
    assert set(rejected["reject_reason"]) == {"first_half"}


def test_filter_rule_with_unknown_column_names_rule_and_columns(cli, tmp_path: Path) -> None:
    result = cli("filter", _docs(tmp_path), "-o", tmp_path / "f", "--rule", "x=nope > 1", "-w", "1", "-q")
    assert result.exit_code == 2
    assert "nope" in result.stderr and "x" in result.stderr and "Traceback" not in result.output


def test_filter_dry_run_reports_per_rule_and_writes_nothing(cli, tmp_path: Path) -> None:
    out = tmp_path / "f"
    result = cli("filter", _docs(tmp_path), "-o", out, "--preset", "gopher_quality", "--dry-run", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert "dry run: 8 documents, 5 would be kept, 3 removed" in result.stdout
    assert "examples removed by" in result.stdout
    assert not out.exists()


def test_score_adds_signal_columns(cli, tmp_path: Path) -> None:
    out = tmp_path / "s"
    result = cli("score", _docs(tmp_path), "-o", out, "--heuristics", "gopher_quality", "--langid", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    frame = read_dir(out)
    assert "gopher_word_count" in frame.columns and "lang" in frame.columns
    assert set(frame["lang"]) == {"en"}


@pytest.mark.parametrize("backend", ["fasttext", "py3langid"])
def test_score_langid_backend_flag(cli, tmp_path: Path, backend: str) -> None:
    out = tmp_path / "s"
    result = cli("score", _docs(tmp_path), "-o", out, "--heuristics", "", "--langid", "--langid-backend", backend, "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert set(read_dir(out)["lang"]) == {"en"}


def test_train_classifier_then_score_with_it(cli, tmp_path: Path) -> None:
    import random

    rng = random.Random(0)
    good = [" ".join(rng.choice(["theorem", "proof", "lemma", "integral", "matrix"]) for _ in range(30)) for _ in range(200)]
    bad = [" ".join(rng.choice(["buy", "cheap", "click", "free", "offer"]) for _ in range(30)) for _ in range(200)]
    pos = write_jsonl(tmp_path / "pos.jsonl", [{"text": t} for t in good])
    neg = write_jsonl(tmp_path / "neg.jsonl", [{"text": t} for t in bad])
    model = tmp_path / "hq.bin"
    result = cli("train-classifier", "--positive", pos, "--negative", neg, "-o", model, "--epoch", "5", "--dim", "10")
    assert result.exit_code == 0, result.output
    assert "ROC AUC 1.000" in result.stdout
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"text": good[0]}, {"text": bad[0]}])
    out = tmp_path / "scored"
    scored = cli("score", docs, "-o", out, "--heuristics", "", "--fasttext", f"hq={model}", "-w", "1", "-q")
    assert scored.exit_code == 0, scored.output
    frame = read_dir(out).sort("text")
    probs = dict(zip(frame["text"].to_list(), frame["fasttext_hq"].to_list(), strict=True))
    assert probs[good[0]] > 0.5 > probs[bad[0]]


def test_validate_reports_a_rule_on_an_unknown_column_before_reading_data(cli, tmp_path: Path) -> None:
    _docs(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text('input: {paths: [d.jsonl]}\nstages: [{kind: filter, rules: {bad: "nope >= 3"}}]\n')
    result = cli("validate", cfg)
    assert result.exit_code == 2
    assert "bad" in result.stderr and "nope" in result.stderr and "known columns" in result.stderr


def test_dedup_command_removes_exact_and_near_copies(cli, tmp_path: Path) -> None:
    import random

    rng = random.Random(1)
    vocab = [f"w{i}" for i in range(500)]
    base = [" ".join(rng.choice(vocab) for _ in range(200)) for _ in range(20)]
    near = [t.replace(t.split()[5], "changed", 1) for t in base[:5]]
    docs = [{"text": t} for t in base + base[:3] + near]
    src = write_jsonl(tmp_path / "d.jsonl", docs)
    out = tmp_path / "dd"
    result = cli("dedup", src, "-o", out, "--threshold", "0.8", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert read_dir(out).height == 20
    rejected = read_rejected(out)
    assert sorted(rejected["reject_reason"].to_list()) == ["exact_duplicate"] * 3 + ["near_duplicate"] * 5
    assert rejected["duplicate_of"].null_count() == 0


def test_dedup_verify_by_reaches_the_stage_and_a_bad_value_names_the_allowed_ones(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": "one two three four five six"}] * 2)
    ok = cli("dedup", src, "-o", tmp_path / "a", "--no-exact", "--verify-by", "signature", "-w", "1", "-q")
    assert ok.exit_code == 0, ok.output
    manifest = json.loads(next((tmp_path / "a").glob("_manifest.json")).read_text())
    assert "signature" in json.dumps(manifest)
    bad = cli("dedup", src, "-o", tmp_path / "b", "--verify-by", "exactish", "-w", "1", "-q")
    assert bad.exit_code == 2
    assert "verify_by" in bad.stderr and "jaccard" in bad.stderr and "signature" in bad.stderr


def test_dedup_index_rerun_of_the_same_release_gives_the_same_release(cli, tmp_path: Path) -> None:
    """A retried refresh: documents the index already holds (same id, same text) are kept and
    counted as already_indexed, never removed as duplicates of themselves."""
    src = write_jsonl(tmp_path / "d.jsonl", make_records(40, seed=9))
    index = tmp_path / "index"
    first = cli("dedup", src, "-o", tmp_path / "a", "--index", index, "-w", "1", "-q")
    assert first.exit_code == 0, first.output
    second = cli("dedup", src, "-o", tmp_path / "b", "--index", index, "-w", "1", "-q")
    assert second.exit_code == 0, second.output
    assert read_dir(tmp_path / "b")["id"].sort().to_list() == read_dir(tmp_path / "a")["id"].sort().to_list()
    manifest = json.loads((tmp_path / "b" / "_manifest.json").read_text())
    counters = manifest["steps"][-1]["counts"]["counters"]
    assert counters["already_indexed"] == read_dir(tmp_path / "a").height
    assert counters.get("index_docs_appended", 0) == 0
    info = cli("index", "info", index)
    assert info.exit_code == 0, info.output
    assert "documents: 40" in info.output


def test_flag_bounds_are_the_config_model_s(cli, tmp_path: Path) -> None:
    """--threshold accepts what the model accepts (> 0), and refuses what it refuses, with its message."""
    src = write_jsonl(tmp_path / "d.jsonl", make_records(20, seed=3))
    ok = cli("dedup", src, "-o", tmp_path / "a", "--threshold", "0.005", "-w", "1", "-q")
    assert ok.exit_code == 0, ok.output
    bad = cli("dedup", src, "-o", tmp_path / "b", "--threshold", "0", "-w", "1", "-q")
    assert bad.exit_code == 2
    assert "minhash_dedup.threshold: Input should be greater than 0" in bad.stderr
