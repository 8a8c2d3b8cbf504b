"""Heuristic signals: known answers on small texts, and the compiled kernels against plain Python."""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_quality_kernels import _dup_elements, _ngram_repetition

from conftest import fresh_python
from curate.quality import _native
from curate.quality.heuristics import (
    SIGNALS,
    compute_signals,
    family_of,
    resolve_families,
    signal_columns,
)
from curate.quality.words import tokenize

ALL = list(SIGNALS)


def row(text: str | None, families: list[str] = ALL) -> dict[str, float | None]:
    return compute_signals(pl.Series([text], dtype=pl.String), families).row(0, named=True)


# -- plain-Python statements of the published definitions (Rae et al. 2021, datatrove)


def ref_find_duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


def ref_top_ngram_chars(words: list[str], n: int) -> int:
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def ref_dup_ngram_chars(words: list[str], n: int) -> int:
    seen: set[tuple[str, ...]] = set()
    i = rep = 0
    while i < len(words) - n + 1:
        gram = tuple(words[i : i + n])
        if gram in seen:
            rep += sum(len(w) for w in gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return rep


PROSE = (
    "The cat sat on the mat with a hat. It was happy to be there and that was fine.\n"
    "The dog barked at the cat, but the cat did not care.\n"
)


def test_gopher_quality_known_answers() -> None:
    r = row(PROSE, ["gopher_quality"])
    words = [w for w in tokenize(PROSE) if any(c.isalnum() for c in w)]
    assert r["gopher_word_count"] == len(words) == 31
    assert r["gopher_mean_word_length"] == pytest.approx(sum(map(len, words)) / len(words))
    assert r["gopher_stop_word_count"] == 6  # the, with, to, be, and, that (case-sensitive, distinct)
    assert r["gopher_hash_ratio"] == 0.0
    assert r["gopher_alpha_words_frac"] == pytest.approx(31 / 35)  # 4 punctuation tokens
    assert r["gopher_bullet_lines_frac"] == 0.0


def test_gopher_symbol_and_line_ratios() -> None:
    text = "- one ...\n- two ...\n• three\n#tag #tag\nplain line"
    r = row(text, ["gopher_quality"])
    assert r["gopher_bullet_lines_frac"] == pytest.approx(3 / 5)
    assert r["gopher_ellipsis_lines_frac"] == pytest.approx(2 / 5)
    n_tokens = len(tokenize(text))
    assert r["gopher_hash_ratio"] == pytest.approx(2 / n_tokens)
    assert r["gopher_ellipsis_ratio"] == pytest.approx(2 / n_tokens)
    # a trailing newline adds no line (as str.splitlines)
    assert row(text + "\n", ["gopher_quality"])["gopher_bullet_lines_frac"] == pytest.approx(3 / 5)


def test_gopher_repetition_lines_and_paragraphs() -> None:
    text = "alpha beta\n\nalpha beta\n\ngamma\nalpha beta\n"
    r = row(text, ["gopher_repetition"])
    # paragraphs of the stripped text: ["alpha beta", "alpha beta", "gamma\nalpha beta"]
    assert r["gopher_dup_para_frac"] == pytest.approx(1 / 3)
    assert r["gopher_dup_para_char_frac"] == pytest.approx(10 / len(text))
    # lines split on runs of newlines: [..4 lines.., ""] (the trailing newline gives "")
    assert r["gopher_dup_line_frac"] == pytest.approx(2 / 5)
    assert r["gopher_dup_line_char_frac"] == pytest.approx(20 / len(text))


def test_gopher_ngram_signals_known_answer() -> None:
    text = "a b a b a b a b"
    r = row(text, ["gopher_repetition"])
    assert r["gopher_top_2gram_char_frac"] == pytest.approx(12 / 15)  # "a b" x 4
    assert r["gopher_dup_5gram_char_frac"] == pytest.approx(5 / 15)
    assert r["gopher_dup_10gram_char_frac"] == 0.0


WORD = st.sampled_from(["a", "b", "cc", "the", "of", "x1", "dog", ",", "."])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(WORD, min_size=0, max_size=40), min_size=1, max_size=6))
def test_ngram_kernel_equals_the_plain_definition(docs: list[list[str]]) -> None:
    texts = [" ".join(w) for w in docs]
    got = compute_signals(pl.Series(texts), ["gopher_repetition"])
    for text, r in zip(texts, got.iter_rows(named=True), strict=True):
        words = tokenize(text)
        if not text:
            continue
        for n in (2, 3, 4):
            want = ref_top_ngram_chars(words, n) / len(text)
            assert r[f"gopher_top_{n}gram_char_frac"] == pytest.approx(want)
        for n in range(5, 11):
            want = ref_dup_ngram_chars(words, n) / len(text)
            assert r[f"gopher_dup_{n}gram_char_frac"] == pytest.approx(want)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab \n", max_size=30), min_size=1, max_size=6))
