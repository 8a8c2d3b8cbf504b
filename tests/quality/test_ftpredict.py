"""curate's compiled fastText prediction gives the `fasttext` module's answers bit for bit: the
same best label and the same float32 probability, for the shipped language-ID model and for
models of every kind the kernel takes (hierarchical softmax or softmax, subwords or not, word
n-grams, dense or quantized with pruning and norms)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.errors import ConfigError
from curate.quality.fasttext_model import FastTextScorerModel, load_supported, prepare_texts
from curate.quality.ft_predict import CompiledFastText, UnsupportedModel, load_compiled
from curate.quality.langid import LanguageIdentifier
from curate.quality.models import LID_176_FTZ

fasttext = pytest.importorskip("fasttext")

WORDS = {
    "en": "the house is big and the garden green while we read books by the fire tonight".split(),
    "fr": "la maison est grande et le jardin vert pendant que nous lisons des livres".split(),
    "de": "das haus ist groß und der garten grün während wir bücher am feuer lesen".split(),
}
# Pieces that exercise fastText's reading: every separator it knows, multi-byte characters,
# the end-of-line token written literally (it ends the line), label-like tokens (never inputs),
# a word longer than the kernel's word cache takes, and Unicode spaces (not separators).
PIECES = st.one_of(
    st.sampled_from([w for ws in WORDS.values() for w in ws]),
    st.sampled_from([" ", "\n", "\t", "\r", "\x0b", "\x0c", "\x00", "  ", "\u00a0", "\u3000"]),
    st.sampled_from(["</s>", "__label__en", "__label__zz", "<", ">", "é", "中文", "😀", "ж" * 40, "x" * 70]),
    st.text(alphabet=st.sampled_from(list("abcdéжこ,.!")), min_size=1, max_size=12),
)
TEXTS = st.lists(st.lists(PIECES, max_size=30).map("".join), min_size=1, max_size=8)


def module_best(model: object, texts: list[str]) -> list[tuple[str | None, np.float32 | None]]:
    """What the `fasttext` module answers for predict(line, k=1), line as curate feeds it."""
    labels, probs = model.predict(prepare_texts(pl.Series(texts, dtype=pl.String)), k=1)  # type: ignore[attr-defined]
    return [(lab[0], np.float32(p[0])) if len(lab) else (None, None) for lab, p in zip(labels, probs, strict=True)]


def kernel_best(model: CompiledFastText, texts: list[str]) -> list[tuple[str | None, np.float32 | None]]:
    label, prob = model.predict_best(pl.Series(texts, dtype=pl.String))
    return [(model.labels[i], p) if i >= 0 else (None, None) for i, p in zip(label, prob, strict=True)]


def not_blank(texts: list[str]) -> list[bool]:
    return [bool(t) and not t.isspace() for t in texts]


_MODELS: dict[str, tuple[object, CompiledFastText]] = {}


def lid176() -> tuple[object, CompiledFastText]:
    if "lid" not in _MODELS:
        _MODELS["lid"] = (fasttext.load_model(str(LID_176_FTZ)), load_compiled(LID_176_FTZ))
    return _MODELS["lid"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small models of each kind the kernel takes, trained and saved by fastText itself."""
    root = tmp_path_factory.mktemp("ftmodels")
    rng = random.Random(0)
    lines = [f"__label__{lang} {' '.join(rng.choices(ws, k=rng.randint(3, 12)))}" for lang, ws in WORDS.items() for _ in range(120)]
    rng.shuffle(lines)
    data = root / "train.txt"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kinds = {
        "hs_subwords": dict(loss="hs", minn=2, maxn=4, wordNgrams=1, bucket=5000),
        "softmax_bigrams": dict(loss="softmax", minn=0, maxn=0, wordNgrams=2, bucket=5000),
        "softmax_subwords_trigrams": dict(loss="softmax", minn=3, maxn=5, wordNgrams=3, bucket=3000),
        "hs_words_only": dict(loss="hs", minn=0, maxn=0, wordNgrams=1, bucket=0),
    }
    out = {}
    for name, args in kinds.items():
        model = fasttext.train_supervised(input=str(data), epoch=5, lr=0.5, dim=8, thread=1, seed=1, verbose=0, **args)
        model.save_model(str(root / f"{name}.bin"))
        out[name] = root / f"{name}.bin"
        if name in ("hs_subwords", "softmax_bigrams"):
            # quantized: product-quantized rows, norms quantized apart, n-gram buckets pruned
            model.quantize(input=str(data), qnorm=True, retrain=False, cutoff=300, dsub=2, thread=1, verbose=0)
            model.save_model(str(root / f"{name}.ftz"))
            out[f"{name}_ftz"] = root / f"{name}.ftz"
    return out


def test_lid176_answers_equal_the_module_on_a_multilingual_sample() -> None:
    module, kernel = lid176()
    texts = [
        "The weather was cold this morning, so we stayed at home.",
        "Das Wetter war heute Morgen kalt, deshalb sind wir zu Hause geblieben.",
        "Il faisait froid ce matin, alors nous sommes restés à la maison.",
        "Сегодня утром было холодно, поэтому мы остались дома.",
        "今天早上天气很冷，所以我们待在家里。",
        "오늘 아침은 날씨가 추워서 우리는 집에 머물렀습니다.",
        "كان الطقس باردا هذا الصباح، لذلك بقينا في المنزل.",
        "आज सुबह ठंड थी, इसलिए हम घर पर रहे।",
    ]
    got = kernel_best(kernel, texts)
    assert [lab for lab, _ in got] == [f"__label__{c}" for c in ("en", "de", "fr", "ru", "zh", "ko", "ar", "hi")]
    assert got == module_best(module, texts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=TEXTS)
