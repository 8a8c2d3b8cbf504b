"""The select stage: methods, quotas in documents and tokens, upsampling, seeded sampling, errors."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from curate.cli import app
from curate.config import parse_config
from curate.errors import ConfigError
from curate.pipeline import build_plan
from curate.runner import run_stage_frames
from curate.select.quota import allocate, apportion, fill, fill_reference, parse_budget
from curate.stages.base import REJECT, StageContext
from curate.stages.select import Select, SelectConfig

SOURCES = {"web": 0.6, "books": 0.3, "code": 0.1}


def corpus(n: int = 600, seed: int = 0, p: tuple[float, ...] = (0.7, 0.2, 0.1), max_tokens: int = 3000) -> pl.DataFrame:
    """``n`` documents of three sources with a score ``q`` in [0, 1) and a token count below ``max_tokens``."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        schema_overrides={"id": pl.String, "source": pl.String, "q": pl.Float64, "token_count": pl.Int64},
        data={
            "id": [f"d{i:05d}" for i in range(n)],
            "text": ["some text"] * n,
            "source": rng.choice(list(SOURCES), n, p=list(p)).tolist(),
            "q": rng.random(n),
            "token_count": rng.integers(1, max_tokens, n),
        }
    )


def run(frame: pl.DataFrame, shards: int = 1, seed: int = 1, **cfg: Any) -> tuple[pl.DataFrame, pl.DataFrame, Counter[str]]:
    """(every row with `_reject`, the decisions, the counters) over ``shards`` shards of ``frame``."""
    stage = Select(SelectConfig(**cfg))
    counters: Counter[str] = Counter()
    size = max(1, -(-frame.height // shards))
    parts = [frame.slice(i, size) for i in range(0, max(frame.height, 1), size)]
    with tempfile.TemporaryDirectory() as tmp:
        rows, decisions = run_stage_frames(stage, parts, Path(tmp), seed=seed, counters=counters)
    return rows, decisions, counters


def kept(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.filter(pl.col(REJECT).is_null())


def repeated_tokens(rows: pl.DataFrame) -> int:
    k = kept(rows)
    return int((k["token_count"] * k["select_repeats"]).sum())


# ---------------------------------------------------------------- methods


def test_top_k_keeps_the_highest_scores_and_rejects_the_rest_with_their_rank() -> None:
    frame = corpus(200)
    rows, decisions, counters = run(frame, score="q", k=20)
    assert set(kept(rows)["id"]) == set(frame.sort("q", descending=True)["id"].head(20))
    assert kept(rows)["select_repeats"].to_list() == [1] * 20
    rejected = rows.filter(pl.col(REJECT).is_not_null())
    assert set(rejected[REJECT]) == {"not_selected"} and rejected.height == 180
    assert set(rejected["select_repeats"]) == {0}
    detail = decisions.filter(pl.col("id") == frame.sort("q", descending=True)["id"][20])["_reject_detail"][0]
    assert detail.startswith("rank 21 of 200 eligible in the pool; quota filled; score ")
    assert counters["select_achieved"] == 20 and counters["select_target"] == 20


def test_threshold_keeps_scores_at_or_above_it_and_explains_the_others() -> None:
    frame = corpus(100).with_columns(pl.when(pl.col("id") == "d00003").then(None).otherwise(pl.col("q")).alias("q"))
    rows, decisions, _ = run(frame, score="q", method="threshold", threshold=0.5)
    expected = set(frame.filter(pl.col("q") >= 0.5)["id"])
    assert set(kept(rows)["id"]) == expected
    why = dict(zip(decisions["id"], decisions["_reject_detail"], strict=True))
    assert why["d00003"].startswith("no score (null or NaN); score ")
    below = frame.filter(pl.col("q") < 0.5)["id"][0]
    assert why[below].startswith("score below the threshold 0.5")


def test_threshold_with_a_budget_takes_the_best_of_those_above_it() -> None:
    frame = corpus(100)
    rows, _, _ = run(frame, score="q", method="threshold", threshold=0.2, k=10)
    assert set(kept(rows)["id"]) == set(frame.sort("q", descending=True)["id"].head(10))


def test_top_fraction_keeps_the_nearest_whole_number_of_documents() -> None:
    frame = corpus(45)
    rows, _, _ = run(frame, score="q", method="top_fraction", fraction=0.1)  # 4.5 -> 5
    assert set(kept(rows)["id"]) == set(frame.sort("q", descending=True)["id"].head(5))


def test_a_score_expression_ranks_like_the_column_it_computes() -> None:
    frame = corpus(120)
    rows, _, _ = run(frame, score="q + (source == 'code') * 10", k=15)
    expected = frame.with_columns((pl.col("q") + (pl.col("source") == "code").cast(pl.Float64) * 10).alias("s")).sort("s", descending=True)
    assert set(kept(rows)["id"]) == set(expected["id"].head(15))


def test_ties_are_broken_by_a_seeded_hash_of_the_id_never_by_row_order() -> None:
    frame = corpus(80).with_columns(pl.lit(1.0).alias("q"))
    a = set(kept(run(frame, score="q", k=10)[0])["id"])
    b = set(kept(run(frame.reverse(), score="q", k=10)[0])["id"])
    c = set(kept(run(frame.sample(fraction=1.0, shuffle=True, seed=3), shards=4, score="q", k=10)[0])["id"])
    assert a == b == c
    assert a != set(frame["id"].head(10))  # not the first ids either


def test_without_a_score_every_method_takes_a_seeded_uniform_sample() -> None:
    frame = corpus(300)
    one = set(kept(run(frame, k=50, seed=1)[0])["id"])
    assert one == set(kept(run(frame, k=50, seed=1, shards=3)[0])["id"])
    assert one != set(kept(run(frame, k=50, seed=2)[0])["id"])


# ---------------------------------------------------------------- gumbel


def test_gumbel_top_k_is_reproducible_for_a_seed_and_differs_for_another_and_for_shards() -> None:
    frame = corpus(400)
    a, da, _ = run(frame, score="q", method="gumbel", k=60, seed=7)
    b, db, _ = run(frame, score="q", method="gumbel", k=60, seed=7, shards=3)
    c, _, _ = run(frame.reverse(), score="q", method="gumbel", k=60, seed=7, shards=5)
    d, _, _ = run(frame, score="q", method="gumbel", k=60, seed=8)
    assert_frame_equal(da, db)
    assert set(kept(a)["id"]) == set(kept(b)["id"]) == set(kept(c)["id"])
    assert set(kept(a)["id"]) != set(kept(d)["id"])
    assert kept(a).height == 60
    # soft selection: higher weights are drawn more often, but not only the top
    assert kept(a)["q"].mean() > frame["q"].mean()
    assert set(kept(a)["id"]) != set(frame.sort("q", descending=True)["id"].head(60))


def test_gumbel_draws_in_proportion_to_the_weights() -> None:
    """One draw (k=1) from weights 1, 2, 7 over many seeds: frequencies ~ 0.1, 0.2, 0.7."""
    keys = pl.LazyFrame({"id": ["a", "b", "c"], "_source": ["s"] * 3, "_score": [1.0, 2.0, 7.0], "_tokens": [None] * 3},
                        schema={"id": pl.String, "_source": pl.String, "_score": pl.Float64, "_tokens": pl.Int64})
    stage = Select(SelectConfig(score="q", method="gumbel", k=1))
    wins: Counter[str] = Counter()
    for seed in range(3000):
        decisions = stage.resolve(keys, StageContext(seed, 1, "select"))
        rejected = set(decisions.filter(pl.col(REJECT).is_not_null())["id"])
        (winner,) = {"a", "b", "c"} - rejected
        wins[winner] += 1
    assert abs(wins["a"] / 3000 - 0.1) < 0.03 and abs(wins["b"] / 3000 - 0.2) < 0.03 and abs(wins["c"] / 3000 - 0.7) < 0.03


def test_gumbel_exp_weights_with_a_low_temperature_approach_top_k() -> None:
    frame = corpus(300)
    rows, _, _ = run(frame, score="q", method="gumbel", weight="exp", temperature=0.001, k=30)
    assert set(kept(rows)["id"]) == set(frame.sort("q", descending=True)["id"].head(30))


def test_gumbel_never_draws_a_non_positive_weight() -> None:
    frame = corpus(50).with_columns((pl.col("q") - 0.5).alias("q"))
    rows, decisions, _ = run(frame, score="q", method="gumbel", fraction=0.2)
    assert (kept(rows)["q"] > 0).all()
    assert decisions.filter(pl.col("_reject_detail").str.starts_with("weight (the score) is not positive")).height == (frame["q"] <= 0).sum()


# ---------------------------------------------------------------- quotas


def test_document_quotas_per_source_are_exact() -> None:
    frame = corpus(1000)
    rows, _, counters = run(frame, score="q", k=101, mixture=SOURCES)
    got = kept(rows).group_by("source").len()
    assert dict(got.iter_rows()) == {"web": 61, "books": 30, "code": 10}  # 60.6, 30.3, 10.1 by largest remainder
    for s, n in {"web": 61, "books": 30, "code": 10}.items():
        assert counters[f"select_target:{s}"] == n
        best = frame.filter(pl.col("source") == s).sort("q", descending=True)["id"].head(n)
        assert set(kept(rows).filter(pl.col("source") == s)["id"]) == set(best)


@pytest.mark.parametrize("budget", [30_000, 77_777, 120_000])
def test_token_quotas_are_met_within_half_a_percent_and_never_exceeded(budget: int) -> None:
    frame = corpus(1000, max_tokens=400)  # ~200k tokens; code's smallest target is ~7 times its largest document
    for method in ("top_k", "gumbel"):
        rows, _, counters = run(frame, score="q", method=method, budget=budget, unit="tokens", mixture=SOURCES)
        for source, weight in SOURCES.items():
            target = counters[f"select_target:{source}"]
            got = repeated_tokens(rows.filter(pl.col("source") == source))
            assert abs(target - budget * weight) <= 1
            assert target * 0.995 <= got <= target, (method, source, target, got)
        assert budget * 0.995 - 2 <= repeated_tokens(rows) <= budget


def test_a_skipped_long_document_is_named_in_its_detail() -> None:
    frame = pl.DataFrame({"id": ["a", "b", "c"], "text": ["t"] * 3, "source": ["s"] * 3, "q": [3.0, 2.0, 1.0], "token_count": [60, 100, 40]})
    rows, decisions, _ = run(frame, score="q", budget=100, unit="tokens", tolerance=0.0)
    assert set(kept(rows)["id"]) == {"a", "c"}
    assert decisions.filter(pl.col("id") == "b")["_reject_detail"][0].startswith("rank 2 of 3 eligible in the pool; did not fit the quota")


def test_upsampling_repeats_a_small_source_up_to_the_cap_and_records_the_count() -> None:
    frame = corpus(400, p=(0.8, 0.15, 0.05))
    code = frame.filter(pl.col("source") == "code")
    quota = 2 * code.height + 3  # two full epochs and three documents more
    rows, _, counters = run(frame, score="q", k=2 * quota, mixture={"web": 0.5, "code": 0.5}, max_epochs=3)
    out = kept(rows)
    small = out.filter(pl.col("source") == "code")
    assert small.height == code.height  # every document of the small source, at least once
    assert int(small["select_repeats"].sum()) == quota  # the quota, exactly, counted with repeats
    assert sorted(Counter(small["select_repeats"].to_list()).items()) == [(2, code.height - 3), (3, 3)]
    # the extra epoch goes to the best-ranked documents
    extra = small.filter(pl.col("select_repeats") == 3)
    assert extra["q"].min() >= small.filter(pl.col("select_repeats") == 2)["q"].max()
    epochs = 2
    assert counters["select_upsampled_docs"] == small.filter(pl.col("select_repeats") > 1).height
    assert counters["select_max_repeats:code"] == epochs + 1 and counters["select_docs:code"] == quota
    assert out.height + rows.filter(pl.col(REJECT).is_not_null()).height == frame.height  # one row per document


def test_upsampling_in_tokens_meets_the_quota_within_tolerance() -> None:
    frame = corpus(500, p=(0.9, 0.05, 0.05))
    code_tokens = int(frame.filter(pl.col("source") == "code")["token_count"].sum())
    budget = int(code_tokens * 2.5 / 0.2)  # code's share is 2.5 epochs
    rows, _, counters = run(frame, score="q", method="gumbel", budget=budget, unit="tokens", mixture={"web": 0.8, "code": 0.2}, max_epochs=3)
    code = kept(rows.filter(pl.col("source") == "code"))
    target = counters["select_target:code"]
    assert target * 0.995 <= repeated_tokens(code) <= target
    assert set(code["select_repeats"]) == {2, 3}


def test_a_target_beyond_the_cap_stops_or_with_shortfall_allow_keeps_everything_at_the_cap() -> None:
    frame = corpus(300, p=(0.9, 0.05, 0.05))
    n_code = frame.filter(pl.col("source") == "code").height
    with pytest.raises(ConfigError, match=r"source 'code' \(100 documents\) exceeds what it holds .* times max_epochs \(2\)"):
        run(frame, score="q", k=200, mixture={"web": 0.5, "code": 0.5}, max_epochs=2)
    rows, _, counters = run(frame, score="q", k=200, mixture={"web": 0.5, "code": 0.5}, max_epochs=2, shortfall="allow")
    code = kept(rows).filter(pl.col("source") == "code")
    assert code.height == n_code and set(code["select_repeats"]) == {2}
    assert counters["select_short:code"] == 100 - 2 * n_code


def test_a_budget_larger_than_the_pool_without_upsampling_is_a_clear_error() -> None:
    frame = corpus(50)
    with pytest.raises(ConfigError) as err:
        run(frame, score="q", k=60)
    assert "the target of the pool (60 documents) exceeds what it holds (50 documents in 50 eligible documents) times max_epochs (1)" in err.value.message
    assert "max_epochs" in (err.value.hint or "")
    tokens = int(frame["token_count"].sum())
    with pytest.raises(ConfigError, match="the target of the pool"):
        run(frame, budget=tokens + 1, unit="tokens")


def test_an_unknown_mixture_source_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        run(corpus(60), score="q", k=10, mixture={"web": 0.5, "papers": 0.5})
    assert "select.mixture: unknown source(s) 'papers'" in err.value.message
    assert "sources in the input: books, code, web" in err.value.message


def test_sources_outside_the_mixture_are_not_selected() -> None:
    rows, decisions, _ = run(corpus(200), score="q", k=20, mixture={"web": 1.0})
    assert set(kept(rows)["source"]) == {"web"}
    books = decisions.join(rows.select("id", "source"), on="id").filter(pl.col("source") == "books")
    assert books["_reject_detail"].str.starts_with("source books has no weight in the mixture").all()


def test_token_unit_skips_documents_without_a_count() -> None:
    frame = corpus(40).with_columns(pl.when(pl.col("id") == "d00001").then(None).otherwise(pl.col("token_count")).alias("token_count"))
    rows, decisions, _ = run(frame, score="q", method="gumbel", fraction=0.5, unit="tokens")
    assert "d00001" not in set(kept(rows)["id"])
    assert decisions.filter(pl.col("id") == "d00001")["_reject_detail"][0].startswith("no token count")


def test_empty_input_and_zero_k() -> None:
    empty = corpus(0)
    rows, decisions, _ = run(empty, score="q", method="top_fraction", fraction=0.5)
    assert rows.height == 0 and decisions.height == 0
    rows, _, _ = run(corpus(10), score="q", k=0)
    assert kept(rows).height == 0 and rows.height == 10


# ---------------------------------------------------------------- conservation (property)

CONFIGS = st.sampled_from(
    [
        {"score": "q", "k": 7, "shortfall": "allow"},
        {"score": "q", "method": "gumbel", "budget": 3000, "unit": "tokens", "max_epochs": 5, "shortfall": "allow"},
        {"score": "q", "method": "top_fraction", "fraction": 0.4, "unit": "tokens"},
        {"score": "q", "method": "threshold", "threshold": 0.3},
        {"method": "gumbel", "k": 9, "mixture": {"web": 0.5, "books": 0.5}, "max_epochs": 10, "shortfall": "allow"},
        {"score": "q", "budget": 5000, "unit": "tokens", "mixture": {"web": 0.7, "code": 0.3}, "max_epochs": 50, "shortfall": "allow", "tolerance": 0.0},
    ]
)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 60), st.integers(0, 10_000), CONFIGS, st.integers(1, 4))
def test_every_document_is_kept_or_not_selected_and_budgets_hold(n: int, seed: int, cfg: dict[str, Any], shards: int) -> None:
    frame = corpus(n, seed=seed, p=(0.4, 0.3, 0.3)).with_columns((pl.col("token_count") % 500).alias("token_count"))
    sources = set(frame["source"])
    if cfg.get("mixture") and not set(cfg["mixture"]) <= sources:
        with pytest.raises(ConfigError, match="unknown source"):
            run(frame, **cfg)
        return
    rows, decisions, counters = run(frame, shards=shards, **cfg)
    assert rows.height == frame.height and set(rows["id"]) == set(frame["id"])
    assert set(rows[REJECT].drop_nulls()) <= {"not_selected"}
    assert (kept(rows)["select_repeats"] >= 1).all()
    assert (rows.filter(pl.col(REJECT).is_not_null())["select_repeats"] == 0).all()
    assert (kept(rows)["select_repeats"].max() or 0) <= cfg.get("max_epochs", 1)
    if cfg.get("unit") == "tokens" and cfg.get("budget"):
        assert repeated_tokens(rows) <= cfg["budget"]
        assert counters["select_achieved"] == repeated_tokens(rows)
    if shards > 1:
        _, one, _ = run(frame, shards=1, **cfg)
        assert_frame_equal(one, decisions)


# ---------------------------------------------------------------- the quota walk and helpers


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=80), st.integers(0, 800), st.integers(0, 20), st.integers(1, 3))
def test_the_vectorised_walk_is_the_sequential_rule(sizes: list[int], room: int, slack: int, rounds: int) -> None:
    assert fill(np.array(sizes, dtype=np.int64), room, slack, rounds=rounds).tolist() == fill_reference(sizes, room, slack)


