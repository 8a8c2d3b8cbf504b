"""Error-injection pairs: (noisy, clean) rows for correction, graded degradations for preference."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from curate.augment.operators import apply_ops

SeedFn = Callable[[str], np.ndarray]
"""Salt -> one uint64 seed per document (``lambda salt: ctx.doc_seeds(ids, salt)``)."""


def noisy_copy(
    texts: pl.Series, ops: Sequence[tuple[str, float]], seeds: SeedFn, salt: str, scale: float = 1.0
) -> pl.Series:
    """The texts with every operator applied in order, rates times ``scale`` (capped at 1)."""
    steps = [
        (op, min(1.0, rate * scale), seeds(f"{salt}.{k}.{op}")) for k, (op, rate) in enumerate(ops)
    ]
    return apply_ops(texts, steps)


def correction_pairs(
    texts: pl.Series, ops: Sequence[tuple[str, float]], seeds: SeedFn
) -> pl.DataFrame:
    """``noisy`` and ``clean`` columns: inputs for spelling or grammar correction tasks."""
    noisy = noisy_copy(texts, ops, seeds, "pair")
    return pl.DataFrame({"noisy": noisy, "clean": texts.cast(pl.String)})


def degraded_responses(
    responses: pl.Series, ops: Sequence[tuple[str, float]], levels: Sequence[float], seeds: SeedFn
) -> pl.DataFrame:
    """One degraded copy of each response per level, labelled 1..len(levels) (higher is worse).

    Long format: ``row`` (index of the response), ``degradation`` (level rank), ``rate_scale``,
    ``rejected`` (the degraded text) and ``chosen`` (the original): weak supervision for
    preference or reward models, where the original is preferred over every degraded copy.
    """
    parts = []
    order = sorted(levels)
    for rank, scale in enumerate(order, start=1):
        degraded = noisy_copy(responses, ops, seeds, f"level{rank}", scale)
        parts.append(
            pl.DataFrame(
                {
                    "row": np.arange(responses.len(), dtype=np.int64),
                    "degradation": pl.Series([rank] * responses.len(), dtype=pl.Int32),
                    "rate_scale": pl.Series([scale] * responses.len(), dtype=pl.Float64),
                    "rejected": degraded,
                    "chosen": responses.cast(pl.String),
                }
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={
                "row": pl.Int64,
                "degradation": pl.Int32,
                "rate_scale": pl.Float64,
                "rejected": pl.String,
                "chosen": pl.String,
            }
        )
    return pl.concat(parts).sort("row", "degradation", maintain_order=True)
