"""Meaning-changing degradations: each changes what it claims to change and nothing else."""

from __future__ import annotations

import random
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.augment import degrade as dg

STEPS = (
    "Step 1: add 3 and 4 to get 7.\nStep 2: multiply 7 by 2 to get 14.\nStep 3: the answer is 14."
)
LIST = "Pack these:\n- a tent\n- a stove\n- a map\nThen leave."
NUMBERED = "Order:\n1. wake up\n2. brew coffee\n3. read mail"
words = st.text(alphabet="abcdefgh", min_size=1, max_size=6)


def rng(seed: int = 0) -> random.Random:
    return random.Random(seed)


@given(st.lists(words, min_size=2, max_size=40), st.integers(0, 2**32))
@settings(max_examples=100, deadline=None)
def test_truncate_is_a_strict_word_prefix(ws: list[str], seed: int) -> None:
    text = " ".join(ws)
    out = dg.truncate(text, rng(seed))
    assert out is not None and text.startswith(out)
    kept = out.split()
    assert 1 <= len(kept) < len(ws) and kept == ws[: len(kept)]


def test_truncate_needs_two_words() -> None:
    assert dg.truncate("single", rng()) is None


@pytest.mark.parametrize("seed", range(10))
def test_drop_step_removes_exactly_one_step(seed: int) -> None:
    out = dg.drop_step(STEPS, rng(seed))
    assert out is not None
    before, after = STEPS.split("\n"), out.split("\n")
    assert len(after) == len(before) - 1
    assert not Counter(after) - Counter(before)  # nothing new, one line gone
    assert [ln for ln in before if ln in after] == after  # order kept


def test_drop_step_uses_sentences_in_one_line_text() -> None:
    text = "First we boil water. Then we add pasta. Finally we drain it."
    out = dg.drop_step(text, rng(3))
    assert out is not None and len(re.findall(r"\.", out)) == 2
    assert dg.drop_step("Only one step here.", rng()) is None


@given(st.lists(words, min_size=2, max_size=8, unique=True), st.integers(0, 2**32))
@settings(max_examples=100, deadline=None)
def test_reorder_steps_keeps_the_steps_and_changes_their_order(lines: list[str], seed: int) -> None:
    text = "\n".join(lines)
    out = dg.reorder_steps(text, rng(seed))
    assert out is not None
    assert sorted(out.split("\n")) == sorted(lines) and out.split("\n") != lines


def test_reorder_steps_of_identical_steps_does_not_apply() -> None:
    assert dg.reorder_steps("same\nsame\nsame", rng()) is None


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)


@pytest.mark.parametrize("seed", range(20))
def test_perturb_numbers_changes_numbers_and_nothing_else(seed: int) -> None:
    text = "The recipe needs 250 g of flour, 2 eggs and 0.5 l of milk for 4 people."
    out = dg.perturb_numbers(text, rng(seed))
    assert out is not None
    assert numbers(out) != numbers(text) and len(numbers(out)) == len(numbers(text))
    assert re.sub(r"\d+", "#", out) == re.sub(r"\d+", "#", text)  # the words are the same
    for a, b in zip(numbers(text), numbers(out), strict=True):
        assert ("." in a) == ("." in b)  # a decimal stays a decimal


def test_perturb_numbers_needs_a_number() -> None:
    assert dg.perturb_numbers("No digits at all here.", rng()) is None
    assert dg.perturb_numbers("Version v2b and x86 are words, not numbers.", rng()) is None


@pytest.mark.parametrize("seed", range(20))
def test_swap_units_changes_units_after_numbers_only(seed: int) -> None:
    text = "Run 5 km in 30 minutes, then rest for 2 hours. The km sign stays."
    out = dg.swap_units(text, rng(seed))
    assert out is not None and out != text
    assert numbers(out) == numbers(text)
    assert out.endswith("The km sign stays.")  # a unit not after a number is not touched
    units = r"\b(km|m|cm|mm|minutes|hours|seconds)\b"
    assert len(re.findall(units, out)) == len(re.findall(units, text))


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("The bridge is open on Sundays.", 1),
        ("Water boils at 100 degrees because pressure is high.", 1),
        ("The museum isn't open on Mondays.", -1),
        ("Cats cannot fly, and dogs do not either.", -1),
        ("You can't divide by zero.", -1),
    ],
)
def test_negate_adds_or_removes_exactly_one_negation(text: str, delta: int) -> None:
    for seed in range(8):
        out = dg.negate(text, rng(seed))
        assert out is not None and out != text
        change = dg.negation_count(out) - dg.negation_count(text)
        assert change in (1, -1)
        if delta == 1:  # no negation to remove: one is added
            assert change == 1