def test_line_duplicates_equal_the_plain_definition(texts: list[str]) -> None:
    import re

    got = compute_signals(pl.Series(texts), ["gopher_repetition", "fineweb"])
    for text, r in zip(texts, got.iter_rows(named=True), strict=True):
        if not text:
            continue
        lines = re.split("\n+", text)
        n, chars = ref_find_duplicates(lines)
        assert r["gopher_dup_line_frac"] == pytest.approx(n / len(lines))
        assert r["gopher_dup_line_char_frac"] == pytest.approx(chars / len(text))
        paras = re.split(r"\n{2,}", text.strip())
        n, chars = ref_find_duplicates(paras)
        assert r["gopher_dup_para_frac"] == pytest.approx(n / len(paras))
        fw = [ln for ln in text.split("\n") if ln.strip()]
        if fw and len(text.replace("\n", "")):
            _, chars = ref_find_duplicates(fw)
            assert r["fineweb_dup_line_char_frac"] == pytest.approx(chars / len(text.replace("\n", "")))


def test_c4_signals() -> None:
    good = "This is a fine sentence. And another one here.\nShort\nA third line of words!\n"
    r = row(good, ["c4"])
    assert r["c4_sentence_count"] == 3
    assert r["c4_kept_lines_frac"] == pytest.approx(2 / 3)
    assert r["c4_terminal_punct_frac"] == pytest.approx(2 / 3)
    assert r["c4_lorem_ipsum"] == 0 and r["c4_curly_bracket"] == 0
    assert row("Lorem ipsum dolor sit amet.", ["c4"])["c4_lorem_ipsum"] == 1
    assert row("The code uses { braces } here.", ["c4"])["c4_curly_bracket"] == 1
    # a line that C4 drops anyway (no terminal punctuation) does not trigger the document rules
    assert row("The code uses { braces } here", ["c4"])["c4_curly_bracket"] == 0
    js = row("Please enable JavaScript in your browser.\nWe use cookies on this site.", ["c4"])
    assert js["c4_javascript_lines"] == 1 and js["c4_policy_lines"] == 1 and js["c4_sentence_count"] == 0


def test_fineweb_signals() -> None:
    text = "A line that ends well.\nshort\nshort\n\nanother line without an ending mark at all"
    r = row(text, ["fineweb"])
    assert r["fineweb_line_punct_frac"] == pytest.approx(1 / 4)
    assert r["fineweb_short_line_frac"] == pytest.approx(3 / 4)
    assert r["fineweb_dup_line_char_frac"] == pytest.approx(5 / len(text.replace("\n", "")))
    assert r["fineweb_list_ratio"] == pytest.approx(4 / len(tokenize(text)))


