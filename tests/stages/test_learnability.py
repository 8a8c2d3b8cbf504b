"""learnability_score: hashed n-gram LMs (normalised, equal to a Python reference), static and
online (JEST-style) learnability, reproducible and shard-invariant, nothing removed."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import read_dir, write_jsonl
from curate.errors import ConfigError
from curate.runner import run_stage_frames
from curate.select.ngram_lm import NgramModel
from curate.stages.learnability import LearnabilityScore, LearnabilityScoreConfig


def _offsets(docs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lens = [len(d) for d in docs]
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    ids = np.array([w for d in docs for w in d], dtype=np.uint64)
    return ids, offsets


def ref_log2_probs(train: list[list[int]], doc: list[int], order: int, vocab: int, d: float) -> list[float]:
    """Interpolated absolute discounting with exact (dictionary) counts: the model's definition."""
    uni = Counter(w for t in train for w in t)
    total = sum(uni.values())
    joint: dict[int, Counter[tuple[int, ...]]] = {k: Counter() for k in range(2, order + 1)}
    for t in train:
        for k in range(2, order + 1):
            for i in range(k - 1, len(t)):
                joint[k][tuple(t[i - k + 1 : i + 1])] += 1

    def prob(i: int) -> float:
        w = doc[i]
        p = (max(uni[w] - d, 0) + d * len(uni) / vocab) / total if total else 1 / vocab
        for k in range(2, order + 1):
            if i < k - 1:
                break
            h = tuple(doc[i - k + 1 : i])
            grams = {g: n for g, n in joint[k].items() if g[:-1] == h}
            c = sum(grams.values())
            if c == 0:
                continue
            n1 = len(grams)
            p = (max(grams.get((*h, w), 0) - d, 0) + d * n1 * p) / c
        return math.log2(p)

    return [prob(i) for i in range(len(doc))]


WORDS = st.lists(st.lists(st.integers(0, 7), min_size=0, max_size=12), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(train=WORDS, doc=st.lists(st.integers(0, 7), min_size=1, max_size=10), order=st.integers(1, 4))
def test_log_probs_equal_the_exact_count_reference(train: list[list[int]], doc: list[int], order: int) -> None:
    model = NgramModel(order=order, vocab_bits=3, table_bits=20)
    model.add(*_offsets(train))
    got = model.log2_probs(*_offsets([doc]))
    assert got.tolist() == pytest.approx(ref_log2_probs(train, doc, order, 8, 0.75), rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(train=WORDS, context=st.lists(st.integers(0, 7), min_size=0, max_size=3), order=st.integers(1, 4))
def test_probabilities_sum_to_one_over_a_tiny_vocabulary(train: list[list[int]], context: list[int], order: int) -> None:
    model = NgramModel(order=order, vocab_bits=3, table_bits=20)
    model.add(*_offsets(train))
    # P(w | context) for every word w of the 8-word vocabulary: the last position of context + [w]
    docs = [[*context, w] for w in range(8)]
    ids, offsets = _offsets(docs)
    logp = model.log2_probs(ids, offsets)
    last = offsets[1:] - 1
    assert float(np.sum(2.0 ** logp[last])) == pytest.approx(1.0, abs=1e-9)


def test_model_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="discount"):
        NgramModel(discount=1.0)
    with pytest.raises(ValueError, match="order"):
        NgramModel(order=0)


# ---------------------------------------------------------------- the stage

TARGET = [{"text": f"the planner chooses an index scan on table t{i} when the filter is selective"} for i in range(30)]
LIKE = [f"the planner chooses a sequential scan on table u{i} when most rows match" for i in range(10)]
OFF = [f"buy cheap watches and shoes number {i} today with free shipping worldwide" for i in range(30)]


def _frame(texts: list[str | None], prefix: str = "d") -> pl.DataFrame:
    return pl.DataFrame({"id": [f"{prefix}{i:03d}" for i in range(len(texts))], "text": texts}, schema={"id": pl.String, "text": pl.String})


def _config(tmp_path: Path, **kw: object) -> LearnabilityScoreConfig:
    path = write_jsonl(tmp_path / "target.jsonl", TARGET)
    return LearnabilityScoreConfig.model_validate({"target": [{"path": str(path)}], "table_bits": 16, "vocab_bits": 12, **kw})


def _run(cfg: LearnabilityScoreConfig, frame: pl.DataFrame, work: Path, seed: int = 3, shards: int = 2) -> pl.DataFrame:
    size = max(1, -(-frame.height // shards))
    parts = [frame.slice(i, size) for i in range(0, max(frame.height, 1), size)]
    rows, _ = run_stage_frames(LearnabilityScore(cfg), parts, work, seed=seed)
    return rows.sort("id")


def test_static_target_like_documents_are_most_learnable(tmp_path: Path) -> None:
    rows = _run(_config(tmp_path), _frame(OFF + LIKE), tmp_path / "w")
    scores = rows["learnability"].to_list()
    assert min(scores[30:]) > max(scores[:30])
    assert rows["_reject"].null_count() == rows.height


def test_static_score_is_learner_minus_reference_cross_entropy(tmp_path: Path) -> None:
    from curate.hashing import derive_seed
    from curate.select.ngram_lm import fit_texts

    cfg = _config(tmp_path)
    pool = OFF[:5] + LIKE[:5]
    rows = _run(cfg, _frame(pool), tmp_path / "w", seed=5)
    seed = derive_seed(5, "learnability")
    settings_ = {"order": 3, "vocab_bits": 12, "table_bits": 16, "discount": 0.75}
    learner, reference = fit_texts(pool, seed, **settings_), fit_texts([t["text"] for t in TARGET], seed, **settings_)
    from curate.select.ngram_lm import word_ids

    offsets, ids, _ = word_ids(pl.Series(pool), seed)
    expected = learner.cross_entropy(ids, offsets) - reference.cross_entropy(ids, offsets)
    assert rows["learnability"].to_list() == pytest.approx(expected.tolist(), rel=1e-12)


def test_shard_invariant_seeded_and_nulls(tmp_path: Path) -> None:
    for mode in ("static", "online"):
        cfg = _config(tmp_path, mode=mode, super_batch=8, keep_fraction=0.25, min_words=2)
        frame = _frame([*OFF[:12], *LIKE, None, "", "one"])
        one = _run(cfg, frame, tmp_path / f"{mode}1", shards=1)
        many = _run(cfg, frame, tmp_path / f"{mode}2", shards=5)
        assert one.equals(many), mode
        assert one.height == frame.height
        assert one["learnability"].tail(3).to_list() == [None, None, None]
        if mode == "online":  # the seed orders the super-batches (static scores depend on hashes only)
            other = _run(cfg, frame, tmp_path / f"{mode}3", seed=4, shards=2)
            assert not other["learnability"].equals(one["learnability"])


def test_online_keeps_a_share_per_super_batch_and_learns_what_it_kept(tmp_path: Path) -> None:
    # 40 copies each of two target-like documents. Statically one kind always scores higher, so a
    # top share would take only that kind; online, a kind the learner has learnt stops being
    # learnable, so the kept set holds both.
    a = "the planner chooses an index scan on table orders when the filter is selective"
    b = "vacuum reclaims storage occupied by dead tuples after updates and deletes"
    target = [{"text": a.replace("orders", f"t{i}")} for i in range(15)] + [{"text": b.replace("dead", f"old{i}")} for i in range(15)]
    path = write_jsonl(tmp_path / "ab.jsonl", target)
    base = {"target": [{"path": str(path)}], "table_bits": 16, "vocab_bits": 12}
    frame = _frame([a] * 40 + [b] * 40)
    static = _run(LearnabilityScoreConfig.model_validate(base), frame, tmp_path / "s")
    assert "learnability_kept" not in static.columns
    by_kind = static.group_by("text").agg(pl.col("learnability").n_unique().alias("n"), pl.col("learnability").first().alias("s"))
    assert by_kind["n"].to_list() == [1, 1] and by_kind["s"].n_unique() == 2
    online = _run(LearnabilityScoreConfig.model_validate({**base, "mode": "online", "super_batch": 10, "keep_fraction": 0.2}), frame, tmp_path / "o")
    kept = online.filter(pl.col("learnability_kept"))
    assert kept.height == 16  # ceil(0.2 * 10) in each of 8 super-batches
    assert kept.filter(pl.col("text") == a).height >= 3 and kept.filter(pl.col("text") == b).height >= 3
    # a learnt kind's score falls: its first copies were scored against an empty learner
    spread = online.group_by("text").agg((pl.col("learnability").max() - pl.col("learnability").min()).alias("d"))
    assert spread["d"].min() > 5.0


def test_missing_target_field_is_a_config_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"q": "x"}])
    cfg = LearnabilityScoreConfig.model_validate({"target": [{"path": str(path)}]})
    with pytest.raises(ConfigError, match=r"t.jsonl:1: no field 'text'"):
        _run(cfg, _frame(["a b c"]), tmp_path / "w", shards=1)


