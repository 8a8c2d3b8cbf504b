"""quality_score: adds the configured signal columns, batch-invariantly, and never rejects."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from curate.quality.heuristics import signal_columns
from curate.stages.base import REJECT, StageContext
from curate.stages.quality_score import QualityScore, QualityScoreConfig

DOCS = pl.DataFrame(
    {
        "id": ["a", "b", "c", "d", "e"],
        "text": [
            "The quick brown fox jumps over the lazy dog. It was the best of times.",
            "- item\n- item\n- item",
            "",
            None,
            "Größe über Straße { x } ... lorem ipsum.",
        ],
        "source": ["web"] * 5,
    },
    schema_overrides={"text": pl.String},
)


def test_adds_heuristic_columns_and_keeps_input() -> None:
    stage = QualityScore(QualityScoreConfig())
    out = stage.process(DOCS, StageContext())
    cols = signal_columns(["gopher", "c4", "fineweb"])
    assert out.columns == [*DOCS.columns, *cols]
    assert stage.added_columns() == set(cols)
    assert_frame_equal(out.select(DOCS.columns), DOCS)
    assert REJECT not in out.columns
    assert out.row(3, named=True)["gopher_word_count"] is None  # null text -> null signals
    assert out["gopher_word_count"][0] == 15


def test_config_selects_families_and_validates() -> None:
    stage = QualityScore(QualityScoreConfig(heuristics=["fineweb"]))
    assert stage.output_columns() == signal_columns(["fineweb"])
    assert stage.requires_packages == ()
    with pytest.raises(ValidationError):
        QualityScoreConfig(heuristics=["nope"])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        QualityScoreConfig(heuristics=[])
    with pytest.raises(ValidationError):
        QualityScoreConfig(fasttext=[{"name": "hq", "path": "a"}, {"name": "hq", "path": "b"}])
    with pytest.raises(ValidationError):
        QualityScoreConfig(heuristics=["c4"], typo=1)  # type: ignore[call-arg]


def test_rescoring_replaces_existing_signal_columns() -> None:
    stage = QualityScore(QualityScoreConfig(heuristics=["fineweb"]))
    once = stage.process(DOCS, StageContext())
    twice = stage.process(once, StageContext())
    assert_frame_equal(once, twice)


def test_empty_batch() -> None:
    out = QualityScore(QualityScoreConfig()).process(DOCS.head(0), StageContext())
    assert out.height == 0 and "gopher_word_count" in out.columns


TEXT = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(list("ab .,\n-#…{é")), max_size=60),
    st.sampled_from(["The cat sat on the mat.", "a a a a a a a a a a a a", "x\n\nx\n\nx"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(TEXT, min_size=0, max_size=12), st.integers(0, 12))
def test_batch_invariance(texts: list[str | None], cut: int) -> None:
    frame = pl.DataFrame(
        {"id": [str(i) for i in range(len(texts))], "text": texts}, schema={"id": pl.String, "text": pl.String}
    )
    stage = QualityScore(QualityScoreConfig())
    cut = min(cut, frame.height)
    whole = stage.process(frame, StageContext())
    parts = pl.concat(
        [stage.process(frame.head(cut), StageContext()), stage.process(frame.tail(frame.height - cut), StageContext())]
    )
    assert_frame_equal(whole, parts)


def test_fasttext_scorer_and_langid_columns(tmp_path: Path) -> None:
    pytest.importorskip("fasttext")
    pytest.importorskip("py3langid")
    from curate.quality.fasttext_model import train_classifier

    rng = random.Random(0)
    good = [" ".join(rng.choices(["quick", "brown", "fox", "jumps", "lazy", "dog", "times"], k=10)) for _ in range(60)]
    bad = [" ".join(rng.choices(["buy", "cheap", "pills", "casino", "bonus", "click"], k=10)) for _ in range(60)]
    model = tmp_path / "hq.bin"
    train_classifier(good, bad, model, epoch=10, lr=0.5, dim=8, bucket=1000)
    cfg = QualityScoreConfig(
        heuristics=["c4"], fasttext=[{"name": "hq", "path": str(model), "label": "__label__hq"}], langid=True
    )
    stage = QualityScore(cfg)
    assert stage.requires_packages == (("fasttext", "quality"), ("py3langid", "quality"))
    shipped = pickle.loads(pickle.dumps(stage))  # models are loaded on the worker, never pickled
    shipped.setup()
    out = shipped.process(DOCS, StageContext())
    assert {"fasttext_hq", "lang", "lang_score"} <= set(out.columns)
    assert out["fasttext_hq"][0] > 0.5 and out["fasttext_hq"][3] is None
    assert out["lang"][0] == "en" and out["lang"][3] is None
    assert stage.added_columns() == set(signal_columns(["c4"])) | {"fasttext_hq", "lang", "lang_score"}


def test_model_paths_for_plan_time_checks() -> None:
    cfg = QualityScoreConfig(fasttext=[{"name": "hq", "path": "m/hq.bin"}], langid_model="m/lid.176.ftz")
    stage = QualityScore(cfg)
    assert stage.model_paths() == ["m/hq.bin", "m/lid.176.ftz"]
    assert stage.cfg.use_langid() and "lang" in stage.added_columns()
