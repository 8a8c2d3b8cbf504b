"""MinhashDedup: planted near duplicates, survivor rule, shard invariance, incremental index."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from curate.dedup.minhash import reference_shingles
from curate.errors import InputError
from curate.runner import run_stage_frames
from curate.stages.base import REJECT, StageContext
from curate.stages.minhash_dedup import MinhashDedup, MinhashDedupConfig


def run_stage(
    stage: MinhashDedup, shards: list[pl.DataFrame], workdir: Path, ctx: StageContext | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stage through the runner's own units (keys -> resolve -> apply), index committed as at
    the end of a run; returns (rows with ``_reject``, decisions)."""
    run_id = ctx.run_id if ctx is not None else None
    return run_stage_frames(stage, shards, workdir, run_id=run_id, counters=ctx.counters if ctx is not None else None)


def words(rng: np.random.Generator, n: int) -> list[str]:
    return [f"w{x}" for x in rng.choice(10_000_000, size=n, replace=False)]


def jaccard(a: str, b: str) -> float:
    sa, sb = set(reference_shingles(a)), set(reference_shingles(b))
    return len(sa & sb) / len(sa | sb)


def pair_at(rng: np.random.Generator, target: float, length: int = 204) -> tuple[str, str]:
    """Two texts whose word-5-gram Jaccard is the closest reachable to ``target``."""
    a = words(rng, length)
    total = length - 4
    shared = int(round(2 * total * target / (1 + target)))
    b = a[: shared + 4] + words(rng, length - shared - 4)
    return " ".join(a), " ".join(b)


def frame(texts: list[str | None], prefix: str = "d") -> pl.DataFrame:
    return pl.DataFrame(
        {"id": [f"{prefix}{i:04d}" for i in range(len(texts))], "text": texts},
        schema={"id": pl.String, "text": pl.String},
    )