def test_allocate_fills_full_epochs_then_the_remainder_by_rank() -> None:
    alloc = allocate(np.array([1, 1, 1, 1]), 10, max_epochs=3)
    assert alloc.repeats.tolist() == [3, 3, 2, 2] and alloc.achieved == 10 and alloc.epochs == 2 and not alloc.capped
    capped = allocate(np.array([5, 5]), 40, max_epochs=3)
    assert capped.capped and capped.repeats.tolist() == [3, 3] and capped.achieved == 30
    assert allocate(np.array([], dtype=np.int64), 0, 1).achieved == 0
    assert allocate(np.array([], dtype=np.int64), 5, 1).capped


def test_apportion_splits_integers_exactly_by_largest_remainder() -> None:
    assert apportion(101, SOURCES) == {"web": 61, "books": 30, "code": 10}
    assert apportion(2, {"a": 0.5, "b": 0.5}) == {"a": 1, "b": 1}
    assert apportion(1, {"b": 0.5, "a": 0.5}) == {"a": 1, "b": 0}
    assert sum(apportion(2_000_000_007, {"x": 0.2, "y": 0.3, "z": 0.5}).values()) == 2_000_000_007


def test_budgets_parse_with_decimal_suffixes() -> None:
    assert parse_budget("2B") == 2_000_000_000 and parse_budget("500M") == 500_000_000 and parse_budget("1.5k") == 1500
    assert parse_budget(10000) == 10000 and parse_budget("2_000") == 2000 and parse_budget("3T") == 3 * 10**12
    for bad in ("two", "1.0005k", "0", -3, "5X", True):
        with pytest.raises(ValueError):
            parse_budget(bad)
    assert SelectConfig(budget="2B", unit="tokens").budget == 2_000_000_000


