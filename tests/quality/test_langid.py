"""Language ID with the bundled py3langid model (no download) and with a fastText model."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("py3langid")

from curate.quality.langid import LanguageIdentifier  # noqa: E402


def test_bundled_detector_identifies_languages() -> None:
    texts = [
        "This is a sentence written in English about the weather and the sea.",
        "Ceci est une phrase en français sur le temps qu'il fait et la mer.",
        None,
        "   ",
        "Das ist ein deutscher Satz über das Wetter und das Meer.",
    ]
    got = LanguageIdentifier().identify(pl.Series(texts, dtype=pl.String))
    assert got["lang"].to_list() == ["en", "fr", None, None, "de"]
    scores = got["lang_score"].to_list()
    assert scores[2] is None and scores[3] is None
    assert all(0.5 < s <= 1.0 for s in (scores[0], scores[1], scores[4]))


def test_fasttext_language_model_by_path(tmp_path: Path) -> None:
    fasttext = pytest.importorskip("fasttext")
    rng = random.Random(0)
    en, fr = ["the", "house", "is", "big", "and", "the", "garden", "green"], ["la", "maison", "est", "grande", "et", "le", "jardin", "vert"]
    lines = [f"__label__en {' '.join(rng.choices(en, k=8))}" for _ in range(50)]
    lines += [f"__label__fr {' '.join(rng.choices(fr, k=8))}" for _ in range(50)]
    rng.shuffle(lines)
    (tmp_path / "lid.txt").write_text("\n".join(lines) + "\n")
    model = fasttext.train_supervised(
        input=str(tmp_path / "lid.txt"), epoch=20, lr=0.5, dim=8, bucket=1000, thread=1, verbose=0
    )
    model.save_model(str(tmp_path / "lid.bin"))
    got = LanguageIdentifier(tmp_path / "lid.bin").identify(
        pl.Series(["the garden is green", "le jardin est vert", ""]), batch_size=2
    )
    assert got["lang"].to_list() == ["en", "fr", None]
    assert got["lang_score"][0] > 0.8


def test_batched_kernel_gives_py3langid_answers() -> None:
    from py3langid.langid import MODEL_FILE
    from py3langid.langid import LanguageIdentifier as PyLangId

    ref = PyLangId.from_model_file(MODEL_FILE, norm_probs=True)
    texts = [
        "Bonjour tout le monde, comment allez-vous aujourd'hui?",
        "THIS TEXT IS ALL UPPER CASE ENGLISH WORDS",
        "Hola, ¿cómo estás? Muy bien, gracias.",
        "x",
        "Привет, как дела? Всё хорошо.",
        "これは日本語の文です。",
    ]
    got = LanguageIdentifier().identify(pl.Series(texts))
    for text, lang, score in zip(texts, got["lang"], got["lang_score"], strict=True):
        want_lang, want_score = ref.classify(text)
        assert lang == want_lang
        assert score == pytest.approx(want_score, abs=1e-4)
