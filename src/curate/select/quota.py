"""The quota rules of the ``select`` stage, as pure functions over numpy arrays.

A group (a source of the mixture, or the whole pool without one) is a list of documents in rank
order, each with a size in the budget's unit (1 per document, or its token count). Given the
group's target, :func:`allocate` says how many times each document is taken:

* **Full epochs first.** With a target ``Q`` above the group's size ``P`` (upsampling), every
  document is taken ``e = Q // P`` times (at most ``max_epochs``); the remainder ``Q - e * P``
  is filled by the walk below, whose documents are taken ``e + 1`` times. Without upsampling
  ``e`` is 0 and the walk fills the whole target.
* **The walk** (:func:`fill`): in rank order, a document is taken if it fits in the room left;
  one that does not fit is skipped (the walk goes on with the next ones), and the walk stops as
  soon as the room left is at most ``slack``. The target is therefore never exceeded: in
  documents (slack 0) it is met exactly whenever the pool allows; in tokens it is met to within
  ``slack = floor(tolerance * Q)`` (0.5 % by default) whenever documents small enough to fill
  the gap exist, and only documents ranked below a skipped one fill that gap (stopping early
  keeps the selection close to rank order instead of hunting for exact fillers far down).
* **The cap.** A target above ``max_epochs * P`` cannot be met: :func:`allocate` reports it as
  ``capped`` and takes every document ``max_epochs`` times (the stage errors unless the config
  allows a shortfall).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}
_BUDGET = re.compile(r"^\s*(\d+(?:_\d+)*(?:\.\d+)?)\s*([kKmMbBgGtT]?)\s*$")
MAX_BUDGET = 10**15


def parse_budget(value: object) -> int:
    """``2B``, ``500M``, ``1.5B``, ``10k``, ``10000``, ``2_000`` -> a positive integer.

    Suffixes are decimal (K = 10^3, M = 10^6, B or G = 10^9, T = 10^12); the result must be a
    whole number (``1.5k`` is 1500, ``1.0005k`` is refused). Raises ValueError naming the form.
    """
    if isinstance(value, bool):
        raise ValueError("expected a number like 10000, 500M or 2B")
    if isinstance(value, int):
        number = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        number = Fraction(value)
    elif isinstance(value, str):
        m = _BUDGET.match(value)
        if not m:
            raise ValueError("expected a number with an optional suffix K, M, B or T, like 10000, 500M or 2B")
        number = Fraction(m.group(1).replace("_", "")) * _SUFFIX[m.group(2).upper()]
    else:
        raise ValueError("expected a number like 10000, 500M or 2B")
    if number.denominator != 1:
        raise ValueError(f"{value!r} is not a whole number")
    if not 0 < number <= MAX_BUDGET:
        raise ValueError(f"must be between 1 and {MAX_BUDGET:.0e}")
    return int(number)


def apportion(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split an integer ``total`` by ``weights`` (largest remainder): the parts sum to ``total``.

    Exact rational arithmetic (the weights' binary values, normalised by their sum), so the
    split never depends on float rounding; remainder ties go to the name that sorts first.
    """
    exact = {k: Fraction(w) for k, w in weights.items()}
    norm = sum(exact.values(), Fraction(0))
    if norm <= 0:
        raise ValueError("weights must sum to a positive number")
    shares = {k: Fraction(total) * w / norm for k, w in exact.items()}
    parts = {k: math.floor(s) for k, s in shares.items()}
    left = total - sum(parts.values())
    for k in sorted(shares, key=lambda k: (-(shares[k] - parts[k]), k))[:left]:
        parts[k] += 1
    return parts


def fill(sizes: np.ndarray, room: int, slack: int = 0, rounds: int = 64) -> np.ndarray:
    """First-fit walk in rank order: a mask of the documents taken.

    Sequential rule (what :func:`fill_reference` does one document at a time): stop once
    ``room <= slack``; take a document whose size is at most the room left; skip one that is
    larger. Here each round takes a whole fitting prefix with one cumulative sum, then drops the
    documents that can no longer fit; after ``rounds`` rounds the rest goes one at a time (the
    same rule), so adversarial size sequences cost no more than the plain loop.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    chosen = np.zeros(len(sizes), dtype=bool)
    idx = np.arange(len(sizes))
    for _ in range(rounds):
        if room <= slack or not idx.size:
            return chosen
        c = np.cumsum(sizes[idx])
        fit = int(np.searchsorted(c, room, side="right"))  # c[:fit] <= room
        enough = int(np.searchsorted(c, room - slack, side="left"))  # first j with room - c[j] <= slack
        m = min(fit, enough + 1)
        if m:
            chosen[idx[:m]] = True
            room -= int(c[m - 1])
        if m < fit or m == idx.size or room <= slack:
            return chosen
        rest = idx[m + 1 :]  # idx[m] does not fit
        idx = rest[sizes[rest] <= room]
    for i in idx.tolist():
        if room <= slack:
            break
        s = int(sizes[i])
        if s <= room:
            chosen[i] = True
            room -= s
    return chosen


def fill_reference(sizes: list[int], room: int, slack: int = 0) -> list[bool]:
    """:func:`fill`'s rule, one document at a time (tests pin the vectorised walk to it)."""
    out = [False] * len(sizes)
    for i, s in enumerate(sizes):
        if room <= slack:
            break
        if s <= room:
            out[i] = True
            room -= s
    return out


@dataclass(frozen=True)
class Allocation:
    """How one group was filled: ``repeats`` per document (rank order) and the totals, in the unit."""

    repeats: np.ndarray
    pool: int
    target: int | None
    achieved: int
    epochs: int
    """Full epochs every document got before the remainder walk (0 without upsampling)."""
    capped: bool
    """The target exceeded ``max_epochs`` times the pool: every document was taken ``max_epochs`` times."""


def allocate(sizes: np.ndarray, target: int | None, max_epochs: int, slack: int = 0) -> Allocation:
    """Repeats per document (rank order) for a group's ``target`` in the sizes' unit.

    ``target`` None takes every document once. See the module docstring for the rules.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    pool = int(sizes.sum())
    repeats = np.zeros(len(sizes), dtype=np.int32)
    if target is None:
        repeats[:] = 1
        return Allocation(repeats, pool, None, pool, 1, False)
    capped = target > pool * max_epochs or (pool == 0 and target > 0)
    want = min(target, pool * max_epochs)
    epochs = min(want // pool, max_epochs) if pool else 0
    repeats[:] = epochs
    remainder = want - epochs * pool
    if remainder > 0:
        repeats += fill(sizes, remainder, slack).astype(np.int32)
    return Allocation(repeats, pool, target, int((repeats.astype(np.int64) * sizes).sum()), int(epochs), capped)
