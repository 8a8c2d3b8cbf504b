"""Meaning-changing degradations of a response: graded negatives for preference and correction pairs.

Surface noise (typos, dropped words) teaches a model to spot sloppy text; these degradations
teach it to spot wrong answers that still read well: an answer cut short, a reasoning step
missing or out of order, a changed number or unit, a negated claim, the answer to another
question, a list in the wrong order. Each function takes the text and a seeded
:class:`random.Random` and returns the degraded text, or None when the text has nothing the
degradation can change (no number to perturb, one step only): a pair is never made from a copy
that does not differ in what it claims to change.

Why a Python loop per row: these edits parse structure (steps, list blocks, the first
auxiliary verb) that no vectorised string kernel expresses, and they run only on the chosen
sources of a pair-building stage (a capped share of the data, usually instruction sets of
thousands of rows), never on a whole crawl.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_GRADES: dict[str, int] = {
    "shuffle_list": 1,
    "reorder_steps": 2,
    "truncate": 2,
    "drop_step": 2,
    "swap_units": 3,
    "perturb_numbers": 3,
    "negate": 3,
    "swap_answer": 4,
}
"""Default grade per degradation: how far the degraded answer is from the original (1 = least)."""

DEGRADATION_NAMES: tuple[str, ...] = tuple(DEFAULT_GRADES)

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
_NUMBER = re.compile(r"(?<![\w.])(\d+)(?:\.(\d+))?(?![\w])")
_LIST_ITEM = re.compile(r"^(\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+)(.*)$")
_UNIT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("km", "m", "cm", "mm"),
    ("kg", "g", "mg"),
    ("hours", "minutes", "seconds"),
    ("hour", "minute", "second"),
    ("l", "ml"),
    ("miles", "feet", "inches"),
    ("%", "percent points"),
    ("°C", "°F"),
    ("MB", "GB", "KB"),
    ("ms", "s"),
)
_SIBLINGS = {u: tuple(x for x in g if x != u) for g in _UNIT_GROUPS for u in g}
_UNIT = re.compile(
    r"(?<=\d)(\s?)("
    + "|".join(re.escape(u) for u in sorted(_SIBLINGS, key=len, reverse=True))
    + r")(?![\w])"
)
_AUX = re.compile(
    r"\b(is|are|was|were|can|could|will|would|should|must|does|do|did|has|have|had|may|might)\b"
    r"(?!\s+not\b|n't|'t|not\b)",
    re.IGNORECASE,
)
_NEG = re.compile(
    r"\b(?:(is|are|was|were|could|would|should|must|does|do|did|has|have|had)n't|(can)'t|(won)'t"
    r"|(can)not|(\w+)\s+not)\b",
    re.IGNORECASE,
)
_NEG_FIX = {"won": "will"}


def steps(text: str) -> tuple[list[str], str]:
    """The reasoning steps of a text and their separator: non-empty lines, else sentences."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) >= 2:
        return lines, "\n"
    return [s for s in _SENTENCE_END.split(text.strip()) if s], " "


def truncate(text: str, rng: random.Random) -> str | None:
    """The answer cut after 30-70 % of its words (a strict word prefix, at least one word gone)."""
    words = list(_WORD.finditer(text))
    n = len(words)
    if n < 2:
        return None
    lo = max(1, int(np.ceil(0.3 * n)))
    hi = max(lo, min(n - 1, int(0.7 * n)))
    keep = rng.randint(lo, hi)
    return text[: words[keep - 1].end()]


def drop_step(text: str, rng: random.Random) -> str | None:
    """One reasoning step (line, or sentence for one-line text) removed."""
    parts, sep = steps(text)
    if len(parts) < 2:
        return None
    k = rng.randrange(len(parts))
    return sep.join(parts[:k] + parts[k + 1 :])


def _permute(items: list[str], rng: random.Random) -> list[int] | None:
    """An order of ``items`` that differs from the original as text; None when all are equal."""
    if len(set(items)) < 2:
        return None
    order = list(range(len(items)))
    while True:
        rng.shuffle(order)
        if [items[i] for i in order] != items:
            return order


def reorder_steps(text: str, rng: random.Random) -> str | None:
    """The same steps in another order."""
    parts, sep = steps(text)
    order = _permute(parts, rng)
    if order is None:
        return None
    return sep.join(parts[i] for i in order)


def shuffle_list(text: str, rng: random.Random) -> str | None:
    """The items of the longest list block (``-``, ``*``, ``1.`` lines) in another order.

    Markers stay where they were (a numbered list stays 1, 2, 3); only the items move.
    """
    lines = text.split("\n")
    best: tuple[int, int] | None = None
    start = None
    for i, line in enumerate([*lines, ""]):
        if i < len(lines) and _LIST_ITEM.match(line):
            start = i if start is None else start
            continue
        if start is not None and i - start >= 2 and (best is None or i - start > best[1] - best[0]):
            best = (start, i)
        start = None
    if best is None:
        return None
    matches = [_LIST_ITEM.match(lines[i]) for i in range(*best)]
    items = [m.group(2) for m in matches if m]
    order = _permute(items, rng)
    if order is None:
        return None
    for j, (i, m) in enumerate(zip(range(*best), matches, strict=True)):
        assert m is not None
        lines[i] = m.group(1) + items[order[j]]
    return "\n".join(lines)


