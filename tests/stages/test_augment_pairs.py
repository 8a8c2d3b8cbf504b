"""Graded pairs in the augment stage: meaning-changing degradations, TRL's DPO columns,
correction pairs, originals to a separate output, the cap and determinism."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from curate.runner import run_stage_frames
from curate.stages.augment import Augment, AugmentConfig
from curate.stages.base import REJECT

SEED = 3


def qa(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"q{i:03d}" for i in range(n)],
            "instruction": [f"How far is town {i}?" for i in range(n)],
            "response": [
                f"First, the road is {i + 2} km long.\nSecond, it is open today.\nSo it takes {i + 10} minutes."
                for i in range(n)
            ],
        }
    )


def stage(**kw: object) -> Augment:
    cfg: dict[str, object] = {
        "field": "response",
        "prompt_field": "instruction",
        "pairs": "preference",
        "degradations": [
            {"name": "truncate"},
            {"name": "negate", "grade": 5},
            {"name": "swap_answer"},
        ],
        "fraction": 1.0,
        "max_synthetic_fraction": 0.75,
    }
    cfg.update(kw)
    return Augment(AugmentConfig.model_validate(cfg))


def run(s: Augment, shards: list[pl.DataFrame]) -> tuple[pl.DataFrame, Counter[str]]:
    counters: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows, _ = run_stage_frames(s, shards, Path(tmp), seed=SEED, counters=counters)
    return rows, counters


def test_preference_pairs_in_trl_dpo_shape() -> None:
    out, _ = run(stage(), [qa(12)])
    pairs = out.filter(pl.col("is_synthetic"))
    assert pairs.height == 36  # every degradation applies to every source here
    assert {"prompt", "chosen", "rejected", "degradation"} <= set(pairs.columns)
    originals = out.filter(~pl.col("is_synthetic")).select("id", "instruction", "response")
    joined = pairs.join(originals, left_on="origin_id", right_on="id", suffix="_orig")
    assert (joined["chosen"] == joined["response_orig"]).all()
    assert (joined["prompt"] == joined["instruction_orig"]).all()
    assert (joined["rejected"] != joined["chosen"]).all()
    assert (joined["rejected"] == joined["response"]).all()
    grades = dict(pairs.group_by("augmentation").agg(pl.col("degradation").first()).iter_rows())
    assert grades == {"truncate": 2, "negate": 5, "swap_answer": 4}


def test_each_degradation_row_changes_what_it_claims() -> None:
    out, _ = run(stage(), [qa(12)])
    pairs = out.filter(pl.col("is_synthetic"))
    for row in pairs.iter_rows(named=True):
        chosen, rejected = row["chosen"], row["rejected"]
        if row["augmentation"] == "truncate":
            assert chosen.startswith(rejected) and len(rejected) < len(chosen)
        elif row["augmentation"] == "negate":
            assert abs(rejected.count(" not") - chosen.count(" not")) == 1
        else:  # the answer of another question of the set
            others = out.filter(~pl.col("is_synthetic") & (pl.col("id") != row["origin_id"]))
            assert rejected in others["response"].to_list()


def test_degradations_that_do_not_apply_make_no_pair_and_are_counted() -> None:
    df = qa(4).with_columns(pl.lit("Just words").alias("response"))
    out, counters = run(
        stage(degradations=[{"name": "perturb_numbers"}, {"name": "truncate"}]), [df]
    )
    pairs = out.filter(pl.col("is_synthetic"))
    assert set(pairs["augmentation"]) == {"truncate"}
    assert counters["pairs_not_applicable_perturb_numbers"] == 4


def test_a_blank_response_makes_no_pair() -> None:
    df = qa(3).with_columns(pl.when(pl.col("id") == "q001").then(pl.lit("  \n")).otherwise(pl.col("response")).alias("response"))
    out, counters = run(stage(degradations=[{"name": "swap_answer"}, {"name": "truncate"}]), [df])
    pairs = out.filter(pl.col("is_synthetic"))
    assert "q001" not in set(pairs["origin_id"]) and pairs.height == 4
    assert counters["pairs_not_applicable_swap_answer"] >= 1 and counters["pairs_not_applicable_truncate"] >= 1


def test_correction_pairs_from_degradations() -> None:
    out, _ = run(stage(pairs="correction", degradations=[{"name": "drop_step"}]), [qa(6)])
    pairs = out.filter(pl.col("is_synthetic"))
    assert pairs.height == 6
    for row in pairs.iter_rows(named=True):
        assert row["clean"].count("\n") == row["response"].count("\n") + 1


def test_originals_to_a_separate_output() -> None:
    out, counters = run(stage(originals="separate"), [qa(10)])
    kept = out.filter(pl.col(REJECT).is_null())
    separate = out.filter(pl.col(REJECT).is_not_null())
    assert kept["is_synthetic"].all() and kept.height == 30
    assert set(separate[REJECT]) == {"pair_source"} and separate.height == 10
    assert not separate["is_synthetic"].any()


def test_cap_counts_every_pair_and_is_never_exceeded() -> None:
    out, counters = run(stage(max_synthetic_fraction=0.5), [qa(20)])
    synthetic = int(out["is_synthetic"].sum())
    assert synthetic / out.height <= 0.5
    assert counters["augment_selected"] == 6  # 6 sources x 3 pairs = 18 <= 0.5 x (20 + 18)


def test_same_seed_same_pairs_any_sharding() -> None:
    one, _ = run(stage(degradations=[{"name": "truncate"}, {"name": "negate"}]), [qa(12)])
    two, _ = run(
        stage(degradations=[{"name": "truncate"}, {"name": "negate"}]),
        [qa(12).head(5), qa(12).tail(7)],
    )
    assert_frame_equal(one.sort("id"), two.sort("id"))


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"pairs": "none"}, "set pairs"),
        ({"degradations": [{"name": "truncate"}, {"name": "truncate"}]}, "once"),
        ({"degradations": [{"name": "paraphrase"}]}, "truncate"),
        ({"degradations": [{"name": "negate", "grade": 0}]}, "greater than or equal to 1"),
        ({"originals": "drop"}, "keep"),
    ],
)
def test_invalid_pair_configs(cfg: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        stage(**cfg)


def test_cli_preference_pairs_with_degradations(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from curate.cli import app

    src = tmp_path / "qa.jsonl"
    qa(8).with_columns(text=pl.col("instruction")).write_ndjson(src)  # ingest needs a text
    out = tmp_path / "pairs"
    result = CliRunner().invoke(
        app,
        [
            "augment",
            str(src),
            "-o",
            str(out),
            "--pairs",
            "preference",
            "--field",
            "response",
            "--prompt-field",
            "instruction",
            "--degrade",
            "truncate",
            "--degrade",
            "negate=5",
            "--originals",
            "separate",
            "--fraction",
            "1",
            "--max-synthetic-fraction",
            "0.9",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    pairs = pl.read_parquet(list(out.glob("*.parquet")))
    assert pairs.height == 16 and pairs["is_synthetic"].all()
    assert sorted(set(pairs["degradation"])) == [2, 5]
    assert pl.read_parquet(list((out / "rejected").glob("*.parquet"))).height == 8


def test_with_originals_separate_the_cap_bounds_pairs_over_pairs_and_originals() -> None:
    kept_mode, _ = run(stage(max_synthetic_fraction=0.5), [qa(20)])
    out, counters = run(stage(max_synthetic_fraction=0.5, originals="separate"), [qa(20)])
    pairs, originals = out.filter(pl.col(REJECT).is_null()), out.filter(pl.col(REJECT) == "pair_source")
    assert pairs["is_synthetic"].all() and originals.height == 20
    assert pairs.height / (pairs.height + originals.height) <= 0.5
    # the same budget as with the originals kept: the same rows, only routed elsewhere
    assert pairs.height == int(kept_mode["is_synthetic"].sum()) and counters["augment_selected"] == 6
