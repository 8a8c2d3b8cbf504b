"""MinHash signatures: datasketch equality, normalisation, short texts and estimator accuracy."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import xxhash
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.dedup.minhash import reference_shingles, signatures, xxh32_range

TEXTS = [
    "Hello, World!  This is a test of\nthe shingling   code, with punctuation.",
    "",
    None,
    "two words",
    "Ünïcödé café—naïve résumé's 3.5 foo_bar ÉTÉ İstanbul ΣΑΣ",
    "a" * 40,
    "中文文本没有空格但也是词 和 日本語のテキスト",
]


def _datasketch(shingles: list[str], num_perm: int, seed: int) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda s: xxhash.xxh32_intdigest(s.encode("utf-8")))
    for s in shingles:
        m.update(s)
    return m.hashvalues


@pytest.mark.parametrize("shingle", ["word", "char"])
@pytest.mark.parametrize(("num_perm", "ngram", "seed"), [(128, 5, 1), (64, 3, 42), (16, 1, 7)])
def test_datasketch_mode_equals_datasketch_hashvalues(shingle: str, num_perm: int, ngram: int, seed: int) -> None:
    sig, counts = signatures(pl.Series(TEXTS), num_perm, ngram, seed, shingle, "datasketch")  # type: ignore[arg-type]
    for i, text in enumerate(TEXTS):
        shingles = reference_shingles(text, ngram, shingle)  # type: ignore[arg-type]
        assert counts[i] == len(shingles)
        assert sig[i].tolist() == _datasketch(shingles, num_perm, seed).tolist(), text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab cD,é\n_1Ü-"), max_size=60), min_size=1, max_size=6))
def test_datasketch_equality_property(texts: list[str]) -> None:
    sig, _ = signatures(pl.Series(texts, dtype=pl.String), 32, 2, 3, "word", "datasketch")
    for i, text in enumerate(texts):
        assert sig[i].tolist() == _datasketch(reference_shingles(text, 2), 32, 3).tolist()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=100), st.integers(0, 2**32 - 1))
def test_xxh32_equals_reference(data: bytes, seed: int) -> None:
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
    assert int(xxh32_range(buf, 0, len(data), np.uint64(seed))) == xxhash.xxh32_intdigest(data, seed)


@pytest.mark.parametrize("mode", ["fast", "datasketch"])
def test_whitespace_case_and_punctuation_do_not_hide_a_copy(mode: str) -> None:
    a = "The quick brown fox jumps over the lazy dog, again and again."
    b = "THE quick\n\n  brown fox -- jumps over the LAZY dog again and again!!"
    sig, _ = signatures(pl.Series([a, b]), hash=mode)  # type: ignore[arg-type]
    assert (sig[0] == sig[1]).all()


def test_short_text_is_one_shingle_and_empty_has_none() -> None:
    assert reference_shingles("Just three words", 5) == ["just three words"]
    assert reference_shingles("!!! ...", 5) == []
    sig, counts = signatures(pl.Series(["Just three words", "!!! ...", None]))
    assert counts.tolist() == [1, 0, 0]
    assert (sig[1] == 0xFFFFFFFF).all() and (sig[2] == 0xFFFFFFFF).all()
    assert not (sig[0] == 0xFFFFFFFF).all()


def test_sliced_and_chunked_inputs_match() -> None:
    s = pl.Series(TEXTS * 3)
    whole, _ = signatures(s)
    part, _ = signatures(s[5:12])
    chunked, _ = signatures(pl.concat([s[:4], s[4:]], rechunk=False))
    assert (whole[5:12] == part).all() and (whole == chunked).all()


def _words(rng: np.random.Generator, n: int) -> list[str]:
    return [f"w{x}" for x in rng.choice(1_000_000, size=n, replace=False)]


@pytest.mark.parametrize("mode", ["fast", "datasketch"])
def test_estimated_jaccard_is_unbiased(mode: str) -> None:
    rng = np.random.default_rng(0)
    texts, truth = [], []
    for _ in range(60):
        words = _words(rng, 400)
        k = int(rng.integers(50, 390))
        other = words[:k] + _words(rng, 400 - k)
        sa, sb = set(reference_shingles(" ".join(words))), set(reference_shingles(" ".join(other)))
        truth.append(len(sa & sb) / len(sa | sb))
        texts += [" ".join(words), " ".join(other)]
    sig, _ = signatures(pl.Series(texts), 256, hash=mode)  # type: ignore[arg-type]
    est = (sig[0::2] == sig[1::2]).mean(axis=1)
    err = est - np.array(truth)
    assert abs(err.mean()) < 0.01
    assert np.abs(err).max() < 0.12


def test_char_tables_follow_python_re_and_lower() -> None:
    import re

    from curate.dedup.minhash import char_tables

    flags, lower = char_tables()
    for cp in list(range(0, 0x3000, 7)) + [0x130, 0x1E9E, 0x2028, 0x20000, 0x1F600, 0x10FFFF]:
        ch = chr(cp)
        assert bool(flags[cp] & 1) == bool(re.fullmatch(r"\w", ch)), hex(cp)
        assert bool(flags[cp] & 2) == bool(re.fullmatch(r"\s", ch)), hex(cp)
        assert chr(lower[cp]) == (ch.lower()[0] if ch.lower() else ch), hex(cp)


_MIXED = st.lists(
    st.sampled_from(list("abcXYZ019_ .,;-\n\t'\"!") + list("éÉßøΩω中文😀—") + ["  ", "aaaaaaaaaaaaaaaaaa"]),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_MIXED, min_size=1, max_size=6))
def test_fast_mode_tokens_are_the_reference_tokens(texts: list[str]) -> None:
    # the fast tokeniser (16-byte ASCII blocks, a character at a time elsewhere) must split and
    # lowercase exactly as the documented reference: a text and its reference tokens joined by
    # single spaces have the same signature, whatever the block boundaries cut through
    def joined(text: str) -> str:
        return " ".join(reference_shingles(text, ngram=1))

    for ngram in (1, 5):
        got = signatures(pl.Series(texts), num_perm=32, ngram=ngram)
        want = signatures(pl.Series([joined(t) for t in texts]), num_perm=32, ngram=ngram)
        assert np.array_equal(got[0], want[0])
        assert np.array_equal(got[1], want[1])


def test_fast_mode_tells_tokens_apart_by_every_byte_and_length() -> None:
    # tokens longer than one 8-byte load, differing only in their last byte or their length
    base = "abcdefghijklmnopq"
    variants = [base, base[:-1] + "r", base[:-1], base + "a", base[:8], base[:9]]
    sig, _ = signatures(pl.Series(variants), num_perm=64, ngram=1)
    assert len({row.tobytes() for row in sig}) == len(variants)
