"""Rule-based operators: known answers at rate 1, UTF-8 safety, determinism and batch invariance,
and the C kernel byte for byte against the numba kernel it replaced."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_series_equal
from reference_augment_kernel import apply_op as reference_apply_op

from conftest import fresh_python
from curate.augment import _native
from curate.augment import operators as O
from curate.augment.operators import OPERATOR_NAMES, apply_ops
from curate.hashing import _string_buffers
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


# ---------------------------------------------------------------- the C kernel against the numba code it replaced


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="abcXYZ rnmclvv019.,;:!?'\"-\n\té🙂", max_size=40) | TEXT.filter(bool), max_size=6),
    st.sampled_from(OPERATOR_NAMES),
    st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]),
    st.integers(0, 2**64 - 1),
)
def test_compiled_kernel_equals_the_numba_kernel_it_replaced(
    texts: list[str | None], op: str, rate: float, seed: int
) -> None:
    seeds = (np.arange(len(texts), dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(seed)
    got = apply_ops(pl.Series("text", texts, dtype=pl.String), [(op, rate, seeds)])
    offsets, data = _string_buffers(pl.Series(texts, dtype=pl.String))
    code, kinds = O.OPERATORS[op]
    out, out_off = reference_apply_op(
        data, offsets, seeds, rate, code, np.asarray(kinds or (0,), dtype=np.int64),
        O._KEYS, O._KEY_COUNTS, O._OCR1, O._PUNCT_MARKS,
    )
    want = [None if t is None else bytes(out[a:b]).decode() for t, a, b in zip(texts, out_off[:-1], out_off[1:], strict=True)]
    assert got.to_list() == want


def test_kernel_refuses_bad_buffers() -> None:
    offsets, data = np.array([0, 3], dtype=np.int64), np.frombuffer(b"abc", dtype=np.uint8)
    tables = (np.zeros(1, np.int64), O._KEYS, O._KEY_COUNTS, O._OCR1, O._PUNCT_MARKS)
    seeds = np.zeros(1, np.uint64)
    out, out_off = np.empty(7, np.uint8), np.empty(2, np.int64)
    assert _native.apply_op(data, offsets, seeds, 1.0, 2, *tables, out, out_off) == 3
    assert bytes(out[:3]) == b"ABC" and out_off.tolist() == [0, 3]
    with pytest.raises(ValueError, match="too short"):
        _native.apply_op(data, offsets, seeds, 1.0, 2, *tables, out[:6], out_off)
    with pytest.raises(IndexError, match="offsets"):
        _native.apply_op(data[:2], offsets, seeds, 1.0, 2, *tables, out, out_off)
    with pytest.raises(ValueError, match="operator"):
        _native.apply_op(data, offsets, seeds, 1.0, 9, *tables, out, out_off)
    with pytest.raises(ValueError, match="kinds"):
        _native.apply_op(data, offsets, seeds, 1.0, 0, np.array([7]), *tables[1:], out, out_off)
    with pytest.raises(TypeError, match="seeds"):
        _native.apply_op(data, offsets, seeds.view(np.uint32), 1.0, 2, *tables, out, out_off)


def test_operators_run_in_a_fresh_process_without_numba() -> None:
    code = (
        "import sys, numpy as np, polars as pl\n"
        "from curate.augment.operators import apply_ops\n"
        "print(apply_ops(pl.Series(['Hello']), [('casing', 1.0, np.zeros(1, np.uint64))]).to_list(),"
        " sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
    )
    assert fresh_python(code, timeout=120) == "['hELLO'] []"
