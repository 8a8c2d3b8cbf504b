"""dsir_score: DSIR log importance weights against a pure-Python reference, fits saved and reused."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import xxhash

from conftest import read_dir, write_jsonl
from curate.errors import ConfigError
from curate.hashing import derive_seed
from curate.runner import run_stage_frames
from curate.stages.dsir_score import DsirScore, DsirScoreConfig, features

MASK = (1 << 64) - 1


def _mix(a: int, b: int) -> int:
    """The bigram hash in plain Python (must equal ``bigram_hash``)."""
    x = (a * 0x9E3779B97F4A7C15 + b) & MASK
    for k in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        x ^= x >> 33
        x = (x * k) & MASK
    return x ^ (x >> 33)


def ref_features(text: str, seed: int, buckets: int, ngrams: int) -> Counter[int]:
    words = re.findall(r"\w+", text.lower())
    h = [xxhash.xxh64_intdigest(w.encode(), seed) for w in words]
    feats = Counter(x % buckets for x in h)
    if ngrams == 2:
        feats.update(_mix(a, b) % buckets for a, b in zip(h, h[1:], strict=False))
    return feats


def ref_scores(target: list[str], pool: list[str], seed: int, buckets: int, ngrams: int) -> list[float]:
    def dist(texts: list[str]) -> list[float]:
        c: Counter[int] = Counter()
        for t in texts:
            c.update(ref_features(t, seed, buckets, ngrams))
        total = sum(c.values()) + buckets
        return [math.log((c[b] + 1) / total) for b in range(buckets)]

    pt, pr = dist(target), dist(pool)
    return [sum(n * (pt[b] - pr[b]) for b, n in ref_features(t, seed, buckets, ngrams).items()) for t in pool]


TARGET = [
    {"question": "Which river flows through Rome", "answer": "The Tiber"},
    {"question": "What is the capital of France", "answer": "Paris is the capital"},
]
POOL = [
    "The river Tiber flows through Rome, the capital.",
    "cats and dogs and cats and dogs",
    "What is the capital of Italy? Rome is.",
    "Buy cheap watches now now now",
    "",
    "Paris Paris PARIS the capital",
]


def _frame(texts: list[str | None], prefix: str = "d") -> pl.DataFrame:
    return pl.DataFrame({"id": [f"{prefix}{i:03d}" for i in range(len(texts))], "text": texts}, schema={"id": pl.String, "text": pl.String})


def _config(tmp_path: Path, **kw: object) -> DsirScoreConfig:
    path = write_jsonl(tmp_path / "target.jsonl", TARGET)
    return DsirScoreConfig.model_validate({"target": [{"path": str(path), "fields": ["question", "answer"]}], **kw})


def _run(cfg: DsirScoreConfig, frame: pl.DataFrame, work: Path, seed: int = 3, shards: int = 2) -> pl.DataFrame:
    size = max(1, -(-frame.height // shards))
    parts = [frame.slice(i, size) for i in range(0, max(frame.height, 1), size)]
    rows, _ = run_stage_frames(DsirScore(cfg), parts, work, seed=seed)
    return rows.sort("id")


@pytest.mark.parametrize("ngrams", [1, 2])
def test_scores_equal_the_python_reference(tmp_path: Path, ngrams: int) -> None:
    cfg = _config(tmp_path, buckets=64, ngrams=ngrams)
    rows = _run(cfg, _frame(POOL), tmp_path / "w")
    target = [f"{r['question']}\n{r['answer']}" for r in TARGET]
    expected = ref_scores(target, POOL, derive_seed(3, "dsir"), 64, ngrams)
    assert rows["dsir_score"].to_list() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert rows["dsir_score"][4] == 0.0


def test_features_match_reference_on_unicode_and_case(tmp_path: Path) -> None:
    texts = ["Ünïcode WORDS, words; ünïcode", "a", "", "x y z x y"]
    offsets, flat, null = features(pl.Series(texts), 11, 97, 2)
    assert not null.any()
    for i, t in enumerate(texts):
        assert Counter(flat[offsets[i]:offsets[i + 1]].tolist()) == ref_features(t, 11, 97, 2)


def test_target_like_documents_score_higher(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    pool = ["which river flows through rome the tiber", "what is the capital of france paris"] + [
        f"stock market report number {i} shares fell sharply today" for i in range(20)
    ]
    rows = _run(cfg, _frame(pool), tmp_path / "w")
    on, off = rows["dsir_score"][:2].to_list(), rows["dsir_score"][2:].to_list()
    assert min(on) > max(off)


def test_seeded_shard_invariant_nulls_and_empty(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    frame = _frame([*POOL, None])
    one = _run(cfg, frame, tmp_path / "a", shards=1)
    many = _run(cfg, frame, tmp_path / "b", shards=4)
    assert one.equals(many)
    assert one["dsir_score"][6] is None
    assert one.height == frame.height and one["_reject"].null_count() == frame.height
    assert not _run(cfg, frame, tmp_path / "c", seed=4)["dsir_score"].equals(one["dsir_score"])
    fixed = _config(tmp_path, seed=9)
    assert _run(fixed, frame, tmp_path / "d", seed=1).equals(_run(fixed, frame, tmp_path / "e", seed=2))
    empty = _run(cfg, frame.clear(), tmp_path / "f", shards=1)
    assert empty.height == 0


def test_saved_fit_scores_new_data_against_the_old_pool(tmp_path: Path) -> None:
    fit = tmp_path / "fit" / "dsir.parquet"
    cfg = _config(tmp_path, fit=str(fit), buckets=256)
    week1 = _run(cfg, _frame(POOL), tmp_path / "w1")
    assert fit.is_file()
    stamp = fit.stat().st_mtime_ns
    # week 2: new pool; the first week's documents among other data score exactly as before
    new = pl.concat([_frame(POOL), _frame([f"unrelated text {i} " * 5 for i in range(30)], "n")])
    week2 = _run(cfg, new, tmp_path / "w2", seed=99)
    assert week2.filter(pl.col("id").str.starts_with("d"))["dsir_score"].to_list() == week1["dsir_score"].to_list()
    assert fit.stat().st_mtime_ns == stamp
    # without the fit the new pool changes p_raw, so the scores differ
    fresh = _run(_config(tmp_path, buckets=256), new, tmp_path / "w3")
    assert fresh.filter(pl.col("id").str.starts_with("d"))["dsir_score"].to_list() != week1["dsir_score"].to_list()
    # beside a fit, the target files that still exist are part of the step's identity; the fit stands in for the rest
    assert cfg.input_paths() == [("target[0].path", cfg.target[0].path), ("fit", str(fit))]
    Path(cfg.target[0].path).unlink()
    assert cfg.input_paths() == [("fit", str(fit))]
    assert _run(cfg, new, tmp_path / "w4")["dsir_score"].to_list() == week2["dsir_score"].to_list()
    with pytest.raises(ConfigError, match="buckets 64 differs"):
        DsirScore(_config(tmp_path, fit=str(fit), buckets=64)).setup()


def test_bad_fit_file_and_missing_target_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(bad)
    with pytest.raises(ConfigError, match="not a fit file"):
        DsirScore(_config(tmp_path, fit=str(bad))).setup()
    path = write_jsonl(tmp_path / "t2.jsonl", [{"q": "x"}])
    stage = DsirScore(DsirScoreConfig.model_validate({"target": [{"path": str(path)}]}))
    with pytest.raises(ConfigError, match=r"t2.jsonl:1: no field 'text'"):
        stage.setup()


def test_cli_adds_the_column_and_loses_no_rows(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": t or "x"} for t in POOL * 5])
    target = write_jsonl(tmp_path / "target.jsonl", TARGET)
    out, fit = tmp_path / "out", tmp_path / "fit.parquet"
    result = cli("dsir", src, "-o", out, "--target", f"{target}:question,answer", "--buckets", "128", "--fit", fit, "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    frame = read_dir(out)
    assert frame.height == len(POOL) * 5 and frame["dsir_score"].null_count() == 0
    assert fit.is_file() and pl.read_parquet(fit)["buckets"][0] == 128
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["steps"][-1]["counts"]["counters"]["docs_scored"] == frame.height
    assert np.isfinite(frame["dsir_score"].to_numpy()).all()


OTHER_TARGET = [{"text": "cats and dogs play"}, {"text": "dogs chase cats"}]


def test_cli_fit_of_the_same_target_is_reused_and_of_another_target_is_replaced(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": t or "x"} for t in POOL])
    rome = write_jsonl(tmp_path / "rome.jsonl", TARGET)
    cats = write_jsonl(tmp_path / "cats.jsonl", OTHER_TARGET)
    fit = tmp_path / "fit.parquet"

    def dsir(out: str, target: str, fit_path: Path | None = fit) -> pl.DataFrame:
        extra = ["--fit", fit_path] if fit_path else []
        result = cli("dsir", src, "-o", tmp_path / out, "--target", target, "--buckets", "128", *extra, "-w", "1", "-q")
        assert result.exit_code == 0, result.output
        return read_dir(tmp_path / out).sort("id")

    first = dsir("a", f"{rome}:question,answer")
    made = pl.read_parquet(fit)
    # same target again: the saved fit is used as it is (file untouched, same scores)
    stamp = fit.stat().st_mtime_ns
    assert dsir("b", f"{rome}:question,answer")["dsir_score"].to_list() == first["dsir_score"].to_list()
    assert fit.stat().st_mtime_ns == stamp
    # another target: fitted again, scores are those of a fresh fit to it, and the fit is replaced
    changed = dsir("c", str(cats))
    fresh = dsir("d", str(cats), None)
    assert changed["dsir_score"].to_list() == fresh["dsir_score"].to_list() != first["dsir_score"].to_list()
    replaced = pl.read_parquet(fit)
    assert replaced["target_identity"][0] != made["target_identity"][0]
    assert replaced["target_counts"][0].to_list() != made["target_counts"][0].to_list()
    manifest = json.loads((tmp_path / "c" / "_manifest.json").read_text())
    assert manifest["steps"][-1]["counts"]["counters"]["fit_replaced"] == 1
    # the same file under other fields is another target too
    assert dsir("e", f"{rome}:question")["dsir_score"].to_list() != first["dsir_score"].to_list()