def test_cli_scores_every_document_and_select_keeps_the_online_choice(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": t} for t in OFF + LIKE])
    target = write_jsonl(tmp_path / "target.jsonl", TARGET)
    out = tmp_path / "out"
    result = cli("learnability", src, "-o", out, "--target", str(target), "--mode", "online", "--super-batch", "20", "--keep-fraction", "0.25", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    frame = read_dir(out)
    assert frame.height == len(OFF + LIKE) and frame["learnability"].null_count() == 0
    assert frame["learnability_kept"].sum() == 10
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["steps"][-1]["counts"]["counters"]["docs_kept_online"] == 10
    sel = tmp_path / "sel"
    result = cli("select", out, "-o", sel, "--method", "threshold", "--score", "learnability_kept", "--threshold", "1", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert read_dir(sel).height == 10


def test_the_kernel_refuses_wrong_sizes_instead_of_reading_past_a_buffer() -> None:
    from curate.select._native import ngram_add, ngram_log2_probs

    m = NgramModel(order=3, vocab_bits=4, table_bits=6)
    ids, offsets = _offsets([[1, 2, 3]])
    tables = (m.unigrams, m.joint, m.context, m.followers)
    with pytest.raises(ValueError, match="offsets"):
        ngram_add(ids, np.array([0, 5], dtype=np.int64), 3, 4, 6, *tables)
    with pytest.raises(ValueError, match="joint"):
        ngram_add(ids, offsets, 3, 4, 7, *tables)
    with pytest.raises(TypeError, match="8-byte"):
        ngram_add(ids.astype(np.uint32), offsets, 3, 4, 6, *tables)
    with pytest.raises(ValueError, match="out"):
        ngram_log2_probs(ids, offsets, 3, 4, 6, *tables, (0.75, 0.0, 0.0, np.empty(2)))
    assert m.total == 0 and not m.unigrams.any()
