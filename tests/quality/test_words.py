"""The compiled tokenizer splits words the way spaCy's English tokenizer (datatrove's) does."""

from __future__ import annotations

import polars as pl
import pytest

from curate.quality.words import Tokens, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        # expected lists are what spaCy 3 (blank English) returns, whitespace tokens removed
        (
            "Use --help or -v, see e.g. foo.txt and well-known 3.14 stuff.",
            ["Use", "--help", "or", "-v", ",", "see", "e.g.", "foo.txt", "and", "well", "-",
             "known", "3.14", "stuff", "."],
        ),
        (
            "I can't (see http://x.org/a?b=1). a/b 5% $5 100km #include <foo@bar.org> x_y 2-3",
            ["I", "ca", "n't", "(", "see", "http://x.org/a?b=1", ")", ".", "a", "/", "b", "5", "%",
             "$", "5", "100", "km", "#", "include", "<", "foo@bar.org", ">", "x_y", "2", "-", "3"],
        ),
        ("The end... And foo):", ["The", "end", "...", "And", "foo", "):"]),
        (
            "package (1.2-3) unstable; urgency=medium",
            ["package", "(", "1.2", "-", "3", ")", "unstable", ";", "urgency", "=", "medium"],
        ),
        ("We cannot go", ["We", "can", "not", "go"]),
        ("", []),
        ("  \n\t ", []),
        ("Größe über Straße.", ["Größe", "über", "Straße", "."]),
    ],
)
def test_tokens_follow_spacy_english_rules(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_tokens_are_grouped_per_document_with_features() -> None:
    t = Tokens(pl.Series(["a b", None, "", "x, y!"]))
    assert t.counts.tolist() == [2, 0, 0, 4]
    assert t.offsets.tolist() == [0, 2, 2, 2, 6]
    assert t.strings() == ["a", "b", "x", ",", "y", "!"]
    assert t.words.tolist() == [2, 0, 0, 2]
    assert t.alphas.tolist() == [2, 0, 0, 2]
    assert t.word_chars.tolist() == [2, 0, 0, 2]
    assert t.nchars.tolist() == [1, 1, 1, 1, 1, 1]
    assert t.hash[0] != t.hash[1] and t.hash[2] != t.hash[4]


def test_stop_words_are_distinct_and_case_sensitive() -> None:
    t = Tokens(pl.Series(["the the of The OF with", "nothing here", "and/or to be"]))
    assert t.stop_words.tolist() == [3, 0, 2]


def test_tokenizer_grows_its_buffers_on_long_batches() -> None:
    texts = ["w " * 5000, "x" * 20000, "a.b, " * 3000]
    t = Tokens(pl.Series(texts))
    assert t.counts.tolist() == [5000, 1, 6000]