# ---------------------------------------------------------------- configuration errors


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"k": 10, "mixture": {"web": 0.6, "books": 0.3}}, "mixture: weights sum to 0.9; they must sum to 1"),
        ({"k": 10, "mixture": {"web": 1.2, "books": -0.2}}, "mixture: weights must be positive"),
        ({"budget": "2 bananas"}, "budget: expected a number with an optional suffix"),
        ({"method": "threshold", "score": "q"}, "method threshold needs `threshold`"),
        ({"method": "threshold", "threshold": 0.5}, "method threshold needs `score`"),
        ({"method": "top_fraction", "k": 5}, "method top_fraction needs `fraction`"),
        ({"k": 5, "fraction": 0.5}, "give one of k, fraction and budget"),
        ({"k": 5, "unit": "tokens"}, "`k` counts documents; with unit: tokens give `budget`"),
        ({"k": 5, "temperature": 2.0}, "`temperature` applies to method gumbel only"),
        ({"k": 5, "tolerance": 0.01}, "`tolerance` applies to unit: tokens only"),
        ({"method": "gumbel"}, "method gumbel needs `k` or `fraction` or `budget`"),
        ({"k": 5, "score": "q >"}, "score: not a valid score expression"),
    ],
)
def test_bad_configs_name_the_key(values: dict[str, Any], message: str) -> None:
    cfg = {"input": {"paths": ["x.jsonl"]}, "stages": [{"kind": "select", **values}]}
    with pytest.raises(ConfigError) as err:
        parse_config(cfg)
    assert message in err.value.message, err.value.message
    assert "stages[0].select" in err.value.message


