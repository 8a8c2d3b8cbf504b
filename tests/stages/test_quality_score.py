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

from conftest import fresh_python
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
    assert stage.requires_packages == (("fasttext", "quality"),)  # language ID: the shipped fastText model
    shipped = pickle.loads(pickle.dumps(stage))  # models are loaded on the worker, never pickled
    shipped.setup()
    out = shipped.process(DOCS, StageContext())
    assert {"fasttext_hq", "lang", "lang_score"} <= set(out.columns)
    assert out["fasttext_hq"][0] > 0.5 and out["fasttext_hq"][3] is None
    assert out["lang"][0] == "en" and out["lang"][3] is None
    assert stage.added_columns() == set(signal_columns(["c4"])) | {"fasttext_hq", "lang", "lang_score"}


def test_default_langid_is_the_shipped_fasttext_model_loaded_once() -> None:
    from curate.quality.models import LID_176_FTZ

    cfg = QualityScoreConfig(heuristics=[], langid=True)
    assert cfg.langid_backend == "fasttext" and cfg.langid_model is None
    stage = QualityScore(cfg)
    assert stage.requires_packages == (("fasttext", "quality"),)
    # the shipped file is read like any model: the planner checks it and hashes it into the fingerprint
    assert cfg.input_paths() == [("langid_model", str(LID_176_FTZ))]
    assert stage.model_paths() == [str(LID_176_FTZ)]
    worker = pickle.loads(pickle.dumps(stage))
    worker.setup()
    model = worker._langid
    assert model.backend == "fasttext" and Path(model.model_path) == LID_176_FTZ
    out = worker.process(DOCS, StageContext())
    out = worker.process(out, StageContext())
    assert worker._langid is model  # set up once per worker, not per batch
    assert out.columns == [*DOCS.columns, "lang", "lang_score"]
    langs = out["lang"].to_list()
    assert (langs[0], langs[2], langs[3], langs[4]) == ("en", None, None, "de")  # "" and null: null
    assert 0.5 < out["lang_score"][0] <= 1.0 and out["lang_score"][2] is None


def test_py3langid_backend_on_request() -> None:
    pytest.importorskip("py3langid")
    cfg = QualityScoreConfig(heuristics=[], langid=True, langid_backend="py3langid")
    stage = QualityScore(cfg)
    assert stage.requires_packages == (("py3langid", "quality"),)
    assert cfg.input_paths() == [] and stage.model_paths() == []
    out = stage.process(DOCS, StageContext())
    assert stage._langid.backend == "py3langid"
    assert out["lang"][0] == "en" and out["lang"][3] is None
    with pytest.raises(ValidationError, match="needs langid_backend: fasttext"):
        QualityScoreConfig(langid_backend="py3langid", langid=True, langid_model="m/lid.176.bin")
    with pytest.raises(ValidationError, match="needs langid: true"):
        QualityScoreConfig(langid_backend="py3langid")
    with pytest.raises(ValidationError):
        QualityScoreConfig(langid=True, langid_backend="cld3")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["fasttext", "py3langid"])
@settings(max_examples=20, deadline=None)
@given(st.lists(TEXT, min_size=0, max_size=12), st.integers(0, 12), st.integers(1, 5))
def test_batch_invariance_with_langid(backend: str, texts: list[str | None], cut: int, batch_size: int) -> None:
    frame = pl.DataFrame(
        {"id": [str(i) for i in range(len(texts))], "text": texts}, schema={"id": pl.String, "text": pl.String}
    )
    stage = _langid_stage(backend, batch_size)
    cut = min(cut, frame.height)
    whole = stage.process(frame, StageContext())
    parts = pl.concat(
        [stage.process(frame.head(cut), StageContext()), stage.process(frame.tail(frame.height - cut), StageContext())]
    )
    assert_frame_equal(whole, parts)


_STAGES: dict[tuple[str, int], QualityScore] = {}


def _langid_stage(backend: str, batch_size: int) -> QualityScore:
    key = (backend, batch_size)
    if key not in _STAGES:
        cfg = QualityScoreConfig(heuristics=["c4"], langid=True, langid_backend=backend, batch_size=batch_size)  # type: ignore[arg-type]
        _STAGES[key] = QualityScore(cfg)
    return _STAGES[key]


def test_model_paths_for_plan_time_checks() -> None:
    cfg = QualityScoreConfig(fasttext=[{"name": "hq", "path": "m/hq.bin"}], langid_model="m/lid.176.ftz")
    stage = QualityScore(cfg)
    assert stage.model_paths() == ["m/hq.bin", "m/lid.176.ftz"]
    assert stage.cfg.use_langid() and "lang" in stage.added_columns()


def test_default_scoring_with_language_id_never_loads_numba() -> None:
    """Heuristics and the default (fastText) language ID are compiled C or a model file: a
    worker that scores never pays numba's import (~0.3 s, ~55 MiB); only the py3langid backend does."""
    code = (
        "import sys, polars as pl\n"
        "from curate.stages.base import StageContext\n"
        "from curate.stages.quality_score import QualityScore, QualityScoreConfig\n"
        "stage = QualityScore(QualityScoreConfig(heuristics=['gopher', 'c4', 'fineweb'], langid=True))\n"
        "stage.setup()\n"
        "out = stage.process(pl.DataFrame({'id': ['a'], 'text': ['The cat sat on the mat. It was happy.']}), StageContext(0, 0, 'quality_score'))\n"
        "assert out['lang'][0] == 'en', out\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')))\n"
    )
    assert fresh_python(code, timeout=120) == "[]"
