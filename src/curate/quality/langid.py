"""Language identification: fastText's lid.176.ftz shipped with curate (the default), a
user-given fastText LID model, or py3langid's bundled model run by a compiled batch kernel."""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import polars as pl

from curate.errors import ConfigError
from curate.hashing import _string_buffers
from curate.jit import compiled
from curate.quality.fasttext_model import load_fasttext, prepare_texts


@compiled
def _naive_bayes(
    data: np.ndarray,
    offsets: np.ndarray,
    nextmove: np.ndarray,
    rowbase: np.ndarray,
    output: np.ndarray,
    ptc: np.ndarray,
    pc: np.ndarray,
    aliases: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """py3langid's model, batched: DFA walk over each text's bytes for feature counts, then the
    naive-Bayes log posterior, length-tempered softmax (norm_probs) and alias folding."""
    n = offsets.shape[0] - 1
    n_classes = pc.shape[0]
    best = np.zeros(n, dtype=np.int64)
    prob = np.zeros(n, dtype=np.float64)
    counts = np.zeros(ptc.shape[0], dtype=np.int64)
    touched = np.empty(ptc.shape[0], dtype=np.int64)
    scores = np.empty(n_classes, dtype=np.float64)
    for d in range(n):
        n_touched = 0
        state = 0
        for i in range(offsets[d], offsets[d + 1]):
            state = nextmove[rowbase[state] + data[i]]
            f = output[state]
            if f >= 0:
                if counts[f] == 0:
                    touched[n_touched] = f
                    n_touched += 1
                counts[f] += 1
        if n_touched == 0:
            scores[:] = 0.0
        else:
            for c in range(n_classes):
                scores[c] = pc[c]
            for k in range(n_touched):
                f = touched[k]
                w = np.log1p(np.float64(counts[f]))
                counts[f] = 0
                for c in range(n_classes):
                    scores[c] += w * ptc[f, c]
        length = offsets[d + 1] - offsets[d]
        temp = 1.0 / np.sqrt(np.float64(length if length > 0 else 1))
        top = -np.inf
        for c in range(n_classes):
            scores[c] *= temp
            top = max(top, scores[c])
        total = 0.0
        for c in range(n_classes):
            scores[c] = np.exp(scores[c] - top)
            total += scores[c]
        for c in range(n_classes):
            scores[c] /= total
        for a in range(aliases.shape[0]):
            scores[aliases[a, 0]] += scores[aliases[a, 1]]
            scores[aliases[a, 1]] = 0.0
        b = 0
        for c in range(1, n_classes):
            if scores[c] > scores[b]:
                b = c
        best[d] = b
        prob[d] = scores[b]
    return best, prob


Backend = Literal["fasttext", "py3langid"]
BACKENDS: tuple[Backend, ...] = ("fasttext", "py3langid")


class LanguageIdentifier:
    """Adds ``lang`` (ISO 639 code, ``__label__`` stripped) and ``lang_score`` (its probability).

    ``backend="fasttext"`` (the default): a fastText language-ID model, in batches; the
    ``lid.176.ftz`` file shipped with curate (176 languages, read from the package, never
    downloaded) unless ``model_path`` names another (lid.176.bin, GlotLID).
    ``backend="py3langid"``: py3langid's bundled model (97 languages), run by a compiled batch
    kernel that gives py3langid's own answers (about 4x faster than its per-text ``classify``;
    on full-length documents about as fast as fastText, see benchmarks/quality/RESULTS-quality.md).
    Whitespace runs are collapsed first (one line per document, as fastText needs). Null or
    blank text gives null.
    """

    def __init__(
        self, model_path: str | os.PathLike[str] | None = None, backend: Backend = "fasttext"
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown language-ID backend {backend!r} (one of {', '.join(BACKENDS)})")
        if backend == "py3langid" and model_path is not None:
            raise ValueError("a model path needs the fasttext backend (py3langid has its own model)")
        self.backend = backend
        self._ft: Any = None
        if backend == "fasttext":
            from curate.quality.models import LID_176_FTZ

            if model_path is None and not LID_176_FTZ.is_file():
                raise ConfigError(
                    f"curate's shipped language-ID model is missing: {LID_176_FTZ}",
                    hint="reinstall curate (its wheel carries lid.176.ftz as package data), "
                    "or give langid_model",
                )
            self.model_path = model_path if model_path is not None else LID_176_FTZ
            self._ft = load_fasttext(self.model_path)
        else:
            self.model_path = None
            from py3langid.langid import MODEL_FILE
            from py3langid.langid import LanguageIdentifier as PyLangId

            m = PyLangId.from_model_file(MODEL_FILE, norm_probs=True)
            self._arrays = (
                np.asarray(m.tk_nextmove, dtype=np.int64),
                np.asarray(m._rowbase, dtype=np.int64),
                np.asarray(m.tk_output, dtype=np.int64),
                np.ascontiguousarray(m.nb_ptc, dtype=np.float32),
                np.asarray(m.nb_pc, dtype=np.float64),
                np.asarray(m._alias_pairs, dtype=np.int64).reshape(-1, 2),
            )
            self._classes = np.array(m.nb_classes, dtype=object)

    def identify(self, text: pl.Series, batch_size: int = 4096) -> pl.DataFrame:
        """``lang`` and ``lang_score`` for each text."""
        lines = prepare_texts(text)
        langs: list[str | None] = [None] * len(lines)
        scores = np.full(len(lines), np.nan)
        todo = [i for i, t in enumerate(lines) if t and not t.isspace()]  # blank: null
        if self._ft is not None:
            for start in range(0, len(todo), batch_size):
                idx = todo[start : start + batch_size]
                labels, probs = self._ft.predict([lines[i] for i in idx], k=1)
                for i, labs, ps in zip(idx, labels, probs, strict=True):
                    if len(labs):
                        langs[i] = str(labs[0]).removeprefix("__label__")
                        scores[i] = min(max(float(ps[0]), 0.0), 1.0)
        elif todo:
            # py3langid's own classify() walks each text byte by byte in Python (~1 ms per
            # document); the same model runs here in one compiled pass over the batch.
            sub = pl.Series([lines[i] for i in todo], dtype=pl.String)
            upper = (sub == sub.str.to_uppercase()) & (sub != sub.str.to_lowercase())
            sub = sub.to_frame("t").select(
                pl.when(upper).then(pl.col("t").str.to_lowercase()).otherwise(pl.col("t"))
                .str.normalize("NFC")
            ).to_series()
            offsets, data = _string_buffers(sub)
            best, prob = _naive_bayes(data, offsets, *self._arrays)
            for j, i in enumerate(todo):
                langs[i], scores[i] = self._classes[best[j]], float(prob[j])
        return pl.DataFrame(
            {
                "lang": pl.Series(langs, dtype=pl.String),
                "lang_score": pl.Series(scores, dtype=pl.Float64, nan_to_null=True),
            }
        )
