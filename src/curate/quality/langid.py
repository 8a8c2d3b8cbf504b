"""Language identification: fastText's lid.176.ftz shipped with curate (the default), a
user-given fastText LID model, or py3langid's bundled model run by a compiled batch kernel."""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np
import polars as pl

from curate.errors import ConfigError
from curate.hashing import _string_buffers
from curate.quality.fasttext_model import load_fasttext, load_supported, prepare_texts
from curate.quality.ft_predict import CompiledFastText

Backend = Literal["fasttext", "py3langid"]
BACKENDS: tuple[Backend, ...] = ("fasttext", "py3langid")


class LanguageIdentifier:
    """Adds ``lang`` (ISO 639 code, ``__label__`` stripped) and ``lang_score`` (its probability).

    ``backend="fasttext"`` (the default): a fastText language-ID model, in batches; the
    ``lid.176.ftz`` file shipped with curate (176 languages, read from the package, never
    downloaded) unless ``model_path`` names another (lid.176.bin, GlotLID). Run by curate's
    compiled kernel (``ft_predict``: fastText's answers bit for bit, ~15x faster on whole
    documents); a model the kernel does not cover runs through the ``fasttext`` module.
    ``backend="py3langid"``: py3langid's bundled model (97 languages), run by a compiled batch
    kernel that gives py3langid's own answers (about 4x faster than its per-text ``classify``;
    on full-length documents ~7x slower than the fastText kernel, see
    benchmarks/quality/RESULTS-quality.md).
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
        self._compiled: CompiledFastText | None = None
        if backend == "fasttext":
            from curate.quality.models import LID_176_FTZ

            if model_path is None and not LID_176_FTZ.is_file():
                raise ConfigError(
                    f"curate's shipped language-ID model is missing: {LID_176_FTZ}",
                    hint="reinstall curate (its wheel carries lid.176.ftz as package data), "
                    "or give langid_model",
                )
            self.model_path = model_path if model_path is not None else LID_176_FTZ
            self._compiled = load_supported(self.model_path)
            if self._compiled is None:
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
        if self._compiled is not None:
            label, prob = self._compiled.predict_best(text)
            names = pl.Series([lab.removeprefix("__label__") for lab in self._compiled.labels], dtype=pl.String)
            return pl.DataFrame(
                {
                    "lang": names.gather(np.maximum(label, 0).astype(np.uint32)),
                    "lang_score": pl.Series(np.clip(prob.astype(np.float64), 0.0, 1.0), dtype=pl.Float64),
                    "found": label >= 0,
                }
            ).select(pl.when("found").then(pl.col(c)).alias(c) for c in ("lang", "lang_score"))
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
            from curate.quality.py3langid_kernel import naive_bayes  # numba: only for this backend

            best, prob = naive_bayes(data, offsets, *self._arrays)
            for j, i in enumerate(todo):
                langs[i], scores[i] = self._classes[best[j]], float(prob[j])
        return pl.DataFrame(
            {
                "lang": pl.Series(langs, dtype=pl.String),
                "lang_score": pl.Series(scores, dtype=pl.Float64, nan_to_null=True),
            }
        )
