"""Language identification: a user-given fastText LID model, or the bundled py3langid detector."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import polars as pl

from curate.quality.fasttext_model import load_fasttext, prepare_texts


class LanguageIdentifier:
    """Adds ``lang`` (ISO 639 code) and ``lang_score`` (probability of that language).

    With ``model_path`` a fastText language-ID model (lid.176.bin/.ftz, GlotLID) is used, in
    batches (faster and more accurate); without one, py3langid, which ships its model, so
    language ID works with no download. Null or blank text gives null.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None) -> None:
        self.model_path = model_path
        self._ft: Any = None
        self._py: Any = None
        if model_path is not None:
            self._ft = load_fasttext(model_path)
        else:
            from py3langid.langid import MODEL_FILE
            from py3langid.langid import LanguageIdentifier as PyLangId

            self._py = PyLangId.from_model_file(MODEL_FILE, norm_probs=True)

    def identify(self, text: pl.Series, batch_size: int = 4096) -> pl.DataFrame:
        """``lang`` and ``lang_score`` for each text."""
        lines = prepare_texts(text)
        langs: list[str | None] = [None] * len(lines)
        scores = np.full(len(lines), np.nan)
        todo = [i for i, t in enumerate(lines) if t]
        if self._ft is not None:
            for start in range(0, len(todo), batch_size):
                idx = todo[start : start + batch_size]
                labels, probs = self._ft.predict([lines[i] for i in idx], k=1)
                for i, labs, ps in zip(idx, labels, probs, strict=True):
                    if len(labs):
                        langs[i] = str(labs[0]).removeprefix("__label__")
                        scores[i] = min(float(ps[0]), 1.0)
        else:
            for i in todo:  # py3langid scores one text at a time (its DFA walk is per text)
                lang, conf = self._py.classify(lines[i])
                langs[i], scores[i] = lang, float(conf)
        return pl.DataFrame(
            {
                "lang": pl.Series(langs, dtype=pl.String),
                "lang_score": pl.Series(scores, dtype=pl.Float64, nan_to_null=True),
            }
        )
