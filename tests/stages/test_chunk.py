"""chunk: token-sized chunks whose offsets rebuild the text, overlap in whole sentences, every document accounted for."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from conftest import read_dir, read_rejected, write_jsonl
from curate.chunk import chunk_spans, units
from curate.stages.base import REJECT, StageContext
from curate.stages.chunk import Chunk, ChunkConfig
from curate.tokenize import load_encoding, make_counter

WORD = st.text(alphabet="abcdefghijKLMNOPé東ü0123456789-_'", min_size=1, max_size=14)
SEP = st.sampled_from([" ", " ", " ", ". ", "! ", "? ", ".\n", "\n\n", ".\n\n  ", ",  ", "\t"])


@st.composite
def documents(draw: Any) -> str:
    parts = draw(st.lists(st.tuples(WORD, SEP), min_size=0, max_size=120))
    lead = draw(st.sampled_from(["", " ", "\n\n"]))
    return lead + "".join(w + s for w, s in parts) + draw(st.sampled_from(["", ".", " "]))


def stage(**cfg: Any) -> Chunk:
    s = Chunk(ChunkConfig(**cfg))
    s.setup()
    return s


def frame(texts: list[str | None], **extra: list[Any]) -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame({"id": [f"d{i:03d}" for i in range(n)], "text": texts, "source": ["web"] * n, **extra}, schema_overrides={"text": pl.String})


def check_cover(text: str, spans: list[Any], overlap: int) -> None:
    """Every chunk is its slice of the text; starts increase; every non-space character is in a chunk;
    without overlap no character is in two."""
    covered = [0] * len(text)
    prev = -1
    for s in spans:
        assert s.start > prev
        prev = s.start
        piece = text[s.start : s.end]
        assert piece == piece.strip() and piece
        for i in range(s.start, s.end):
            covered[i] += 1
    for i, ch in enumerate(text):
        if not ch.isspace():
            assert covered[i] >= 1, (i, text)
    if overlap == 0:
        assert max(covered, default=0) <= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents(), max_tokens=st.integers(8, 40), overlap=st.integers(0, 7))
def test_whitespace_chunks_rebuild_the_text_and_respect_the_limits(text: str, max_tokens: int, overlap: int) -> None:
    spans = chunk_spans([text], make_counter("whitespace"), max_tokens, overlap)
    if not text.strip():
        assert spans == []
        return
    check_cover(text, spans, overlap)
    for a, b in zip(spans, spans[1:], strict=False):
        shared = text[b.start : a.end] if b.start < a.end else ""
        assert len(shared.split()) <= overlap
    assert all(s.n_tokens == len(text[s.start : s.end].split()) <= max_tokens for s in spans)
    assert [s.index for s in spans] == list(range(len(spans)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents(), max_tokens=st.integers(8, 60), overlap=st.integers(0, 7))
def test_bpe_chunks_count_exactly_and_stay_under_the_limit(text: str, max_tokens: int, overlap: int) -> None:
    spans = chunk_spans([text], make_counter("cl100k_base"), max_tokens, overlap)
    enc = load_encoding("cl100k_base")
    check_cover(text, spans, overlap)
    for s in spans:
        assert s.n_tokens == len(enc.encode_ordinary(text[s.start : s.end]))
        assert s.n_tokens <= max_tokens


def test_chunks_end_at_sentence_ends_when_sentences_fit() -> None:
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(30))
    spans = chunk_spans([text], make_counter("whitespace"), 20, 0)
    assert len(spans) == 15
    assert all(text[s.start : s.end].endswith("words.") and s.n_tokens == 14 for s in spans)


def test_a_paragraph_break_is_preferred_over_filling_the_chunk() -> None:
    para1 = " ".join(["Alpha beta gamma."] * 4)  # 12 words
    para2 = " ".join(["Delta epsilon zeta."] * 4)
    text = para1 + "\n\n" + para2
    spans = chunk_spans([text], make_counter("whitespace"), 20, 0)
    assert [text[s.start : s.end] for s in spans] == [para1, para2]


def test_overlap_repeats_whole_sentences() -> None:
    text = " ".join(f"S{i} a b." for i in range(12))  # 3 words a sentence
    spans = chunk_spans([text], make_counter("whitespace"), 9, 4)
    pieces = [text[s.start : s.end] for s in spans]
    assert pieces[0] == "S0 a b. S1 a b. S2 a b."
    assert pieces[1] == "S2 a b. S3 a b. S4 a b."  # one sentence (3 words <= 4) repeated
    assert all(p.endswith("b.") and p.startswith("S") for p in pieces)


def test_a_word_longer_than_a_chunk_is_cut_at_characters() -> None:
    text = "start " + "x" * 5000 + " end."
    spans = chunk_spans([text], make_counter("cl100k_base"), 16, 0)
    assert all(s.n_tokens <= 16 for s in spans)
    assert "".join(text[s.start : s.end] for s in spans).replace(" ", "") == text.replace(" ", "")


def test_units_cut_after_sentence_ends_not_after_abbreviations() -> None:
    starts, strong = units("See e.g. the docs. Then go.\n\nNew part")
    assert starts == [0, 18, 27]
    assert strong == [False, False, True]


def test_stage_rows_carry_offsets_provenance_and_inherited_columns() -> None:
    text = "First sentence is here. Second one follows it. Third closes the text."
    out = stage(max_tokens=8, overlap=0, tokenizer="whitespace").process(frame([text], licence=["CC-BY-4.0"]), StageContext())
    assert out["text"].to_list() == ["First sentence is here. Second one follows it.", "Third closes the text."]
    assert out["id"].to_list() == ["d000#0", "d000#1"]
    assert out["document_id"].to_list() == ["d000"] * 2
    assert out["chunk_index"].to_list() == [0, 1] and out["n_chunks"].to_list() == [2, 2]
    assert out["n_tokens"].to_list() == [8, 4]
    assert out["licence"].to_list() == ["CC-BY-4.0"] * 2 and out["source"].to_list() == ["web"] * 2
    for row in out.iter_rows(named=True):
        assert text[row["char_start"] : row["char_end"]] == row["text"]
    assert out.schema["n_tokens"] == pl.Int32 and out.schema["char_start"] == pl.Int64


def test_blank_and_null_texts_are_rejected_in_document_order() -> None:
    ctx = StageContext()
    out = stage(max_tokens=8, overlap=0, tokenizer="whitespace").process(frame(["one two.", None, "  \n ", "three."]), ctx)
    assert out["id"].to_list() == ["d000#0", "d001", "d002", "d003#0"]
    assert out[REJECT].to_list() == [None, "empty_text", "empty_text", None]
    assert ctx.counters["chunk_documents"] == 2 and ctx.counters["chunks"] == 2


def test_empty_batch() -> None:
    out = stage(tokenizer="whitespace").process(frame([]), StageContext())
    assert out.height == 0 and "chunk_index" in out.columns


def test_batch_invariance() -> None:
    texts: list[str | None] = [" ".join(f"Word{i} w{j}." for j in range(i * 3)) or None for i in range(9)]
    whole = stage(max_tokens=10, overlap=3).process(frame(texts), StageContext())
    df = frame(texts)
    parts = pl.concat([stage(max_tokens=10, overlap=3).process(df.slice(i, 3), StageContext()) for i in range(0, 9, 3)])
    assert whole.equals(parts)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"max_tokens": 100, "overlap": 100}, "overlap (100) must be below max_tokens (100)"),
        ({"max_tokens": 4}, "greater than or equal to 8"),
        ({"tokenizer": "file"}, "tokenizer: file needs `path`"),
    ],
)
def test_bad_configs_are_refused(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ChunkConfig(**cfg)


def test_chunk_command_accounts_for_every_document(cli: Any, tmp_path: Path) -> None:
    rows = [{"text": " ".join(f"Doc {d} sentence {i} is short." for i in range(d * 4))} for d in range(12)]
    rows.append({"text": "   "})
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    result = cli("chunk", src, "-o", tmp_path / "out", "--max-tokens", "20", "--overlap", "5", "--tokenizer", "whitespace", "-q")
    assert result.exit_code == 0, result.output
    kept, rejected = read_dir(tmp_path / "out"), read_rejected(tmp_path / "out")
    step = json.loads((tmp_path / "out" / "_manifest.json").read_text())["steps"][-1]
    c = step["counts"]
    assert c["docs_in"] + c["docs_added"] == c["docs_kept"] + c["docs_rejected"] and c["docs_in"] == 11
    # the two blank documents never reach the stage: ingest rejects them (nothing is lost either way)
    assert kept.height == c["docs_kept"] and rejected.height == 2 and set(rejected["reject_stage"]) == {"ingest"}
    assert kept["document_id"].n_unique() == 11
    assert (kept["n_tokens"] <= 20).all()


def test_chunk_command_bad_option_is_one_line(cli: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c"}])
    result = cli("chunk", src, "-o", tmp_path / "out", "--max-tokens", "50", "--overlap", "60")
    assert result.exit_code == 2
    assert "overlap (60) must be below max_tokens (50)" in result.output and "Traceback" not in result.output