def test_lid176_answers_equal_the_module_bit_for_bit(texts: list[str]) -> None:
    module, kernel = lid176()
    want = module_best(module, texts)
    got = kernel_best(kernel, texts)
    for keep, g, w in zip(not_blank(texts), got, want, strict=True):
        assert g == (w if keep else (None, None))  # blank text: no language, as before


@pytest.mark.parametrize(
    "kind", ["hs_subwords", "softmax_bigrams", "softmax_subwords_trigrams", "hs_words_only", "hs_subwords_ftz", "softmax_bigrams_ftz"]
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(texts=TEXTS)
def test_every_model_kind_answers_equal_the_module(trained: dict[str, Path], kind: str, texts: list[str]) -> None:
    module = fasttext.load_model(str(trained[kind])) if kind not in _MODELS else _MODELS[kind][0]
    kernel = load_compiled(trained[kind]) if kind not in _MODELS else _MODELS[kind][1]
    _MODELS[kind] = (module, kernel)
    want = module_best(module, texts)
    for keep, g, w in zip(not_blank(texts), kernel_best(kernel, texts), want, strict=True):
        assert g == (w if keep else (None, None))
    # a scorer asks for every label: P(label) as the module lists it (0 when it does not)
    lines = prepare_texts(pl.Series(texts, dtype=pl.String))
    labels, probs = module.predict(lines, k=len(kernel.labels), threshold=0.0)
    for label in kernel.labels:
        got = kernel.probability_of(pl.Series(texts, dtype=pl.String), label)
        expected = [np.float32(dict(zip(ls, ps, strict=True)).get(label, 0.0)) for ls, ps in zip(labels, probs, strict=True)]
        assert list(got) == expected


def test_answers_do_not_depend_on_what_came_before() -> None:
    # the word cache fills and starts again past ~130,000 distinct words: a document's answer is
    # the same alone, after them, and in any batch
    _, kernel = lid176()
    doc = "Il faisait froid ce matin, alors nous sommes restés à la maison."
    alone = kernel.predict_best(pl.Series([doc]))
    rng = random.Random(3)
    filler = [" ".join("".join(rng.choices("abcdefghijklmnop", k=9)) for _ in range(2000)) for _ in range(100)]
    after = kernel.predict_best(pl.Series([*filler, doc]))
    assert (after[0][-1], after[1][-1]) == (alone[0][0], alone[1][0])


def test_language_identifier_runs_the_kernel_for_the_shipped_model() -> None:
    lid = LanguageIdentifier()
    assert lid._compiled is not None and lid._ft is None  # the fasttext module is not even loaded
    got = lid.identify(pl.Series(["the garden is green and the house is big", None, " \u3000 "], dtype=pl.String))
    assert got["lang"].to_list() == ["en", None, None]
    assert got["lang_score"][1] is None and got["lang_score"][2] is None


def test_scorer_equals_the_module_path(trained: dict[str, Path]) -> None:
    texts = pl.Series(["the house is big", "la maison est grande", "", None, "  "], dtype=pl.String)
    scorer = FastTextScorerModel(trained["softmax_bigrams"], "__label__en")
    assert scorer.compiled is not None
    module = fasttext.load_model(str(trained["softmax_bigrams"]))
    labels, probs = module.predict(prepare_texts(texts), k=3, threshold=0.0)
    want = [float(np.float32(dict(zip(ls, ps, strict=True)).get("__label__en", 0.0))) for ls, ps in zip(labels, probs, strict=True)]
    got = scorer.score(texts).to_list()
    assert got[:3] + got[4:] == want[:3] + want[4:] and got[3] is None


def test_a_model_the_kernel_does_not_take_runs_through_the_module(tmp_path: Path) -> None:
    rng = random.Random(1)
    lines = [f"__label__{lang} {' '.join(rng.choices(ws, k=8))}" for lang, ws in WORDS.items() for _ in range(50)]
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = fasttext.train_supervised(input=str(tmp_path / "t.txt"), loss="ova", epoch=5, dim=8, bucket=1000, thread=1, verbose=0)
    model.save_model(str(tmp_path / "ova.bin"))
    with pytest.raises(UnsupportedModel):
        load_compiled(tmp_path / "ova.bin")
    assert load_supported(tmp_path / "ova.bin") is None
    lid = LanguageIdentifier(tmp_path / "ova.bin")
    assert lid._compiled is None and lid._ft is not None
    assert lid.identify(pl.Series(["la maison est grande et le jardin vert"]))["lang"].to_list() == ["fr"]


@pytest.mark.parametrize("cut", [3, 40, 5000, 900_000])
def test_a_damaged_model_file_is_a_clear_error(tmp_path: Path, cut: int) -> None:
    bad = tmp_path / "cut.ftz"
    bad.write_bytes(LID_176_FTZ.read_bytes()[:cut])
    with pytest.raises(ConfigError, match="not a fastText model: .*cut.ftz"):
        load_supported(bad)


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.bin"
    bad.write_bytes(b"hello world, not a model" * 10)
    with pytest.raises(ConfigError, match="not a fastText model"):
        LanguageIdentifier(bad)
