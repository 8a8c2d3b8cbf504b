"""Rule-based operators: known answers at rate 1, UTF-8 safety, determinism and batch invariance."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from curate.augment import operators as O
from curate.augment.operators import OPERATOR_NAMES, apply_ops
from curate.stages.base import StageContext


def run(op: str, texts: list[str | None], rate: float = 1.0, seed: int = 1) -> list[str | None]:
    seeds = np.arange(len(texts), dtype=np.uint64) + np.uint64(seed)
    return apply_ops(pl.Series("text", texts, dtype=pl.String), [(op, rate, seeds)]).to_list()


def test_known_answers_at_rate_one() -> None:
    assert run("casing", ["Hello, World 42"]) == ["hELLO, wORLD 42"]
    assert run("word_dropout", ["one two  three"]) == [""]
    assert run("word_swap", ["a b c d e"]) == ["b a d c e"]
    assert run("sentence_shuffle", ["One. Two! Three? Four"]) == ["Two! One. Four Three?"]
    assert run("typo_delete", ["ab1 c!"]) == ["1 !"]
    assert run("typo_transpose", ["abcd ef"]) == ["badc fe"]
    assert run("ocr", ["rn cl vv"]) == ["m d w"]
    assert run("ocr", ["m"]) == ["rn"]
    assert run("ocr", ["lO0S"]) == ["10O5"]


def test_typo_substitute_uses_keyboard_neighbours_and_keeps_case() -> None:
    out = run("typo_substitute", ["sS"] * 20)
    for text in out:
        assert text is not None and len(text) == 2
        assert text[0] in "weazxd" and text[1] in "WEAZXD"


def test_rate_zero_is_identity_and_lengths_are_bounded() -> None:
    texts = ["The quick brown fox. Jumps over!", "", "naïve café — 東京 rn m"]
    for op in OPERATOR_NAMES:
        assert run(op, texts, rate=0.0) == texts
        for text, src in zip(run(op, texts, rate=1.0), texts, strict=True):
            assert text is not None and len(text.encode()) <= 2 * len(src.encode())


def test_non_ascii_is_never_split_and_nulls_stay_null() -> None:
    texts = ["héllo wörld ümlaut naïve café 東京タワー émoji 🙂 ok", None, ""]
    for op in OPERATOR_NAMES:
        out = run(op, texts, rate=1.0)
        assert out[1] is None and out[2] == ""
        kept = [ch for ch in texts[0] if ord(ch) > 127]
        got = [ch for ch in out[0] if ord(ch) > 127]
        if op != "word_dropout":
            assert sorted(got) == sorted(kept), op


def test_typo_rate_is_roughly_the_share_of_edited_letters() -> None:
    text = "abcdefghij" * 2000
    out = run("typo_substitute", [text], rate=0.05)[0]
    assert out is not None
    changed = sum(a != b for a, b in zip(text, out, strict=True)) / len(text)
    assert 0.035 < changed < 0.065


def test_public_single_operator_functions() -> None:
    texts = pl.Series("text", ["Hello there. General Kenobi!"])
    seeds = np.array([5], dtype=np.uint64)
    for fn in (
        O.typo,
        O.ocr,
        O.casing,
        O.whitespace,
        O.punctuation,
        O.word_dropout,
        O.word_swap,
        O.sentence_shuffle,
    ):
        out = fn(texts, seeds, 0.5)
        assert out.name == "text" and out.dtype == pl.String and out.len() == 1


def test_unknown_operator_and_bad_seeds_are_errors() -> None:
    texts = pl.Series("text", ["a"])
    with pytest.raises(ValueError, match="unknown operator"):
        apply_ops(texts, [("nope", 0.1, np.zeros(1, np.uint64))])
    with pytest.raises(ValueError, match="one seed"):
        apply_ops(texts, [("typo", 0.1, np.zeros(2, np.uint64))])


TEXT = st.one_of(
    st.none(), st.text(max_size=60), st.sampled_from(["Hello world. Foo bar!", "rn m cl", "é 🙂 x"])
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(TEXT, max_size=12),
    st.integers(0, 12),
    st.sampled_from(OPERATOR_NAMES),
    st.floats(0.0, 1.0),
)
def test_batch_invariant_and_deterministic(
    texts: list[str | None], cut: int, op: str, rate: float
) -> None:
    ids = pl.Series("id", [f"doc{i}" for i in range(len(texts))])
    s = pl.Series("text", texts, dtype=pl.String)
    ctx = StageContext(seed=3, stage_index=2, stage_kind="augment")
    whole = apply_ops(
        s, [(op, rate, ctx.doc_seeds(ids, "x")), ("typo", 0.1, ctx.doc_seeds(ids, "y"))]
    )
    cut = min(cut, len(texts))
    parts = [
        apply_ops(
            s.slice(a, b - a),
            [
                (op, rate, ctx.doc_seeds(ids.slice(a, b - a), "x")),
                ("typo", 0.1, ctx.doc_seeds(ids.slice(a, b - a), "y")),
            ],
        )
        for a, b in ((0, cut), (cut, len(texts)))
    ]
    assert_series_equal(whole, pl.concat(parts))
    again = apply_ops(
        s, [(op, rate, ctx.doc_seeds(ids, "x")), ("typo", 0.1, ctx.doc_seeds(ids, "y"))]
    )
    assert_series_equal(whole, again)