def corpus(seed: int = 0, n_unique: int = 12) -> pl.DataFrame:
    """Unique texts, exact copies, reformatted copies and close edits, ids shuffled."""
    rng = np.random.default_rng(seed)
    base = [" ".join(words(rng, int(rng.integers(30, 120)))) for _ in range(n_unique)]
    base[3] = " ".join(words(rng, 150))  # one edited word leaves Jaccard 141/151 = 0.93
    texts = list(base)
    texts += [base[0], base[1], base[1]]
    texts += [base[2].upper().replace(" ", "\n  ")]
    edited = base[3].split()
    edited[len(edited) // 2] = "changed"
    texts.append(" ".join(edited))
    ids = rng.permutation(len(texts))
    return pl.DataFrame({"id": [f"doc{i:03d}" for i in ids], "text": texts}).sort("id")


def split(df: pl.DataFrame, cuts: list[int]) -> list[pl.DataFrame]:
    bounds = [0, *sorted({c % (df.height + 1) for c in cuts}), df.height]
    return [df[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def removed(rows: pl.DataFrame) -> set[str]:
    return set(rows.filter(pl.col(REJECT).is_not_null())["id"].to_list())


# ------------------------------------------------------------------ accuracy


def test_pairs_at_jaccard_09_found_and_03_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(1234)
    texts: list[str | None] = []
    for target in [0.9] * 15 + [0.3] * 15:
        a, b = pair_at(rng, target)
        assert abs(jaccard(a, b) - target) < 0.01
        texts += [a, b]
    rows, _ = run_stage(MinhashDedup(MinhashDedupConfig()), [frame(texts)], tmp_path)
    gone = removed(rows)
    high = {f"d{2 * i + 1:04d}" for i in range(15)}
    assert gone == high
    assert rows.filter(pl.col("id").is_in(list(high)))["duplicate_of"].to_list() == [
        f"d{2 * i:04d}" for i in range(15)
    ]


def test_boundary_pairs_are_decided_by_their_exact_jaccard(tmp_path: Path) -> None:
    """Pairs a hair either side of 0.8 (0.78-0.82): verification by the shingle sets keeps every
    pair below and removes every pair at or above; many bands of few rows make every such pair a
    candidate, so only verification decides."""
    rng = np.random.default_rng(77)
    texts: list[str | None] = []
    above: set[str] = set()
    for i, target in enumerate([0.78, 0.79, 0.795, 0.8, 0.805, 0.81, 0.82] * 4):
        a, b = pair_at(rng, target, length=int(rng.integers(150, 400)))
        if jaccard(a, b) >= 0.8:
            above.add(f"d{2 * i + 1:04d}")
        texts += [a, b]
    assert 0 < len(above) < len(texts) // 2
    cfg = MinhashDedupConfig(bands=32, rows=4)
    rows, _ = run_stage(MinhashDedup(cfg), [frame(texts)], tmp_path)
    assert removed(rows) == above


def test_signature_verification_is_an_estimate_near_the_threshold(tmp_path: Path) -> None:
    """The MinHash estimate (``verify_by: signature``) errs on some boundary pairs; this is what
    the default exact verification fixes."""
    rng = np.random.default_rng(78)
    texts: list[str | None] = []
    truth: set[str] = set()
    for i, target in enumerate([0.77, 0.79, 0.81, 0.83] * 10):
        a, b = pair_at(rng, target)
        if jaccard(a, b) >= 0.8:
            truth.add(f"d{2 * i + 1:04d}")
        texts += [a, b]
    cfg = MinhashDedupConfig(bands=32, rows=4, verify_by="signature")
    rows, _ = run_stage(MinhashDedup(cfg), [frame(texts)], tmp_path)
    assert removed(rows) != truth


def test_cluster_is_transitive(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    w = words(rng, 240)
    a, b, c = (" ".join(w[s : s + 200]) for s in (0, 15, 30))
    assert jaccard(a, b) > 0.85 and jaccard(b, c) > 0.85 and jaccard(a, c) < 0.8
    rows, _ = run_stage(MinhashDedup(MinhashDedupConfig()), [frame([a, b, c])], tmp_path)
    assert rows[REJECT].to_list() == [None, "near_duplicate", "near_duplicate"]
    assert rows["duplicate_of"].to_list() == [None, "d0000", "d0000"]
    assert rows["dup_cluster"].to_list() == ["d0000"] * 3
    assert rows["dup_cluster_size"].to_list() == [3, 3, 3]


@pytest.mark.parametrize("hash_mode", ["fast", "datasketch"])
@pytest.mark.parametrize("shingle", ["word", "char"])
def test_planted_duplicates_removed_and_smallest_id_kept(
    tmp_path: Path, hash_mode: str, shingle: str
) -> None:
    df = corpus()
    cfg = MinhashDedupConfig(hash=hash_mode, shingle=shingle, ngram=5 if shingle == "word" else 12)  # type: ignore[arg-type]
    rows, decisions = run_stage(MinhashDedup(cfg), [df], tmp_path)
    # 12 unique texts survive; 5 planted copies go, each pointing at the smallest id of its group
    assert rows.height == df.height and rows.filter(pl.col(REJECT).is_null()).height == 12
    for group in rows.filter(pl.col("dup_cluster").is_not_null()).group_by("dup_cluster"):
        members = sorted(group[1]["id"].to_list())
        assert group[0][0] == members[0]
        assert group[1].filter(pl.col(REJECT).is_null())["id"].to_list() == [members[0]]
    assert (rows.filter(pl.col("dup_cluster").is_null())["dup_cluster_size"] == 1).all()
    assert set(decisions.columns) == {"id", REJECT, "duplicate_of", "dup_cluster", "dup_cluster_size"}


def test_verify_off_still_removes_planted_duplicates(tmp_path: Path) -> None:
    rows, _ = run_stage(MinhashDedup(MinhashDedupConfig(verify=False)), [corpus()], tmp_path)
    assert rows.filter(pl.col(REJECT).is_null()).height == 12


def test_keep_longest_and_highest(tmp_path: Path) -> None:
    base = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    df = pl.DataFrame(
        {"id": ["a", "b", "c"], "text": [base, base + "!!!", base + " ..."], "score": [0.1, 0.9, None]}
    )
    rows, _ = run_stage(MinhashDedup(MinhashDedupConfig(keep="longest")), [df], tmp_path)
    assert rows.filter(pl.col(REJECT).is_null())["id"].to_list() == ["c"]
    rows, _ = run_stage(MinhashDedup(MinhashDedupConfig(keep="highest:score")), [df], tmp_path)
    assert rows.filter(pl.col(REJECT).is_null())["id"].to_list() == ["b"]
    assert rows["duplicate_of"].to_list() == ["b", None, "b"]


# ------------------------------------------------------------------ edge cases


def test_empty_shard_and_empty_corpus(tmp_path: Path) -> None:
    stage = MinhashDedup(MinhashDedupConfig())
    df = corpus()
    rows, _ = run_stage(stage, [df[:0], df, df[:0]], tmp_path)
    rows2, _ = run_stage(stage, [df], tmp_path)
    assert rows.equals(rows2)
    rows, decisions = run_stage(stage, [df[:0]], tmp_path)
    assert rows.height == 0 and decisions.height == 0


def test_one_document_corpus(tmp_path: Path) -> None:
    rows, decisions = run_stage(MinhashDedup(MinhashDedupConfig()), [frame(["only one"])], tmp_path)
    assert decisions.height == 0
    assert rows[REJECT].to_list() == [None] and rows["dup_cluster_size"].to_list() == [1]


def test_short_empty_and_null_texts(tmp_path: Path) -> None:
    # fewer than ngram words: the whole normalised text is one shingle, so only copies match;
    # texts without any word match only exact copies of their raw text (null counts as empty)
    texts: list[str | None] = ["Short text.", "short   TEXT", "other short", "", "", None, "...", "...", "!!"]
    rows, _ = run_stage(MinhashDedup(MinhashDedupConfig()), [frame(texts)], tmp_path)
    assert removed(rows) == {"d0001", "d0004", "d0005", "d0007"}
    assert rows.filter(pl.col("id") == "d0007")["duplicate_of"].item() == "d0006"


def test_config_validation() -> None:
    with pytest.raises(ValidationError):
        MinhashDedupConfig(bands=4)
    with pytest.raises(ValidationError):
        MinhashDedupConfig(bands=20, rows=10)
    with pytest.raises(ValidationError):
        MinhashDedupConfig(threshold=1.0)
    with pytest.raises(ValidationError):
        MinhashDedupConfig(keep="best")
    with pytest.raises(ValidationError):
        MinhashDedupConfig(shingle="token")  # type: ignore[arg-type]
    assert MinhashDedupConfig(bands=16, rows=8).band_rows() == (16, 8)
    assert MinhashDedupConfig(verify=False).band_rows() == (9, 13)  # datasketch's 0.8 / 128 choice


# ------------------------------------------------------------------ properties


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 3), st.lists(st.integers(0, 40), max_size=4), st.booleans())
def test_decisions_invariant_to_shard_layout_and_idempotent(seed: int, cuts: list[int], verify: bool) -> None:
    df = corpus(seed)
    stage = MinhashDedup(MinhashDedupConfig(verify=verify))
    with tempfile.TemporaryDirectory() as tmp:
        whole, d1 = run_stage(stage, [df], Path(tmp))
        shuffled = df.sample(fraction=1.0, shuffle=True, seed=seed)
        parts, d2 = run_stage(stage, split(shuffled, cuts), Path(tmp))
        assert whole.equals(parts) and d1.equals(d2)
        # conservation: every row comes out once, kept or rejected
        assert whole.height == df.height and set(whole["id"]) == set(df["id"])
        # exact copies always go, the smallest id of each text survives
        first = df.group_by("text").agg(pl.col("id").min())["id"].to_list()
        kept = set(whole.filter(pl.col(REJECT).is_null())["id"])
        assert set(first) >= kept and len(kept) == 12
        # idempotent: the survivors have no duplicates left
        survivors = whole.filter(pl.col(REJECT).is_null()).select("id", "text")
        again, d3 = run_stage(stage, [survivors], Path(tmp))
        assert d3.height == 0 and again[REJECT].null_count() == again.height


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 5), st.sampled_from(["jaccard", "signature"]), st.sampled_from([0.7, 0.8, 0.9]))
def test_bands_listed_again_after_the_read_give_the_same_decisions_and_counters(seed: int, verify_by: str, threshold: float) -> None:
    """A band whose pairs would be too many to hold is listed again, one band at a time, after
    the piece reads the sets it needs (``_PAIRS_HELD``): nothing it decides or counts changes."""
    from curate.stages import minhash_dedup

    df = corpus(seed)
    stage = MinhashDedup(MinhashDedupConfig(verify_by=verify_by, threshold=threshold))  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        held, streamed = StageContext(), StageContext()
        rows, decisions = run_stage(stage, split(df, [5, 11]), Path(tmp) / "held", held)
        limit = minhash_dedup._PAIRS_HELD
        minhash_dedup._PAIRS_HELD = 0
        try:
            rows2, decisions2 = run_stage(stage, split(df, [5, 11]), Path(tmp) / "streamed", streamed)
        finally:
            minhash_dedup._PAIRS_HELD = limit
    assert rows.equals(rows2) and decisions.equals(decisions2) and decisions.height > 0
    assert held.counters == streamed.counters