def _new_number(whole: str, frac: str | None, rng: random.Random) -> str:
    value = int(whole)
    while True:
        how = rng.randrange(3)
        if how == 0:
            new = value + rng.choice([-1, 1]) * rng.randint(1, 9)
        elif how == 1:
            new = value * 10 if rng.random() < 0.5 or value < 10 else value // 10
        else:
            new = value * 2 if value else rng.randint(1, 9)
        if new >= 0 and new != value:
            break
    digits = str(new)
    if len(whole) > 1 and whole.startswith("0"):
        digits = digits.zfill(len(whole))
    return digits + ("." + frac if frac is not None else "")


def perturb_numbers(text: str, rng: random.Random) -> str | None:
    """Numbers changed to other values (each with probability 1/2, at least one); decimals kept."""
    found = list(_NUMBER.finditer(text))
    if not found:
        return None
    picked = [rng.random() < 0.5 for _ in found]
    if not any(picked):
        picked[rng.randrange(len(found))] = True
    out, last = [], 0
    for m, pick in zip(found, picked, strict=True):
        out.append(text[last : m.start()])
        out.append(_new_number(m.group(1), m.group(2), rng) if pick else m.group(0))
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def swap_units(text: str, rng: random.Random) -> str | None:
    """Units after numbers replaced by a sibling unit (km -> m, hours -> minutes), at least one."""
    found = list(_UNIT.finditer(text))
    if not found:
        return None
    picked = [rng.random() < 0.5 for _ in found]
    if not any(picked):
        picked[rng.randrange(len(found))] = True
    out, last = [], 0
    for m, pick in zip(found, picked, strict=True):
        out.append(text[last : m.start(2)])
        out.append(rng.choice(_SIBLINGS[m.group(2)]) if pick else m.group(2))
        last = m.end(2)
    out.append(text[last:])
    return "".join(out)


def negation_count(text: str) -> int:
    """Negations of a verb: ``not`` after a word and ``n't`` forms."""
    return len(_NEG.findall(text))


def negate(text: str, rng: random.Random) -> str | None:
    """One claim negated (English): ``not`` added after an auxiliary verb, or an existing negation removed."""
    sites: list[tuple[int, int, str]] = []
    for m in _NEG.finditer(text):
        if m.group(5) is not None:  # "<word> not": keep the word
            sites.append((m.start(), m.end(), m.group(5)))
        else:
            verb = next(g for g in m.groups()[:4] if g)
            sites.append((m.start(), m.end(), _NEG_FIX.get(verb.lower(), verb)))
    for m in _AUX.finditer(text):
        sites.append((m.start(), m.end(), m.group(1) + " not"))
    if not sites:
        return None
    start, end, repl = sites[rng.randrange(len(sites))]
    return text[:start] + repl + text[end:]


DEGRADATIONS: dict[str, Callable[[str, random.Random], str | None]] = {
    "truncate": truncate,
    "drop_step": drop_step,
    "reorder_steps": reorder_steps,
    "perturb_numbers": perturb_numbers,
    "swap_units": swap_units,
    "negate": negate,
    "shuffle_list": shuffle_list,
}
"""The degradations of one text; ``swap_answer`` needs the set and is :func:`swap_answers`."""


def swap_answers(
    responses: Sequence[str | None], prompts: Sequence[str | None] | None, seeds: np.ndarray
) -> list[str | None]:
    """Per row, the response of another row of the set (another prompt, another answer), or None.

    The partner is drawn from the seeded stream of the row, among rows whose response differs
    and, when prompts are given, whose prompt differs too.
    """
    n = len(responses)
    out: list[str | None] = []
    for i in range(n):
        if responses[i] is None or n < 2:
            out.append(None)
            continue
        rng = random.Random(int(seeds[i]))
        found = None
        for _ in range(32):  # bounded tries: a set of near-identical rows gives no partner
            j = (i + rng.randrange(1, n)) % n
            if (
                responses[j] is not None
                and responses[j] != responses[i]
                and (prompts is None or prompts[j] != prompts[i])
            ):
                found = responses[j]
                break
        out.append(found)
    return out


def degrade_all(
    name: str,
    responses: Sequence[str | None],
    seeds: np.ndarray,
    prompts: Sequence[str | None] | None = None,
) -> list[str | None]:
    """``name`` applied to every response with its own seeded stream; None where not applicable."""
    if name == "swap_answer":
        return swap_answers(responses, prompts, seeds)
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {name!r}; known: {', '.join(DEGRADATION_NAMES)}")
    fn = DEGRADATIONS[name]
    out: list[str | None] = []
    for text, seed in zip(responses, seeds, strict=True):
        if text is None:
            out.append(None)
            continue
        new = fn(text, random.Random(int(seed)))
        out.append(new if new is not None and new != text else None)
    return out
