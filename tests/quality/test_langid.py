"""Language ID: fastText's lid.176.ftz shipped with curate (the default, no download), a fastText
model by path, and py3langid's bundled model run by the compiled kernel."""

from __future__ import annotations

import hashlib
import random
import socket
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from curate.quality.langid import LanguageIdentifier
from curate.quality.models import LID_176_FTZ

# fastText's lid.176.ftz as published at
# https://dl.fbaipublicfiles.com/fasttext/supervised-models/lid.176.ftz (CC BY-SA 3.0)
LID_176_FTZ_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"

# One sentence per language, the same content in each; both backends must name every one.
SAMPLE = {
    "en": "The weather was cold this morning, so we stayed at home and read books by the fire.",
    "de": "Das Wetter war heute Morgen kalt, deshalb sind wir zu Hause geblieben und haben Bücher gelesen.",
    "fr": "Il faisait froid ce matin, alors nous sommes restés à la maison pour lire des livres.",
    "es": "Esta mañana hacía frío, así que nos quedamos en casa leyendo libros junto al fuego.",
    "it": "Stamattina faceva freddo, quindi siamo rimasti a casa a leggere libri vicino al fuoco.",
    "pt": "Esta manhã estava frio, então ficamos em casa lendo livros perto da lareira.",
    "nl": "Het was vanochtend koud, dus we bleven thuis en lazen boeken bij het vuur.",
    "pl": "Dziś rano było zimno, więc zostaliśmy w domu i czytaliśmy książki przy kominku.",
    "tr": "Bu sabah hava soğuktu, bu yüzden evde kalıp şöminenin yanında kitap okuduk.",
    "ru": "Сегодня утром было холодно, поэтому мы остались дома и читали книги у камина.",
    "el": "Σήμερα το πρωί έκανε κρύο, οπότε μείναμε στο σπίτι και διαβάσαμε βιβλία δίπλα στο τζάκι.",
    "zh": "今天早上天气很冷，所以我们待在家里，在火炉旁看书。",
    "ja": "今朝はとても寒かったので、私たちは家にいて暖炉のそばで本を読みました。",
    "ko": "오늘 아침은 날씨가 추워서 우리는 집에 머물며 난로 옆에서 책을 읽었습니다.",
    "ar": "كان الطقس باردا هذا الصباح، لذلك بقينا في المنزل وقرأنا الكتب بجانب المدفأة.",
    "hi": "आज सुबह ठंड थी, इसलिए हम घर पर रहे और आग के पास किताबें पढ़ीं।",
}
BACKENDS = ["fasttext", "py3langid"]


def test_shipped_model_is_fasttext_lid176_pinned() -> None:
    assert LID_176_FTZ.is_file() and LID_176_FTZ.stat().st_size == 938_013
    assert hashlib.sha256(LID_176_FTZ.read_bytes()).hexdigest() == LID_176_FTZ_SHA256
    notice = (LID_176_FTZ.parent / "NOTICE.md").read_text(encoding="utf-8")
    assert "CC BY-SA 3.0" in notice
    assert "https://fasttext.cc/docs/en/language-identification.html" in notice
    fasttext = pytest.importorskip("fasttext")
    labels = fasttext.load_model(str(LID_176_FTZ)).get_labels()
    assert len(labels) == 176 and all(lab.startswith("__label__") for lab in labels)