def test_counters(tmp_path: Path) -> None:
    ctx = StageContext()
    run_stage(MinhashDedup(MinhashDedupConfig()), [corpus()], tmp_path, ctx)
    assert ctx.counters["clusters_found"] == 4
    assert ctx.counters["candidate_pairs"] > 0


# ------------------------------------------------------------------ incremental index


def test_incremental_index(tmp_path: Path) -> None:
    index = tmp_path / "index"
    stage = MinhashDedup(MinhashDedupConfig(index=str(index)))
    df = corpus()
    rows1, _ = run_stage(stage, [df], tmp_path / "r1")
    assert rows1.filter(pl.col(REJECT).is_null()).height == 12
    manifest = json.loads((index / "_index.json").read_text())
    assert [p["rows"] for p in manifest["parts"]] == [12]

    # the same input again (a retried refresh): the same release, nothing appended
    rows2, _ = run_stage(stage, [df], tmp_path / "r2")
    assert rows2[REJECT].to_list() == rows1[REJECT].to_list()
    assert [p["rows"] for p in json.loads((index / "_index.json").read_text())["parts"]] == [12, 0]

    # new documents: a copy of an indexed text, two copies of a new text, one new text
    rng = np.random.default_rng(99)
    fresh, other = " ".join(words(rng, 50)), " ".join(words(rng, 60))
    old_id = rows1.filter(pl.col(REJECT).is_null())["id"][5]
    old_text = df.filter(pl.col("id") == old_id)["text"][0]
    new = frame([fresh, old_text, fresh.upper(), other], prefix="new")
    rows3, _ = run_stage(stage, [new], tmp_path / "r3")
    assert rows3[REJECT].to_list() == [None, "near_duplicate", "near_duplicate", None]
    assert rows3["duplicate_of"].to_list()[:3] == [None, old_id, "new0000"]
    total = sum(p["rows"] for p in json.loads((index / "_index.json").read_text())["parts"])
    assert total == 14