def test_the_token_unit_without_the_column_is_a_plan_time_error(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "a b c", "q": 0.5}) + "\n")
    cfg = parse_config(
        {"input": {"paths": [str(tmp_path / "in.jsonl")]}, "workdir": str(tmp_path / "w"), "output": {"path": str(tmp_path / "o")},
         "stages": [{"kind": "select", "score": "q", "budget": "1M", "unit": "tokens"}]}
    )
    with pytest.raises(ConfigError) as err:
        build_plan(cfg)
    assert "stages[0].select.tokens_column: unit: tokens needs column 'token_count'" in err.value.message
    assert "tokens` stage" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="select.tokens_column: unit: tokens needs column 'token_count'"):
        run(corpus(5).drop("token_count"), budget=10, unit="tokens")  # where headers cannot tell (CSV)


def test_a_missing_or_textual_score_column_is_a_plan_time_error(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "a b c", "label": "x"}) + "\n")
    base = {"input": {"paths": [str(tmp_path / "in.jsonl")]}, "workdir": str(tmp_path / "w"), "output": {"path": str(tmp_path / "o")}}
    with pytest.raises(ConfigError, match=r"stages\[0\].select.score: unknown column 'quality'"):
        build_plan(parse_config({**base, "stages": [{"kind": "select", "score": "quality", "k": 1}]}))
    with pytest.raises(ConfigError, match=r"stages\[0\].select.score: column label is String, not a number"):
        build_plan(parse_config({**base, "stages": [{"kind": "select", "score": "label", "k": 1}]}))


