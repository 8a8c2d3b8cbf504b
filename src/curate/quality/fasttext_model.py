"""fastText classifiers: batched scoring of documents, and DCLM-style training of a quality model.

``fasttext`` (the ``fasttext-community`` distribution) is imported only where a model is loaded
or trained, so ``import curate`` never pulls it in.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from curate.errors import ConfigError, InputError

if TYPE_CHECKING:
    from curate.quality.ft_predict import CompiledFastText

POSITIVE_LABEL = "__label__hq"
NEGATIVE_LABEL = "__label__cc"


def prepare_texts(text: pl.Series, lowercase: bool = False) -> list[str]:
    """One line per document: fastText reads a newline as the end of an example, so newlines
    become spaces (as datatrove's language filter does); other whitespace is fastText's own
    separator already. A literal replace: ~8x cheaper than collapsing whitespace by regex."""
    expr = pl.col("t").fill_null("").str.replace_all("\n", " ", literal=True)
    if lowercase:
        expr = expr.str.to_lowercase()
    return text.to_frame("t").select(expr).to_series().to_list()


def load_fasttext(path: str | os.PathLike[str]) -> Any:
    """Load a .bin/.ftz model, with a clear error for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"fastText model not found: {p}", hint="check the model path in the config")
    import fasttext

    try:
        return fasttext.load_model(str(p))
    except ValueError as err:
        raise ConfigError(f"not a fastText model: {p} ({err})") from None


