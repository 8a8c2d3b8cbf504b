"""fastText (fasttext-community) trains and predicts correctly here; the scorer and the trainer."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

fasttext = pytest.importorskip("fasttext")

from curate.errors import ConfigError  # noqa: E402
from curate.quality.fasttext_model import (  # noqa: E402
    FastTextScorerModel,
    prepare_texts,
    roc_auc,
    train_classifier,
)

GOOD = "research committee reviewed annual report approved budget science history music library"
BAD = "buy cheap pills click here free casino win money prize bonus offer now"


def make_docs(vocab: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = vocab.split()
    return [" ".join(rng.choice(words) for _ in range(12)) for _ in range(n)]


@pytest.mark.parametrize("thread", [1, 2])
def test_fasttext_trains_and_predicts_at_thread(tmp_path: Path, thread: int) -> None:
    data = tmp_path / "train.txt"
    lines = [f"__label__hq {t}" for t in make_docs(GOOD, 60, 1)]
    lines += [f"__label__cc {t}" for t in make_docs(BAD, 60, 2)]
    random.Random(3).shuffle(lines)
    data.write_text("\n".join(lines) + "\n")
    model = fasttext.train_supervised(
        input=str(data), epoch=20, lr=0.5, dim=16, thread=thread, bucket=10_000, wordNgrams=2,
        verbose=0,
    )
    labels, probs = model.predict(["research budget science report", "free casino pills now"], k=1)
    assert [lab[0] for lab in labels] == ["__label__hq", "__label__cc"]
    assert all(np.isfinite(p[0]) and p[0] > 0.8 for p in probs)


def test_train_classifier_reports_validation_metrics_and_scores(tmp_path: Path) -> None:
    out = tmp_path / "models" / "hq.bin"
    report = train_classifier(
        make_docs(GOOD, 120, 4), make_docs(BAD, 120, 5), out,
        epoch=15, lr=0.5, dim=16, bucket=10_000, thread=2, valid_fraction=0.2,
    )
    assert out.is_file()
    assert report.n_train + report.n_valid == 240 and report.n_valid > 10
    assert report.precision == 1.0 and report.recall == 1.0 and report.roc_auc == 1.0
    scorer = FastTextScorerModel(out, "__label__hq")
    scores = scorer.score(pl.Series(["approved research\nbudget", "cheap casino bonus", None]), 2)
    assert scores[0] > 0.9 and scores[1] < 0.1 and scores[2] is None


def test_train_classifier_reads_files(tmp_path: Path) -> None:
    pos, neg = tmp_path / "pos.parquet", tmp_path / "neg.txt"
    pl.DataFrame({"text": make_docs(GOOD, 40, 6)}).write_parquet(pos)
    neg.write_text("\n".join(make_docs(BAD, 40, 7)))
    report = train_classifier([pos], str(neg), tmp_path / "m.bin", epoch=10, dim=8, bucket=1000)
    assert report.n_train + report.n_valid == 80


def test_scorer_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        FastTextScorerModel(tmp_path / "missing.bin")
    out = tmp_path / "m.bin"
    train_classifier(make_docs(GOOD, 20, 1), make_docs(BAD, 20, 2), out, epoch=2, dim=4, bucket=100)
    with pytest.raises(ConfigError, match="no label '__label__x'"):
        FastTextScorerModel(out, "__label__x")


def test_prepare_texts_and_roc_auc() -> None:
    assert prepare_texts(pl.Series(["a\nb  c ", None, "x\r\ny"])) == ["a b  c ", "", "x\r y"]
    assert roc_auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.1, 0.2])) == 1.0
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == 0.5
    assert np.isnan(roc_auc(np.array([1, 1]), np.array([0.1, 0.2])))