def test_negate_needs_a_verb_it_knows() -> None:
    assert dg.negate("Apples, pears and plums.", rng()) is None


@pytest.mark.parametrize("text", [LIST, NUMBERED])
def test_shuffle_list_moves_items_keeps_markers_and_other_lines(text: str) -> None:
    for seed in range(8):
        out = dg.shuffle_list(text, rng(seed))
        assert out is not None and out != text
        a, b = text.split("\n"), out.split("\n")
        assert a[0] == b[0] and len(a) == len(b)
        marker = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+)(.*)$")
        items_a = [marker.match(x) for x in a if marker.match(x)]
        items_b = [marker.match(x) for x in b if marker.match(x)]
        assert [m.group(1) for m in items_a] == [m.group(1) for m in items_b]  # 1. 2. 3. stay
        assert sorted(m.group(2) for m in items_a) == sorted(m.group(2) for m in items_b)
        assert [m.group(2) for m in items_a] != [m.group(2) for m in items_b]
        assert [x for x in a if not marker.match(x)] == [x for x in b if not marker.match(x)]


def test_shuffle_list_needs_two_items() -> None:
    assert dg.shuffle_list("Just text.\n- one item", rng()) is None


def test_swap_answer_takes_another_questions_answer() -> None:
    prompts = ["q1", "q2", "q3", "q1"]
    answers = ["a1", "a2", "a3", "a1 again"]
    seeds = np.arange(4, dtype=np.uint64) * 7919
    out = dg.swap_answers(answers, prompts, seeds)
    for i, new in enumerate(out):
        assert new is not None and new != answers[i]
        j = answers.index(new)
        assert prompts[j] != prompts[i]


def test_swap_answer_without_a_partner_does_not_apply() -> None:
    out = dg.swap_answers(["same", "same"], None, np.array([1, 2], dtype=np.uint64))
    assert out == [None, None]


@pytest.mark.parametrize("name", dg.DEGRADATION_NAMES)
def test_degrade_all_is_seeded_and_never_returns_the_text(name: str) -> None:
    texts = [STEPS, LIST, NUMBERED, "The bridge is open 5 km from here.", None, "x"]
    seeds = np.arange(len(texts), dtype=np.uint64) + 11
    a = dg.degrade_all(name, texts, seeds)
    assert a == dg.degrade_all(name, texts, seeds)
    assert any(x is not None for x in a)
    for before, after in zip(texts, a, strict=True):
        assert after is None or after != before
    assert a[4] is None


def test_unknown_degradation_is_refused() -> None:
    with pytest.raises(ValueError, match="known: .*truncate"):
        dg.degrade_all("paraphrase", ["x y"], np.array([1], dtype=np.uint64))


plain = st.text(alphabet="bcfghjklpqrvxz", min_size=1, max_size=6)  # never an auxiliary verb
aux = st.sampled_from(["is", "are", "was", "can", "will", "does", "has", "should"])


@given(
    st.lists(plain, min_size=0, max_size=6), aux, st.lists(plain, max_size=6), st.integers(0, 2**32)
)
@settings(max_examples=150, deadline=None)
def test_negate_property_one_negation_more_and_nothing_else(
    before: list[str], verb: str, after: list[str], seed: int
) -> None:
    text = " ".join([*before, verb, *after]) + "."
    out = dg.negate(text, rng(seed))
    assert out is not None
    assert dg.negation_count(out) == dg.negation_count(text) + 1
    assert out.replace(f"{verb} not", verb, 1) == text


@given(
    st.lists(st.one_of(plain, st.integers(0, 10**6).map(str)), min_size=1, max_size=12).filter(
        lambda ws: any(w.isdigit() for w in ws)
    ),
    st.integers(0, 2**32),
)
@settings(max_examples=150, deadline=None)
def test_perturb_numbers_property(words: list[str], seed: int) -> None:
    text = " ".join(words)
    out = dg.perturb_numbers(text, rng(seed))
    assert out is not None
    assert re.sub(r"\d+", "#", out) == re.sub(r"\d+", "#", text)
    assert numbers(out) != numbers(text)
