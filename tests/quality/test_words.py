"""The compiled tokenizer splits words the way spaCy's English tokenizer (datatrove's) does, and
exactly as the numba kernels it replaced (kept as plain Python in reference_quality_kernels.py)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_quality_kernels import _features, _sentences, _tokenize

from curate.hashing import _string_buffers
from curate.quality import _native
from curate.quality.words import (
    _SPECIAL_HASHES,
    _SPLIT_TABLE,
    _STOP_TABLE,
    _UNIT_HASHES,
    Tokens,
    char_table,
    sentence_counts,
    tokenize,
)


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


# ---------------------------------------------------------------- the C kernels against the numba code they replaced


# pieces that exercise every rule: affixes, infixes, specials, emoticons, URLs, units, contractions
_PIECES = (
    "e.g. Inc. U.S. a.m. Ph.D. ): :-) ^_^ and/or http://x.org/a?b=1 foo@bar.org www.ex.com:8080/p ex.org:12345/x "
    "10km 64K 5% $5 5$ +1 1+ 3.14 2-3 1--2 well-known a--b x—y ... end... … don't can't we're "
    "I'm they'd cannot gonna Dont Ca$h 'quoted' “curly” ‘s’ dog's (x) [y] {z} <a> a/b a:b a=b "
    "A.B a.B 'A' x,y 3^2 5*5 -v --help #tag ¿qué? ¡sí! 東京。 🙂 ☺x ½ ² §1 —x x– (-: x:-) "
    "the be to of and that have with The THAT "
).split()
_CHARS = "aAzZé9 0.,;:!?'\"-–—~/\\=<>@#$%^&*()[]{}_+`|…’‘“”€£²§%ßÄ東🙂☺\n\t\r\x0b\u2028\u3002"
TEXT = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(_PIECES), st.text(alphabet=_CHARS, max_size=8), st.text(max_size=4)),
        st.sampled_from([" ", " ", "", "\n", "  "]),
    ),
    max_size=14,
).map(lambda parts: "".join(p + sep for p, sep in parts))


def reference_tokens(texts: list[str]) -> dict[str, np.ndarray]:
    offsets, data = _string_buffers(pl.Series(texts, dtype=pl.String))
    n = offsets.shape[0] - 1
    longest = int(np.diff(offsets).max()) if n else 0
    size = int(offsets[-1] - offsets[0]) + 2
    ts, te = np.empty(size, np.int64), np.empty(size, np.int64)
    counts = np.zeros(n, np.int64)
    scratch = np.empty((6, longest + 2), np.int64)
    assert _tokenize(data, offsets, char_table(), _SPECIAL_HASHES, _UNIT_HASHES, _SPLIT_TABLE, 0, 0, ts, te, counts, scratch) == n
    tok_off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    ts, te = ts[: tok_off[-1]], te[: tok_off[-1]]
    nchars, hashes, words, word_chars, alphas, stops = _features(data, ts, te, tok_off, char_table(), _STOP_TABLE)
    return {
        "start": ts, "end": te, "counts": counts, "nchars": nchars, "hash": hashes, "words": words,
        "word_chars": word_chars, "alphas": alphas, "stops": stops,
        "sentences": _sentences(data, ts, te, tok_off, char_table()),
    }


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=4))
def test_compiled_tokenizer_equals_the_numba_kernels_it_replaced(texts: list[str]) -> None:
    want = reference_tokens(texts)
    t = Tokens(pl.Series(texts, dtype=pl.String))
    stops = sum(((want["stops"] >> i) & 1) for i in range(8))
    got = {"start": t.start, "end": t.end, "counts": t.counts, "nchars": t.nchars, "hash": t.hash,
           "words": t.words, "word_chars": t.word_chars, "alphas": t.alphas}
    for key, value in got.items():
        assert value.tolist() == want[key].tolist(), key
    assert t.stop_words.tolist() == stops.tolist()
    assert sentence_counts(pl.Series(texts, dtype=pl.String)).tolist() == want["sentences"].tolist()


def test_kernels_refuse_bad_buffers_instead_of_reading_past_them() -> None:
    offsets, data = _string_buffers(pl.Series(["a b", "c"]))
    ts, te, counts = np.empty(8, np.int64), np.empty(8, np.int64), np.zeros(2, np.int64)
    tables = (char_table(), _SPECIAL_HASHES, _UNIT_HASHES, _SPLIT_TABLE)
    assert _native.tokenize(data, offsets, *tables, 0, 0, ts, te, counts) == 2
    assert counts.tolist() == [2, 1]
    with pytest.raises(TypeError, match="offsets"):
        _native.tokenize(data, offsets.astype(np.int32), *tables, 0, 0, ts, te, counts)
    with pytest.raises(IndexError, match="offsets"):
        _native.tokenize(data[:2], offsets, *tables, 0, 0, ts, te, counts)
    with pytest.raises(ValueError, match="decrease"):
        _native.tokenize(data, offsets[::-1].copy(), *tables, 0, 0, ts, te, counts)
    with pytest.raises(ValueError, match="counts"):
        _native.tokenize(data, offsets, *tables, 0, 0, ts, te, counts[:1])
    with pytest.raises(ValueError, match="specials"):
        _native.tokenize(data, offsets, char_table(), np.ascontiguousarray(_SPECIAL_HASHES[:, :3]), _UNIT_HASHES, _SPLIT_TABLE, 0, 0, ts, te, counts)
    ro = ts.copy()
    ro.setflags(write=False)
    with pytest.raises((BufferError, ValueError)):
        _native.tokenize(data, offsets, *tables, 0, 0, ro, te, counts)
    out = np.empty(2, np.int64)
    with pytest.raises(IndexError, match="token"):
        _native.sentences(data, np.array([0, 2]), np.array([9, 3]), np.array([0, 1, 2]), char_table(), out)
