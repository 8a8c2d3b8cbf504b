"""ExactDedup: which texts count as copies under each normalisation, and who survives."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.runner import run_stage_frames
from curate.stages.base import REJECT, StageContext
from curate.stages.exact_dedup import ExactDedup, ExactDedupConfig


def removed(cfg: ExactDedupConfig, shards: list[pl.DataFrame], workdir: Path) -> dict[str, str]:
    """The stage through the runner's own units (keys per shard, one resolve); removed id -> duplicate_of."""
    _, decisions = run_stage_frames(ExactDedup(cfg), shards, workdir)
    assert (decisions[REJECT] == "exact_duplicate").all()
    return dict(zip(decisions["id"], decisions["duplicate_of"], strict=True))


def pair(a: str, b: str) -> list[pl.DataFrame]:
    return [pl.DataFrame({"id": ["a", "b"], "text": [a, b]})]


@pytest.mark.parametrize(
    ("option", "a", "b"),
    [
        ("lowercase", "The Cat sat.", "the cat SAT."),
        ("strip_punctuation", "Hello, world! (c) 2024 $5", "Hello world c 2024 5"),
        ("normalize_digits", "version 1.2.3 released 2024", "version 4.5.6 released 1999"),
        ("collapse_whitespace", "one  two\n\nthree ", " one two three"),
    ],
)
def test_each_normalisation_makes_copies_only_when_on(option: str, a: str, b: str, tmp_path: Path) -> None:
    off = ExactDedupConfig(**{"collapse_whitespace": False, option: False})
    on = ExactDedupConfig(**{"collapse_whitespace": False, option: True})
    (tmp_path / "off").mkdir()
    (tmp_path / "on").mkdir()
    assert removed(off, pair(a, b), tmp_path / "off") == {}
    assert removed(on, pair(a, b), tmp_path / "on") == {"b": "a"}


def test_default_compares_raw_text_up_to_whitespace(tmp_path: Path) -> None:
    texts = ["Same text.", "Same   text.", "same text.", "Same text!"]
    shards = [pl.DataFrame({"id": ["d1", "d2", "d3", "d4"], "text": texts})]
    assert removed(ExactDedupConfig(), shards, tmp_path) == {"d2": "d1"}


def test_copies_across_shards_keep_the_smallest_id(tmp_path: Path) -> None:
    shards = [
        pl.DataFrame({"id": ["z9", "m5"], "text": ["copy", "unique one"]}),
        pl.DataFrame({"id": ["a1", "q7"], "text": ["copy", "copy"]}),
    ]
    assert removed(ExactDedupConfig(), shards, tmp_path) == {"z9": "a1", "q7": "a1"}


def test_keep_longest_prefers_the_longest_raw_text(tmp_path: Path) -> None:
    # equal after normalisation, different raw lengths: the longest raw text survives
    shards = [pl.DataFrame({"id": ["a", "b", "c"], "text": ["Some TEXT", "some   text  ", "SOME text "]})]
    cfg = ExactDedupConfig(lowercase=True, keep="longest")
    assert removed(cfg, shards, tmp_path) == {"a": "b", "c": "b"}


def test_null_empty_and_blank_texts_are_one_group(tmp_path: Path) -> None:
    # null hashes like "", and whitespace collapses to "": one survivor, text documents untouched
    shards = [pl.DataFrame({"id": ["a", "b", "c", "d"], "text": ["", None, "   ", "x"]})]
    assert removed(ExactDedupConfig(), shards, tmp_path) == {"b": "a", "c": "a"}


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.sampled_from([0.0, -1.0, -2.5])), max_size=60
    )
)
def test_resolve_keeps_the_smallest_rank_then_id_of_each_hash_group(rows: list[tuple[int, int, float]]) -> None:
    """The decisions, written plainly: in each group of equal (h1, h2) the row of smallest
    (rank, id) survives and every other row names it; a row alone is not decided."""
    ids = [f"d{i:03d}" for i in range(len(rows))]
    keys = pl.DataFrame(
        {"id": ids, "_h1": [h1 for h1, _, _ in rows], "_h2": [h2 for _, h2, _ in rows], "_rank": [r for _, _, r in rows]},
        schema={"id": pl.String, "_h1": pl.UInt64, "_h2": pl.UInt64, "_rank": pl.Float64},
    )
    groups: dict[tuple[int, int], list[tuple[float, str]]] = {}
    for i, (h1, h2, rank) in zip(ids, rows, strict=True):
        groups.setdefault((h1, h2), []).append((rank, i))
    want = sorted((i, min(members)[1]) for members in groups.values() for _, i in members if i != min(members)[1])
    ctx = StageContext(0, 1, "exact_dedup")
    got = ExactDedup(ExactDedupConfig()).resolve(keys.lazy(), ctx)
    assert list(zip(got["id"].to_list(), got["duplicate_of"].to_list(), strict=True)) == want
    assert set(got[REJECT].to_list()) <= {"exact_duplicate"}
    assert ctx.counters["groups_with_duplicates"] == len({s for _, s in want})