def load_supported(path: str | os.PathLike[str]) -> CompiledFastText | None:
    """The model read for curate's compiled kernel (fastText's answers, much faster), or None for
    a model only the ``fasttext`` module runs; a clear error for a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"fastText model not found: {p}", hint="check the model path in the config")
    from curate.quality.ft_predict import UnsupportedModel, load_compiled

    try:
        return load_compiled(p)
    except UnsupportedModel:
        return None
    except (ValueError, OSError) as err:
        raise ConfigError(f"not a fastText model: {p} ({err})") from None


class FastTextScorerModel:
    """A loaded classifier that scores texts by the probability of one label."""

    def __init__(self, path: str | os.PathLike[str], label: str = POSITIVE_LABEL) -> None:
        self.compiled = load_supported(path)
        self.model = load_fasttext(path) if self.compiled is None else None
        labels = list(self.compiled.labels if self.compiled is not None else self.model.get_labels())
        if label not in labels:
            raise ConfigError(
                f"fastText model {path} has no label {label!r}",
                hint=f"its labels: {', '.join(labels[:20])}",
            )
        self.label = label
        self.n_labels = len(labels)

    def predict_all(self, texts: list[str]) -> tuple[list[Any], list[Any]]:
        """Labels and probabilities for every label, best first, for a list of one-line texts."""
        labels, probs = self.model.predict(texts, k=self.n_labels, threshold=0.0)
        return labels, probs

    def score(self, text: pl.Series, batch_size: int = 4096) -> pl.Series:
        """P(label) per document (null for null text), predicted in batches."""
        if self.compiled is not None:
            p = np.clip(self.compiled.probability_of(text, self.label).astype(np.float64), 0.0, 1.0)
            return pl.Series(values=p, dtype=pl.Float64).to_frame("p").select(
                pl.when(text.is_null().not_()).then(pl.col("p"))
            ).to_series()
        lines = prepare_texts(text)
        out = np.empty(len(lines), dtype=np.float64)
        for start in range(0, len(lines), batch_size):
            chunk = lines[start : start + batch_size]
            labels, probs = self.predict_all(chunk)
            for j, (labs, ps) in enumerate(zip(labels, probs, strict=True)):
                p = 0.0
                for lab, pr in zip(labs, ps, strict=False):
                    if lab == self.label:
                        p = float(pr)
                        break
                out[start + j] = min(max(p, 0.0), 1.0)
        series = pl.Series(values=out, dtype=pl.Float64)
        return series.to_frame("p").select(
            pl.when(text.is_null().not_()).then(pl.col("p"))
        ).to_series()


@dataclass
class TrainReport:
    """What ``train_classifier`` measured on its held-out validation split."""

    output: str
    n_train: int
    n_valid: int
    precision: float
    recall: float
    roc_auc: float
    threshold: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); NaN with one class only."""
    labels = labels.astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pl.Series(scores).rank("average").to_numpy()
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def read_texts(source: str | os.PathLike[str] | Sequence[str], text_field: str = "text") -> list[str]:
    """Texts from a Parquet/JSONL file (column ``text_field``), a .txt file (one per line) or a list."""
    if isinstance(source, list | tuple):
        return [str(t) for t in source]
    p = Path(source)  # type: ignore[arg-type]
    if not p.is_file():
        raise InputError(f"training input not found: {p}")
    name = p.name.lower()
    if name.endswith(".parquet"):
        frame = pl.read_parquet(p, columns=[text_field])
    elif name.endswith((".jsonl", ".json", ".jsonl.gz", ".ndjson")):
        frame = pl.read_ndjson(p).select(text_field)
    elif name.endswith(".txt"):
        return [line for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        raise InputError(f"unsupported training input {p}", hint="use .parquet, .jsonl or .txt")
    return frame[text_field].drop_nulls().cast(pl.String).to_list()


def _is_path(item: object) -> bool:
    if isinstance(item, os.PathLike):
        return True
    if not isinstance(item, str) or len(item) > 1024 or "\n" in item:
        return False
    try:
        return Path(item).is_file()
    except OSError:
        return False


def _gather(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """Texts from a path, a list of paths (concatenated), or a list of texts."""
    if isinstance(sources, str | os.PathLike) and _is_path(sources):
        return read_texts(sources)
    items = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    if items and all(_is_path(s) for s in items):
        return [t for s in items for t in read_texts(s)]
    return [str(t) for t in items]


def train_classifier(
    positive: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    negative: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    valid_fraction: float = 0.1,
    epoch: int = 5,
    lr: float = 0.1,
    word_ngrams: int = 2,
    dim: int = 100,
    min_count: int = 1,
    bucket: int = 2_000_000,
    thread: int = 1,
    seed: int = 0,
    threshold: float = 0.5,
    lowercase: bool = False,
) -> TrainReport:
    """Train a two-class fastText model (DCLM-style: high-quality reference vs random corpus).

    ``positive``/``negative``: a file (Parquet or JSONL with a ``text`` column, or .txt with
    one document per line), a list of such files, or a list of texts.

    Holds out ``valid_fraction`` of each class (chosen by a stable hash of the text, so the
    split is reproducible) and reports precision and recall of ``__label__hq`` at
    ``threshold`` and ROC AUC. The saved model is a standard ``.bin`` usable as a scorer
    (``label: __label__hq``).
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ConfigError(f"valid_fraction must be in (0, 1) (got {valid_fraction})")
    import fasttext

    from curate.hashing import hash_strings, unit_interval

    pos = prepare_texts(pl.Series(_gather(positive), dtype=pl.String), lowercase)
    neg = prepare_texts(pl.Series(_gather(negative), dtype=pl.String), lowercase)
    pos, neg = [t for t in pos if t], [t for t in neg if t]
    if len(pos) < 2 or len(neg) < 2:
        raise InputError("training needs at least 2 non-empty documents per class")
    texts = pos + neg
    labels = np.array([1] * len(pos) + [0] * len(neg), dtype=np.int8)
    u = unit_interval(hash_strings(pl.Series(texts, dtype=pl.String), 0xFA57 + seed))
    valid = u < valid_fraction
    for cls in (0, 1):  # at least one validation example per class
        idx = np.flatnonzero(labels == cls)
        if not valid[idx].any():
            valid[idx[np.argmin(u[idx])]] = True
    train_idx = np.flatnonzero(~valid)
    rng = np.random.default_rng(seed)
    rng.shuffle(train_idx)  # fastText learns better from mixed classes
    with tempfile.TemporaryDirectory(prefix="curate-ft-") as tmp:
        train_path = Path(tmp) / "train.txt"
        with train_path.open("w", encoding="utf-8") as f:
            for i in train_idx:
                f.write(f"{POSITIVE_LABEL if labels[i] else NEGATIVE_LABEL} {texts[i]}\n")
        model = fasttext.train_supervised(
            input=str(train_path),
            epoch=epoch,
            lr=lr,
            wordNgrams=word_ngrams,
            dim=dim,
            minCount=min_count,
            bucket=bucket if word_ngrams > 1 else 0,
            thread=thread,
            verbose=0,
        )
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out))
    valid_idx = np.flatnonzero(valid)
    scorer = FastTextScorerModel.__new__(FastTextScorerModel)
    scorer.model, scorer.label, scorer.n_labels = model, POSITIVE_LABEL, len(model.get_labels())
    scorer.compiled = None  # the model in memory, as it was just trained
    p = scorer.score(pl.Series([texts[i] for i in valid_idx], dtype=pl.String)).to_numpy()
    y = labels[valid_idx].astype(bool)
    pred = p >= threshold
    tp = int((pred & y).sum())
    precision = tp / int(pred.sum()) if pred.any() else 0.0
    recall = tp / int(y.sum()) if y.any() else 0.0
    return TrainReport(
        output=str(out),
        n_train=int(train_idx.size),
        n_valid=int(valid_idx.size),
        precision=precision,
        recall=recall,
        roc_auc=roc_auc(y, p),
        threshold=threshold,
    )
