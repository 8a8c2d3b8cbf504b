"""Token-sized chunks with overlap that end at paragraph or sentence boundaries where they can.

A document is cut into *units*: sentences (a ``.``, ``!`` or ``?``, maybe closed by a quote or a
bracket, then whitespace not followed by a lowercase letter) and lines. The whitespace between two
units belongs to the later one, so cuts fall where BPE pre-tokenizers (cl100k, o200k) also cut.
A unit is counted without its leading whitespace, as it is when it opens a chunk, so a unit that
fits counts as a chunk of its own fits too. A unit longer than a chunk is cut at whitespace, and
a word longer than a chunk at characters.

Units are packed greedily up to ``max_tokens``; a chunk that would end mid-paragraph ends at the
last paragraph break instead when that keeps it at least half full. The next chunk starts at the
earliest unit of the previous chunk such that the units from there to its end hold at most
``overlap`` tokens (whole sentences repeat, never half of one), always after the previous start.
A chunk's text is ``text[char_start:char_end]`` with surrounding whitespace left out, and its
``n_tokens`` is counted on that exact text; when a chunk comes out over ``max_tokens`` (units
merge across a boundary, rare), its document is packed again with a limit lowered by the excess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.tokenize import TokenCounter

# a sentence end: . ! ? (closed by up to two quotes/brackets), then whitespace not before a lowercase
# letter (abbreviations: "e.g. the"); or any whitespace run holding a line break
_CUT = re.compile(r"[.!?][\"')\]]{0,2}(\s++)(?![a-z])|([^\S\n]*+\n\s*+)")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Span:
    """One chunk of one document: character offsets into the document and its token count."""

    doc: int
    index: int
    start: int
    end: int
    n_tokens: int


def units(text: str) -> tuple[list[int], list[bool]]:
    """Start offsets of the text's units (the first is 0) and whether each follows a paragraph break."""
    starts = [0]
    strong = [False]
    for m in _CUT.finditer(text):
        g = 1 if m.start(1) >= 0 else 2
        s = m.start(g)
        if s == 0 or s >= len(text):
            continue
        if s != starts[-1]:
            starts.append(s)
            strong.append(m.group(g).count("\n") >= 2)
    return starts, strong