def test_index_changes_only_when_the_run_commits(tmp_path: Path) -> None:
    """The stage stages its additions; the index is unchanged until the runner commits, and
    committing the same run twice adds nothing."""
    from curate import side_state

    index = tmp_path / "index"
    stage = MinhashDedup(MinhashDedupConfig(index=str(index)))
    rows1, d1 = run_stage_frames(stage, [corpus()], tmp_path / "a", run_id="run-1", commit=False)
    assert not (index / "_index.json").exists()
    rows2, d2 = run_stage_frames(stage, [corpus()], tmp_path / "b", run_id="run-1", commit=False)  # a retried attempt
    assert rows1.equals(rows2) and d1.equals(d2)
    side_state.commit_all([tmp_path / "b" / "01_stage"])
    side_state.commit_all([tmp_path / "b" / "01_stage"])
    parts = json.loads((index / "_index.json").read_text())["parts"]
    assert [(p["rows"], p["run_id"]) for p in parts] == [(12, "run-1")]
    assert not list(index.glob(".*tmp*"))
    entries = pl.read_parquet(index / parts[0]["file"])
    assert entries["_release"].unique().to_list() == ["run-1"]


def test_a_document_with_the_same_id_but_new_text_is_not_taken_for_the_indexed_one(tmp_path: Path) -> None:
    index = tmp_path / "index"
    stage = MinhashDedup(MinhashDedupConfig(index=str(index)))
    first, _ = run_stage(stage, [frame(["alpha beta gamma delta epsilon zeta eta theta"], prefix="x")], tmp_path / "a")
    rng = np.random.default_rng(5)
    second, _ = run_stage(stage, [frame([" ".join(words(rng, 40))], prefix="x")], tmp_path / "b")
    assert second[REJECT].to_list() == [None]
    assert json.loads((index / "_index.json").read_text())["parts"][-1]["rows"] == 0  # id held: not appended


