"""C4 line cleaning: each rule on tiny texts, and the batch kernel against a per-line reference."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.quality.c4_lines import C4Rules, clean, split_lines
from curate.quality.words import sentence_counts

FIVE = "One sentence here. Two sentences here. Three are here. Four are here. Five are here."


def one(text: str, **rules: object) -> tuple[str, str | None, dict[str, int]]:
    r = clean(pl.Series([text]), C4Rules(**rules))  # type: ignore[arg-type]
    return r.text[0], r.reason[0], {k: int(v[0]) for k, v in r.removed.items() if v[0]}


def kept(text: str, **rules: object) -> str:
    """The cleaned text with the sentence minimum off (so a rule is seen alone)."""
    out, reason, _ = one(text, min_sentences=0, **rules)
    assert reason is None, reason
    return out


def test_lines_without_terminal_punctuation_are_removed() -> None:
    text = "A line that ends well.\nA line without an end\nAnother good one here!"
    assert kept(text) == "A line that ends well.\nAnother good one here!"
    assert one(text, min_sentences=0)[2] == {"no_terminal_punct": 1}


def test_a_quote_after_the_period_is_terminal_and_an_ellipsis_is_not() -> None:
    assert kept('He said "it is fine."') == 'He said "it is fine."'
    assert kept("It was 'the best one.'") == "It was 'the best one.'"
    assert one("And then it went on...", min_sentences=0)[1] == "empty"  # '...' is no ending
    assert kept("Where are we going?\nWhat a day it was!") == "Where are we going?\nWhat a day it was!"
    # a closing bracket after the period is not a terminal mark
    assert one("It was good (really good.)", min_sentences=0)[2] == {"no_terminal_punct": 1}


def test_terminal_punctuation_rule_can_be_switched_off() -> None:
    assert kept("A line without an end", terminal_punct=False) == "A line without an end"


def test_lines_of_fewer_than_three_words_are_removed_counted_on_whitespace() -> None:
    assert one("Too short.\nThis has three.", min_sentences=0)[0] == "This has three."
    assert kept("two\u00a0words\u3000here.") == "two\u00a0words\u3000here."  # NBSP, ideographic space split words
    assert kept("Two words.", min_words_per_line=2) == "Two words."
    assert kept("Alone.", min_words_per_line=0) == "Alone."


def test_a_word_over_the_maximum_length_removes_the_line() -> None:
    long = "x" * 1001
    text = f"A line with {long} in it.\nA normal line here."
    assert kept(text) == "A normal line here."
    assert one(text, min_sentences=0)[2] == {"too_long_word": 1}
    assert kept(f"A line with {'x' * 1000} in it.") == f"A line with {'x' * 1000} in it."
    assert kept(text, max_word_length=None).startswith("A line with")


def test_citation_markers_are_cut_before_the_punctuation_check() -> None:
    assert kept("Paris is the capital.[1]") == "Paris is the capital."
    assert kept("It is known[citation needed] to be so.[edit]") == "It is known to be so."
    assert kept("Cited three times.[12][]") == "Cited three times."
    # words are counted before the cut ("[1]" is a word), and the line is not stripped again
    assert kept("Two words [1].") == "Two words ."
    assert one("Two words. [1]", min_sentences=0)[2] == {"no_terminal_punct": 1}
    assert kept("Kept as it is.[1]", remove_citations=False, terminal_punct=False) == "Kept as it is.[1]"


def test_javascript_and_policy_lines_are_removed_in_any_case() -> None:
    text = "Please enable JavaScript to view.\nWe use cookies on this site.\nRead our Privacy Policy now.\nThis line stays here."
    assert kept(text) == "This line stays here."
    assert one(text, min_sentences=0)[2] == {"javascript": 1, "policy": 2}
    assert kept(text, javascript=False, policy=False) == text


def test_lorem_ipsum_and_curly_brackets_reject_the_document() -> None:
    assert one("Lorem Ipsum dolor sit amet.\n" + FIVE)[1] == "lorem_ipsum"
    assert one("The set {a, b} is small.\n" + FIVE)[1] == "curly_bracket"
    # only lines that reach the rule count: a short or unterminated line with '{' is just removed
    assert one("x = {\n" + FIVE)[1] is None
    # a javascript line is removed before the bracket rule sees it
    assert one("The javascript {code} is here.\n" + FIVE)[1] is None
    # the first line that decides wins
    assert one("The set {a} is odd.\nLorem ipsum dolor sit.\n" + FIVE)[1] == "curly_bracket"
    assert one("The set {a} is odd.\n" + FIVE, curly_bracket=False)[1] is None


def test_too_few_sentences_and_emptied_documents_are_rejected_with_their_reason() -> None:
    out, reason, _ = one("Only one sentence here.")
    assert reason == "too_few_sentences" and out == "Only one sentence here."  # text left as it was
    assert one(FIVE)[1] is None
    assert one("no punctuation at all", min_sentences=0)[1] == "empty"
    assert one("", min_sentences=0)[1] == "empty"
    assert one("")[1] == "too_few_sentences"


def test_lines_are_stripped_joined_by_newlines_and_python_line_breaks_split() -> None:
    text = "  First line is here.  \r\nSecond line is here.\x0bThird line is here.\u2028Fourth one is here.\n\n"
    assert kept(text) == "First line is here.\nSecond line is here.\nThird line is here.\nFourth one is here."
    lines = split_lines(pl.Series(["a\r\nb\rc\n", "", "\n", "x\n\n"]))
    assert lines["doc"].to_list() == [0, 0, 0, 2, 3, 3]
    assert lines["line"].to_list() == ["a", "b", "c", "", "x", ""]


def test_removed_lines_are_kept_in_order_with_their_rule() -> None:
    text = "Good line number one.\nno end\nPlease enable javascript now.\nCited here too.[2]"
    r = clean(pl.Series([text]), C4Rules(min_sentences=0), keep_removed=True)
    assert r.removed_lines is not None
    assert r.removed_lines[0].to_list() == [
        {"rule": "no_terminal_punct", "line": "no end"},
        {"rule": "javascript", "line": "Please enable javascript now."},
        {"rule": "citation", "line": "Cited here too.[2]"},
    ]


# ---------------------------------------------------------------- against a per-line reference

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def reference(text: str, rules: C4Rules) -> tuple[str | None, str]:
    """C4's rules one line at a time in plain Python: (reason or None, cleaned text)."""
    sentences, out = 0, []
    for raw in text.splitlines():
        line = raw.strip()
        words = line.split()
        if rules.max_word_length is not None and any(len(w) > rules.max_word_length for w in words):
            continue
        if rules.remove_citations:
            line = _CITATION.sub("", line)
        if rules.terminal_punct and (not line.endswith((".", "?", "!", '"', "'")) or line.endswith("...")):
            continue
        if len(words) < rules.min_words_per_line:
            continue
        low = line.lower()
        if rules.lorem_ipsum and "lorem ipsum" in low:
            return "lorem_ipsum", text
        if rules.javascript and "javascript" in low:
            continue
        if rules.curly_bracket and "{" in line:
            return "curly_bracket", text
        if rules.policy and any(p in low for p in _POLICY):
            continue
        if rules.min_sentences > 0:
            sentences += int(sentence_counts(pl.Series([line]))[0])
        out.append(line)
    cleaned = "\n".join(out).strip()
    if sentences < rules.min_sentences:
        return "too_few_sentences", text
    return ("empty", text) if cleaned == "" else (None, cleaned)