def test_default_is_the_shipped_fasttext_model_with_the_network_off(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("language ID tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    lid = LanguageIdentifier()
    assert lid.backend == "fasttext" and Path(lid.model_path) == LID_176_FTZ
    got = lid.identify(pl.Series([SAMPLE["de"], None, "   ", SAMPLE["en"]], dtype=pl.String))
    assert got["lang"].to_list() == ["de", None, None, "en"]  # "__label__" stripped
    scores = got["lang_score"].to_list()
    assert scores[1] is None and scores[2] is None
    assert 0.9 < scores[0] <= 1.0 and 0.9 < scores[3] <= 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_both_backends_name_every_language_of_the_sample(backend: str) -> None:
    got = LanguageIdentifier(backend=backend).identify(pl.Series(list(SAMPLE.values())))  # type: ignore[arg-type]
    assert got["lang"].to_list() == list(SAMPLE)
    assert all(0.5 < s <= 1.0 for s in got["lang_score"])


def test_newlines_do_not_reach_fasttext() -> None:
    # fastText reads a newline as the end of an example: newlines become spaces first (runs of
    # spaces, tabs and carriage returns are fastText's own separator already)
    text = SAMPLE["fr"].replace(", ", ",\n\n").replace(" ", "\t\r ", 1)
    got = LanguageIdentifier().identify(pl.Series([text, SAMPLE["fr"]]))
    assert got["lang"].to_list() == ["fr", "fr"]
    assert got["lang_score"][0] == pytest.approx(got["lang_score"][1])


TEXTS = st.lists(
    st.one_of(
        st.none(),
        st.sampled_from(list(SAMPLE.values())),
        st.text(alphabet=st.sampled_from(list("ab \n.,éжこ")), max_size=40),
    ),
    max_size=10,
)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=25, deadline=None)
@given(texts=TEXTS, cut=st.integers(0, 10), batch_size=st.integers(1, 4))
def test_batch_invariance(backend: str, texts: list[str | None], cut: int, batch_size: int) -> None:
    lid = _identifier(backend)
    series = pl.Series(texts, dtype=pl.String)
    whole = lid.identify(series)
    cut = min(cut, len(texts))
    parts = pl.concat(
        [
            lid.identify(series.head(cut), batch_size),
            lid.identify(series.tail(len(texts) - cut), batch_size),
        ]
    )
    assert_frame_equal(whole, parts)


_LOADED: dict[str, LanguageIdentifier] = {}


def _identifier(backend: str) -> LanguageIdentifier:
    if backend not in _LOADED:
        _LOADED[backend] = LanguageIdentifier(backend=backend)  # type: ignore[arg-type]
    return _LOADED[backend]


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


def test_backend_and_model_are_checked() -> None:
    with pytest.raises(ValueError, match="fasttext backend"):
        LanguageIdentifier("lid.176.bin", backend="py3langid")
    with pytest.raises(ValueError, match="unknown language-ID backend"):
        LanguageIdentifier(backend="cld3")  # type: ignore[arg-type]


def test_batched_kernel_gives_py3langid_answers() -> None:
    pytest.importorskip("py3langid")
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
    got = LanguageIdentifier(backend="py3langid").identify(pl.Series(texts))
    for text, lang, score in zip(texts, got["lang"], got["lang_score"], strict=True):
        want_lang, want_score = ref.classify(text)
        assert lang == want_lang
        assert score == pytest.approx(want_score, abs=1e-4)


def test_langid_max_chars_reads_only_the_start_of_each_text(tmp_path: Path) -> None:
    from curate.runner import run_stage_frames
    from curate.stages.quality_score import QualityScore, QualityScoreConfig

    english = "The planner chooses an index scan when the filter keeps few rows of the table. "
    french = "Le planificateur choisit un parcours d'index quand le filtre garde peu de lignes de la table. "
    frame = pl.DataFrame({"id": ["a", "b"], "text": [english * 2 + french * 40, french * 3]})

    def lang(**kw: object) -> list[str]:
        cfg = QualityScoreConfig.model_validate({"heuristics": [], "langid": True, **kw})
        rows, _ = run_stage_frames(QualityScore(cfg), [frame], tmp_path / str(kw), seed=0)
        return rows.sort("id")["lang"].to_list()

    assert lang() == ["fr", "fr"]  # the whole text, as datatrove and FineWeb read it
    assert lang(langid_max_chars=150) == ["en", "fr"]
    with pytest.raises(ValueError, match="langid_max_chars"):
        QualityScoreConfig.model_validate({"langid": True, "langid_max_chars": 5})