def test_index_settings_must_match(tmp_path: Path) -> None:
    index = tmp_path / "index"
    run_stage(MinhashDedup(MinhashDedupConfig(index=str(index))), [corpus()], tmp_path / "a")
    with pytest.raises(InputError, match="built with other settings: .*num_perm=128 .this stage: 64."):
        run_stage(MinhashDedup(MinhashDedupConfig(index=str(index), num_perm=64)), [corpus()], tmp_path / "b")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet="ab c.!\nÉ", max_size=30)), min_size=1, max_size=8),
    st.lists(st.integers(0, 7), max_size=6),
)
def test_exact_copies_of_any_text_always_go(texts: list[str | None], copies: list[int]) -> None:
    pool = texts + [texts[i % len(texts)] for i in copies]
    df = frame(pool)
    with tempfile.TemporaryDirectory() as tmp:
        rows, _ = run_stage(MinhashDedup(MinhashDedupConfig()), [df[::2], df[1::2]], Path(tmp))
    kept = rows.filter(pl.col(REJECT).is_null())
    assert kept.height + rows[REJECT].count() == df.height
    # at most one survivor per distinct text (null counts as empty), and survivors point down
    assert kept.with_columns(pl.col("text").fill_null(""))["text"].n_unique() == kept.height
    gone = rows.filter(pl.col(REJECT).is_not_null())
    assert (gone["duplicate_of"] < gone["id"]).all()


def test_signatures_round_trip_through_their_binary_column_as_low_16_bits() -> None:
    from curate.stages.minhash_dedup import _matrix, signature_column

    sig = (np.arange(5 * 8, dtype=np.uint32) * np.uint32(2654435761)).reshape(5, 8)
    low = (sig & 0xFFFF).astype(np.uint16)
    column = signature_column(sig)
    assert column.dtype == pl.Binary
    assert (_matrix(column, 8) == low).all()
    assert (_matrix(column.slice(2, 3), 8) == low[2:]).all()
    assert (_matrix(pl.concat([column.slice(0, 2), column.slice(3, 2)]), 8) == low[[0, 1, 3, 4]]).all()
    assert _matrix(column.slice(0, 0), 8).shape == (0, 8)
    with pytest.raises(ValueError, match="32 bytes"):
        _matrix(column, 16)


def test_verification_on_low_16_bits_agrees_with_full_values() -> None:
    # b-bit minwise hashing: chance agreements of 16-bit values are too rare to change a verdict
    from curate.dedup.lsh import join_candidates
    from curate.dedup.minhash import signatures
    from curate.dedup.unionfind import new_parent, roots

    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(3000)]
    base = [" ".join(rng.choice(words, 120)) for _ in range(60)]
    texts = base + [" ".join(t.split()[: 120 - k]) for k, t in zip(rng.integers(0, 40, 60), base, strict=True)]
    sig, _ = signatures(pl.Series(texts))
    pairs = np.array([(i, i + 60) for i in range(60)], dtype=np.int32)
    verdicts = []
    for values in (sig, (sig & 0xFFFF).astype(np.uint16)):
        parent = new_parent(120)
        join_candidates(pairs, parent, values, np.arange(120), 0.8)
        verdicts.append(roots(parent).tolist())
    assert verdicts[0] == verdicts[1]
    assert 0 < sum(r < i for i, r in enumerate(verdicts[0])) < 60  # some pairs pass, some do not


def test_bands_are_grouped_into_pieces_by_corpus_size() -> None:
    from curate.stages.minhash_dedup import _ROWS_PER_PIECE, _band_groups

    assert _band_groups(16, 10, 16) == [list(range(16))]
    assert _band_groups(16, _ROWS_PER_PIECE, 16) == [[b] for b in range(16)]
    halves = _band_groups(16, _ROWS_PER_PIECE // 8, 16)
    assert [b for g in halves for b in g] == list(range(16)) and len(halves) == 2
    assert _band_groups(5, 0, 16) == [list(range(5))]


def test_verifying_pieces_are_capped_so_signatures_are_read_a_few_times() -> None:
    # each verifying piece reads its candidates' signatures: at most four pieces of four bands
    from curate.stages.minhash_dedup import _MAX_VERIFY_PIECES, _ROWS_PER_PIECE, _band_groups

    groups = _band_groups(16, 10 * _ROWS_PER_PIECE, _MAX_VERIFY_PIECES)
    assert groups == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