PIECES = [
    "The cat sat here.", "no end here", "A quote \"closes.\"", "Dots go on...", "Two words.",
    "Enable JavaScript please.", "We use cookies here.", "lorem ipsum dolor sit.", "The {x} set is odd.",
    "Cited fact here.[3]", "  spaced out line here!  ", "Is it so?", "x" * 12 + " long word here.", "",
    "\u00a0nbsp\u00a0split words here.", "End [edit]", "Wow! Many. Short. Sentences. Here.",
]


@settings(max_examples=150, deadline=None)
@given(
    docs=st.lists(
        st.lists(st.sampled_from(PIECES), max_size=8).flatmap(
            lambda ps: st.lists(st.sampled_from(["\n", "\r\n", "\n\n", "\r", "\u2028"]), min_size=len(ps), max_size=len(ps)).map(
                lambda seps: "".join(p + s for p, s in zip(ps, seps, strict=True))
            )
        ),
        min_size=1,
        max_size=6,
    ),
    terminal=st.booleans(),
    min_sentences=st.sampled_from([0, 1, 5]),
    max_word=st.sampled_from([None, 10, 1000]),
)
def test_batch_kernel_equals_the_per_line_reference(docs: list[str], terminal: bool, min_sentences: int, max_word: int | None) -> None:
    rules = C4Rules(terminal_punct=terminal, min_sentences=min_sentences, max_word_length=max_word)
    r = clean(pl.Series(docs, dtype=pl.String), rules)
    for i, doc in enumerate(docs):
        want_reason, want_text = reference(doc, rules)
        assert (r.reason[i], r.text[i]) == (want_reason, want_text), repr(doc)


def test_counts_are_per_document_and_add_up() -> None:
    docs = ["A fine line here.\nnope\nAnother fine line.", "", "Use cookies they said.\nJavaScript rules here."]
    r = clean(pl.Series(docs), C4Rules(min_sentences=0))
    assert r.lines.tolist() == [3, 0, 2]
    assert r.removed["no_terminal_punct"].tolist() == [1, 0, 0]
    assert r.removed["policy"].tolist() == [0, 0, 1] and r.removed["javascript"].tolist() == [0, 0, 1]
    assert r.reason.to_list() == [None, "empty", "empty"]
    assert np.all(sum(r.removed[k] for k in ("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")) <= r.lines)


@pytest.mark.parametrize("text", [None])
def test_a_null_text_is_treated_as_empty(text: str | None) -> None:
    r = clean(pl.Series([text], dtype=pl.String), C4Rules(min_sentences=0))
    assert r.reason.to_list() == ["empty"]