# ---------------------------------------------------------------- the command


def test_the_command_conserves_documents_and_reports_target_vs_achieved(tmp_path: Path) -> None:
    frame = corpus(2000, p=(0.8, 0.15, 0.05), max_tokens=100)
    src = tmp_path / "in.parquet"
    frame.drop("id").write_parquet(src)
    out = tmp_path / "out"
    args = ["select", str(src), "-o", str(out), "--score", "q", "--method", "gumbel", "--budget", "20k", "--unit", "tokens",
            "--mixture", "web=0.6,books=0.3,code=0.1", "--max-epochs", "3", "--seed", "5", "-w", "1", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    step = json.loads((out / "_manifest.json").read_text())["steps"][-1]
    counts = step["counts"]
    assert counts["docs_in"] == 2000 and counts["docs_added"] == 0
    assert counts["docs_kept"] + counts["rejected_by_reason"]["not_selected"] == 2000
    table = step["selection"]
    assert table["unit"] == "tokens" and table["target"] == 20_000 and 0.995 * 20_000 <= table["achieved"] <= 20_000
    for source, weight in {"web": 0.6, "books": 0.3, "code": 0.1}.items():
        row = table["sources"][source]
        assert row["target"] == round(20_000 * weight) and row["within_tolerance"], row
    kept_rows = pl.read_parquet(out / "*.parquet")
    rejected = pl.read_parquet(out / "rejected")
    assert kept_rows.height + rejected.height == 2000
    assert int((kept_rows["token_count"] * kept_rows["select_repeats"]).sum()) == table["achieved"]
    assert rejected["reject_detail"].str.contains("score ").all()
    again = CliRunner().invoke(app, [*args, "--overwrite", "--workers", "2"])
    assert again.exit_code == 0, again.output
    assert_frame_equal(pl.read_parquet(out / "*.parquet").sort("id"), kept_rows.sort("id"))


def test_the_command_reports_a_bad_mixture_and_an_unknown_source_clearly(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    corpus(30).drop("id").write_parquet(src)
    bad = CliRunner().invoke(app, ["select", str(src), "-o", str(tmp_path / "a"), "--k", "5", "--mixture", "web=0.5,books=0.4", "-q"])
    assert bad.exit_code == 2 and "select.mixture: weights sum to 0.9" in bad.output
    unknown = CliRunner().invoke(app, ["select", str(src), "-o", str(tmp_path / "b"), "--k", "5", "--mixture", "web=0.5,papers=0.5", "-w", "1", "-q"])
    assert unknown.exit_code == 2 and "unknown source(s) 'papers'" in unknown.output and "Traceback" not in unknown.output


def test_the_dataset_card_shows_the_selection_and_how_to_load_repeats(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    corpus(200, p=(0.9, 0.05, 0.05)).drop("id").write_parquet(src)
    (tmp_path / "run.yaml").write_text(
        f"input: {{paths: [{src}]}}\nworkdir: work\noutput: {{path: release}}\nengine: {{workers: 1}}\n"
        "stages: [{kind: select, score: q, k: 40, mixture: {web: 0.5, code: 0.5}, max_epochs: 5}]\n"
    )
    result = CliRunner().invoke(app, ["run", str(tmp_path / "run.yaml"), "-q"])
    assert result.exit_code == 0, result.output
    card = (tmp_path / "release" / "README.md").read_text()
    assert "## Selection" in card and "| code | 0.5 | 20 | 20 |" in card
    assert "upsampled documents appear once, with `select_repeats`" in card


def test_a_collision_of_the_tie_hash_falls_back_to_the_id(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = pl.LazyFrame({"id": ["c", "a", "d", "b"], "_source": ["s"] * 4, "_score": [1.0] * 4, "_tokens": [None] * 4},
                        schema={"id": pl.String, "_source": pl.String, "_score": pl.Float64, "_tokens": pl.Int64})
    real = StageContext.doc_seeds
    monkeypatch.setattr(StageContext, "doc_seeds", lambda self, ids, salt="": np.zeros(len(ids), dtype=np.uint64) if salt == "tie" else real(self, ids, salt))
    decisions = Select(SelectConfig(score="q", k=2)).resolve(keys, StageContext(1, 1, "select"))
    assert sorted(decisions.filter(pl.col(REJECT).is_not_null())["id"]) == ["c", "d"]


def test_a_dumped_config_validates_again() -> None:
    cfg = SelectConfig(score="q", method="gumbel", budget="2B", unit="tokens", mixture={"web": 0.6, "books": 0.3, "code": 0.1},
                       max_epochs=3, weight="exp", temperature=0.5, tolerance=0.001, shortfall="allow")
    assert SelectConfig.model_validate(cfg.model_dump(mode="json")) == cfg
    assert cfg.model_dump(mode="json")["budget"] == 2_000_000_000


@pytest.mark.ray
def test_the_same_selection_on_both_engines_and_any_worker_count(tmp_path: Path) -> None:
    """Serial, a pool of 3 and Ray (in a fresh interpreter, so Ray never meets the suite's)."""
    pytest.importorskip("ray")
    from conftest import fresh_python

    corpus(900, p=(0.8, 0.15, 0.05), max_tokens=300).drop("id").write_parquet(tmp_path / "in.parquet")
    code = f"""
import json, polars as pl
from pathlib import Path
from curate.config import parse_config
from curate.engines.executor import PoolExecutor, SerialExecutor
from curate.engines.ray import RayExecutor
from curate.pipeline import build_plan
from curate.runner import run_plan
import ray
ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024 * 1024, log_to_driver=False)
tmp = Path({str(tmp_path)!r})
results = {{}}
for name, executor in (("serial", SerialExecutor()), ("pool", PoolExecutor(3)), ("ray", RayExecutor(2))):
    cfg = parse_config({{
        "input": {{"paths": [str(tmp / "in.parquet")], "rows_per_shard": 97}},
        "workdir": str(tmp / name / "work"), "output": {{"path": str(tmp / name / "out")}}, "seed": 3,
        "stages": [{{"kind": "select", "score": "q", "method": "gumbel", "budget": "40k", "unit": "tokens",
                     "mixture": {{"web": 0.5, "books": 0.3, "code": 0.2}}, "max_epochs": 4}}],
    }})
    run_plan(build_plan(cfg), executor)
    kept = pl.read_parquet(tmp / name / "out" / "train").sort("id")
    results[name] = [kept["id"].to_list(), kept["select_repeats"].to_list()]
ray.shutdown()
print(json.dumps(results))
"""
    results = json.loads(fresh_python(code, timeout=300).splitlines()[-1])
    assert results["serial"] == results["pool"] == results["ray"]
    assert max(results["serial"][1]) > 1  # code was upsampled


def test_gumbel_by_score_over_negative_log_weights_says_to_use_exp() -> None:
    frame = corpus(50).with_columns((-pl.col("q") - 1).alias("q"))  # log weights: all below 0
    with pytest.raises(ConfigError, match=r"in 0 eligible documents.*never drawn.*--weight exp"):
        run(frame, score="q", k=10, method="gumbel")
    assert kept(run(frame, score="q", k=10, method="gumbel", weight="exp")[0]).height == 10
