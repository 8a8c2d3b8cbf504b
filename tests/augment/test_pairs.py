"""Error-injection pairs: correction pairs keep the clean text; preference levels grade the damage."""

from __future__ import annotations

from collections import Counter

import polars as pl

from curate.augment.pairs import correction_pairs, degraded_responses
from curate.stages.base import StageContext

CTX = StageContext(seed=9, stage_index=1, stage_kind="augment")
IDS = pl.Series("id", ["a", "b", "c"])
TEXTS = pl.Series(
    "text", ["The cat sat on the mat. " * 80, "Spelling matters a lot here. " * 80, None]
)


def word_distance(a: str, b: str) -> int:
    """Size of the symmetric multiset difference of the words (edits, drops and insertions)."""
    wa, wb = Counter(a.split()), Counter(b.split())
    return sum((wa - wb).values()) + sum((wb - wa).values())


def seeds(salt: str):  # noqa: ANN201 - numpy array
    return CTX.doc_seeds(IDS, salt)


def test_correction_pairs_keep_the_clean_text() -> None:
    pairs = correction_pairs(TEXTS, [("typo", 0.1)], seeds)
    assert pairs.columns == ["noisy", "clean"]
    assert pairs["clean"].to_list() == TEXTS.to_list()
    assert pairs["noisy"][0] != TEXTS[0] and pairs["noisy"][2] is None


def test_degraded_responses_are_ranked_by_damage() -> None:
    out = degraded_responses(
        TEXTS.head(2),
        [("typo", 0.02), ("word_dropout", 0.02)],
        [4.0, 1.0, 0.25],
        lambda s: CTX.doc_seeds(IDS.head(2), s),
    )
    assert out.height == 6
    assert out["degradation"].to_list() == [1, 2, 3, 1, 2, 3]
    assert out["rate_scale"].to_list() == [0.25, 1.0, 4.0] * 2
    for row in range(2):
        group = out.filter(pl.col("row") == row)
        clean = TEXTS[row]
        damage = [word_distance(clean, r) for r in group["rejected"]]
        assert damage == sorted(damage) and damage[0] < damage[-1]
        assert set(group["chosen"]) == {clean}


def test_degraded_responses_empty_levels() -> None:
    assert degraded_responses(TEXTS, [("typo", 0.1)], [], seeds).height == 0
