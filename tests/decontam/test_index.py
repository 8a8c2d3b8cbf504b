"""The n-gram index: the compiled scan finds exactly the grams a Python reference finds."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.decontam.evalsets import EvalItems
from curate.decontam.index import build_index
from curate.decontam.spans import char_positions, cut_windows


def words(text: str) -> list[str]:
    """Python's tokens with the simple (context-free) case mapping the kernel uses: a final
    sigma lowercases to σ wherever it stands, and İ to i."""
    lowered = "".join("i" if c == "\u0130" else c.lower()[0] for c in text)
    return re.findall(r"\w+", lowered)


def reference_grams(items: list[str], n: int, min_words: int) -> set[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for text in items:
        w = words(text)
        if len(w) >= n:
            grams |= {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}
        elif len(w) >= min_words:
            grams.add(tuple(w))
    return grams


def reference_hits(doc: str, grams: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    w = words(doc)
    lengths = {len(g) for g in grams}
    return {tuple(w[i : i + k]) for k in lengths for i in range(len(w) - k + 1) if tuple(w[i : i + k]) in grams}


VOCAB = ["the", "cat", "Sat", "on", "mat", "Ünïcode", "naïve", "über", "x_1", "42", "ΣΊΣΥΦΟΣ", "İstanbul"]
SEPS = [" ", "  ", "\n", ", ", "—", " (", ") ", "’", "\t"]


@st.composite
def texts(draw: st.DrawFn, max_words: int = 40) -> str:
    ws = draw(st.lists(st.sampled_from(VOCAB), min_size=0, max_size=max_words))
    seps = draw(st.lists(st.sampled_from(SEPS), min_size=len(ws), max_size=len(ws)))
    return "".join(w + s for w, s in zip(ws, seps, strict=True))


@settings(max_examples=60, deadline=None)
@given(st.lists(texts(20), min_size=1, max_size=4), st.lists(texts(60), min_size=1, max_size=5), st.integers(2, 5))
def test_scan_finds_exactly_the_reference_grams(items: list[str], docs: list[str], n: int) -> None:
    index = build_index([EvalItems("e", [str(i) for i in range(len(items))], items)], n, 1 if n == 2 else 2)
    grams = reference_grams(items, n, 1 if n == 2 else 2)
    hits = index.scan(pl.Series(docs, dtype=pl.String))
    for d, doc in enumerate(docs):
        raw = doc.encode()
        sel = hits.doc == d
        found = {tuple(words(raw[s:e].decode())) for s, e in zip(hits.start[sel], hits.end[sel], strict=True)}
        assert found == reference_hits(doc, grams)


def test_case_spacing_and_punctuation_do_not_hide_a_copy() -> None:
    item = "The quick brown fox jumps over the lazy dog near the river bank today"
    index = build_index([EvalItems("e", ["1"], [item])], 13, 8)
    doc = "Intro.\n\nTHE QUICK, brown fox -- jumps\nover the lazy dog (near) the river bank; TODAY!"
    hits = index.scan(pl.Series([doc, "nothing like it"]))
    assert set(hits.doc.tolist()) == {0}
    assert len(np.unique(hits.gram)) == 2  # 14 words: both 13-grams


def test_short_items_match_whole_and_shorter_ones_are_counted() -> None:
    index = build_index([EvalItems("e", ["a", "b"], ["Capital of Peru is Lima today ok", "Too short"])], 13, 5)
    assert index.too_short == {"e": 1}
    assert index.lengths.tolist() == [7]
    hits = index.scan(pl.Series(["x capital of PERU is lima today ok y", "capital of peru is lima"]))
    assert hits.doc.tolist() == [0]


def test_items_of_maps_grams_to_every_occurrence_in_every_item() -> None:
    shared = "one two three four five"
    index = build_index([EvalItems("a", ["1"], [shared]), EvalItems("b", ["2"], [shared + " six " + shared])], 5, 5)
    hits = index.scan(pl.Series([shared]))
    rows, items, pos = index.items_of(np.unique(hits.gram))
    assert sorted(zip(items.tolist(), pos.tolist(), strict=True)) == [(0, 0), (1, 0), (1, 6)]
    assert index.item_set.tolist() == [0, 1]
    assert index.item_words.tolist() == [5, 11]
    assert index.gram_words(np.array([0, 1])).tolist() == [5, 5]


def test_empty_index_and_empty_batch() -> None:
    index = build_index([EvalItems("e", [], [])], 13, 8)
    assert len(index.scan(pl.Series(["some text here"])).doc) == 0
    assert len(build_index([EvalItems("e", ["1"], ["a b c d"])], 3, 3).scan(pl.Series([], dtype=pl.String)).doc) == 0


def test_char_positions_count_code_points() -> None:
    text = "ab€d💡e"
    raw = text.encode()
    assert char_positions(text, np.array([0, 2, 5, 6, len(raw)])).tolist() == [0, 2, 3, 4, len(text)]


def test_cut_windows_merges_overlapping_windows_and_drops_short_fragments() -> None:
    text = "A" * 50 + "X" * 10 + "B" * 5 + "Y" * 10 + "C" * 50
    apart = cut_windows(text, [50, 65], [60, 75], window=2, min_fragment=20)
    assert apart.cuts == 2  # [48, 62) and [63, 77): the one "B" between them is a fragment too short to keep
    assert apart.text == "A" * 48 + "\n\n" + "C" * 48 and apart.chars_removed == len(text) - 96
    merged = cut_windows(text, [50, 65], [60, 75], window=3, min_fragment=20)
    assert merged.cuts == 1 and merged.text == "A" * 47 + "\n\n" + "C" * 47
    whole = cut_windows(text, [50], [60], window=0, min_fragment=30)
    assert whole.text == "A" * 50 + "\n\n" + "B" * 5 + "Y" * 10 + "C" * 50 and whole.chars_removed == 10


def test_cut_windows_without_matches_keeps_the_text() -> None:
    assert cut_windows("short", [], [], window=5, min_fragment=100).text == "short"