def _split_long(text: str, a: int, b: int, limit: int, counter: TokenCounter) -> list[int]:
    """Start offsets of pieces of ``text[a:b]`` (a unit over ``limit`` tokens): cut at whitespace,
    then words longer than ``limit`` at characters, each piece at most ``limit`` tokens."""
    cuts = [a] + [m.start() for m in _SPACE.finditer(text, a + 1, b) if not text[m.start() - 1].isspace()]
    bounds = [*cuts, b]
    pieces = [text[bounds[i] : bounds[i + 1]].lstrip() for i in range(len(cuts))]
    counts = _counts(counter, pieces)
    out: list[int] = []
    for i, n in enumerate(counts):
        lo, hi = bounds[i], bounds[i + 1]
        if n <= limit:
            out.append(lo)
            continue
        # a word over the limit: fixed character windows, halved until each fits
        width = max(1, limit)
        while True:
            starts = list(range(lo, hi, width))
            parts = [text[s : min(s + width, hi)].lstrip() for s in starts]
            if max(_counts(counter, parts)) <= limit or width == 1:
                out.extend(starts)
                break
            width = max(1, width // 2)
    return out


def _counts(counter: TokenCounter, texts: list[str]) -> list[int]:
    if not texts:
        return []
    return counter.count(pl.Series("t", texts, dtype=pl.String)).fill_null(0).to_list()


def chunk_spans(texts: list[str | None], counter: TokenCounter, max_tokens: int, overlap: int) -> list[Span]:
    """The chunks of every non-blank text, in document then chunk order (blank texts give none).

    Token counting runs once over all units of the batch and once over the chunks (one call
    each), so the per-document Python work is the regex scan and the packing, O(units).
    """
    if max_tokens < 1 or not 0 <= overlap < max_tokens:
        raise ValueError("need max_tokens >= 1 and 0 <= overlap < max_tokens")
    doc_units: list[tuple[int, list[int], list[bool], int]] = []  # doc, starts, strong, end
    pieces: list[str] = []
    for d, text in enumerate(texts):
        if text is None or not text.strip():
            continue
        starts, strong = units(text)
        doc_units.append((d, starts, strong, len(text)))
        bounds = [*starts, len(text)]
        # counted without their leading whitespace, as they are when they open a chunk (BPE: " Kg"
        # is one token, "Kg" two), so that a unit that fits alone also fits as a chunk
        pieces.extend(text[bounds[i] : bounds[i + 1]].lstrip() for i in range(len(starts)))
    counts = _counts(counter, pieces)
    plans: list[tuple[int, list[int], list[bool], list[int], int]] = []
    pos = 0
    for d, starts, strong, end in doc_units:
        text = texts[d]
        assert text is not None
        tok = counts[pos : pos + len(starts)]
        pos += len(starts)
        if max(tok) > max_tokens:
            starts, strong, tok = _refine(text, starts, strong, tok, end, max_tokens, counter)
        starts, strong, tok = _merge_blank(text, starts, strong, tok, end)
        plans.append((d, starts, strong, tok, end))
    limits = [max_tokens] * len(plans)
    out: dict[int, list[Span]] = {}
    todo = list(range(len(plans)))
    while todo:
        # pack, count the stripped chunks exactly (one call), repack the documents where a chunk
        # came out over the limit with a limit lowered by the excess (never below one unit)
        spans: list[tuple[int, int, int, int]] = []  # plan, doc, start, end
        for p in todo:
            d, starts, strong, tok, end = plans[p]
            for a, b in _pack(np.asarray(tok, dtype=np.int64), strong, limits[p], overlap):
                spans.append((p, d, starts[a], starts[b] if b < len(starts) else end))
        found = _strip_and_count(texts, spans, counter)
        again: list[int] = []
        for p in todo:
            out[p] = []
        for q, s in found:
            out[q].append(s)
        for p in todo:
            excess = max(s.n_tokens for s in out[p]) - max_tokens
            if excess > 0 and limits[p] > 1:
                limits[p] = max(1, limits[p] - excess)
                again.append(p)
        todo = again
    return [s for p in range(len(plans)) for s in out[p]]


def _refine(
    text: str, starts: list[int], strong: list[bool], tok: list[int], end: int, limit: int, counter: TokenCounter
) -> tuple[list[int], list[bool], list[int]]:
    """Units over ``limit`` tokens replaced by their pieces (see :func:`_split_long`)."""
    bounds = [*starts, end]
    new_starts: list[int] = []
    new_strong: list[bool] = []
    for i, n in enumerate(tok):
        if n <= limit:
            new_starts.append(starts[i])
            new_strong.append(strong[i])
            continue
        sub = _split_long(text, bounds[i], bounds[i + 1], limit, counter)
        new_starts.extend(sub)
        new_strong.extend([strong[i]] + [False] * (len(sub) - 1))
    sub_bounds = [*new_starts, end]
    new_tok = _counts(counter, [text[sub_bounds[i] : sub_bounds[i + 1]].lstrip() for i in range(len(new_starts))])
    return new_starts, new_strong, new_tok


def _merge_blank(
    text: str, starts: list[int], strong: list[bool], tok: list[int], end: int
) -> tuple[list[int], list[bool], list[int]]:
    """Units of whitespace only (a text's tail, the rest of a cut unit) joined to the unit before,
    so that every unit, and so every chunk, adds text the chunk before it lacks."""
    bounds = [*starts, end]
    keep_s: list[int] = []
    keep_w: list[bool] = []
    keep_t: list[int] = []
    carry = 0  # tokens of leading blank units, given to the first unit with text
    for i, a in enumerate(starts):
        if text[a : bounds[i + 1]].isspace():
            if keep_s:
                keep_t[-1] += tok[i]
            else:
                carry += tok[i]
            continue
        keep_s.append(starts[0] if not keep_s else a)
        keep_w.append(strong[i])
        keep_t.append(tok[i] + carry)
        carry = 0
    return keep_s, keep_w, keep_t


def _pack(tok: np.ndarray, strong: list[bool], limit: int, overlap: int) -> list[tuple[int, int]]:
    """Unit ranges [a, b) of the chunks: greedy to ``limit``, ends moved back to a paragraph break
    when that keeps the chunk half full, starts stepped back by at most ``overlap`` tokens."""
    n = len(tok)
    cum = np.concatenate([[0], np.cumsum(tok)])
    out: list[tuple[int, int]] = []
    a = 0
    while a < n:
        # largest b with cum[b] - cum[a] <= limit (at least one unit: every unit fits, see _refine)
        b = max(a + 1, int(np.searchsorted(cum, cum[a] + limit, side="right")) - 1)
        b = min(b, n)
        if b < n:
            for j in range(b - 1, a, -1):
                if strong[j] and cum[j] - cum[a] >= limit / 2:
                    b = j
                    break
        out.append((a, b))
        if b >= n:
            break
        nxt = b
        if overlap:
            # earliest k in (a, b) with cum[b] - cum[k] <= overlap
            k = int(np.searchsorted(cum, cum[b] - overlap, side="left"))
            nxt = max(a + 1, min(k, b))
        a = nxt
    return out


def _strip_and_count(
    texts: list[str | None], spans: list[tuple[int, int, int, int]], counter: TokenCounter
) -> list[tuple[int, Span]]:
    """Spans without surrounding whitespace, with exact token counts, numbered per document."""
    stripped: list[tuple[int, int, int, int]] = []
    for p, d, a, b in spans:
        text = texts[d]
        assert text is not None
        piece = text[a:b]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if lead < len(piece):  # a piece of whitespace only (the tail of a cut unit) is no chunk
            stripped.append((p, d, a + lead, b - trail))
    counts = _counts(counter, [texts[d][a:b] for _, d, a, b in stripped])  # type: ignore[index]
    out: list[tuple[int, Span]] = []
    index: dict[int, int] = {}
    for (p, d, a, b), n in zip(stripped, counts, strict=True):
        i = index.get(d, 0)
        index[d] = i + 1
        out.append((p, Span(d, i, a, b, n)))
    return out