def test_empty_and_null_texts() -> None:
    got = compute_signals(pl.Series(["", None, "ok"], dtype=pl.String), ALL)
    assert got.height == 3
    assert got.columns == signal_columns(ALL)
    assert all(v is None for v in got.row(1))
    empty = got.row(0, named=True)
    assert empty["gopher_word_count"] == 0 and empty["gopher_mean_word_length"] is None
    assert compute_signals(pl.Series([], dtype=pl.String), ALL).height == 0


def test_signal_columns_are_numeric_and_named_by_family() -> None:
    got = compute_signals(pl.Series([PROSE, "x"]), ALL)
    assert all(dtype == pl.Float64 for dtype in got.dtypes)
    for col in got.columns:
        fam = family_of(col)
        assert fam is not None and col.startswith(fam.split("_")[0] + "_")
    assert not np.isnan(got.to_numpy()).any()


def test_family_aliases() -> None:
    assert resolve_families(["gopher"]) == ["gopher_quality", "gopher_repetition"]
    assert resolve_families(["fineweb", "c4_quality", "c4"]) == ["c4", "fineweb"]
    with pytest.raises(ValueError, match="unknown heuristic family"):
        resolve_families(["nope"])


# ---------------------------------------------------------------- the C kernels against the numba code they replaced



@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(-3, 3), st.integers(1, 9)), max_size=40), min_size=1, max_size=5))
def test_repetition_kernels_equal_the_numba_kernels_they_replaced(docs: list[list[tuple[int, int]]]) -> None:
    # few distinct hashes (negative ones too), so that elements and n-grams repeat
    counts = np.array([len(d) for d in docs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    hashes = np.array([h * 0x9E3779B97F4A7C15 % 2**64 for d in docs for h, _ in d], dtype=np.uint64)
    lengths = np.array([n for d in docs for _, n in d], dtype=np.int64)
    n = len(docs)
    dn, dc = np.empty(n, np.int64), np.empty(n, np.int64)
    _native.dup_elements(offsets, hashes.view(np.int64), lengths, dn, dc)
    want_n, want_c = _dup_elements(offsets, hashes.view(np.int64), lengths)
    assert dn.tolist() == want_n.tolist() and dc.tolist() == want_c.tolist()
    top, dup = np.empty((3, n), np.int64), np.empty((6, n), np.int64)
    _native.ngram_repetition(offsets, hashes, lengths, top, dup)
    want_top, want_dup = _ngram_repetition(offsets, hashes, lengths)
    assert top.tolist() == want_top.tolist() and dup.tolist() == want_dup.tolist()


def test_repetition_kernels_check_their_buffers() -> None:
    offsets = np.array([0, 2, 5], dtype=np.int64)
    h, ln = np.zeros(5, np.int64), np.ones(5, np.int64)
    with pytest.raises(IndexError, match="offsets"):
        _native.dup_elements(offsets, h[:4], ln, np.empty(2, np.int64), np.empty(2, np.int64))
    with pytest.raises(ValueError, match="dup_c"):
        _native.dup_elements(offsets, h, ln, np.empty(2, np.int64), np.empty(1, np.int64))
    with pytest.raises(ValueError, match="top"):
        _native.ngram_repetition(offsets, h.view(np.uint64), ln, np.empty(5, np.int64), np.empty(12, np.int64))
    with pytest.raises(TypeError, match="tok_len"):
        _native.ngram_repetition(offsets, h.view(np.uint64), ln.astype(np.int32), np.empty(6, np.int64), np.empty(12, np.int64))


def test_signals_compute_in_a_fresh_process_without_numba() -> None:
    # the kernels are C built at install: nothing compiles at first use, read-only installs included
    code = (
        "import sys, polars as pl\n"
        "from curate.quality.heuristics import SIGNALS, compute_signals\n"
        "f = compute_signals(pl.Series(['The cat sat on the mat. It was happy to be there.']), list(SIGNALS))\n"
        "assert f['gopher_word_count'][0] == 12, f\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
    )
    assert fresh_python(code, timeout=120) == "[]"
