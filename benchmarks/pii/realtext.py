"""Real text cut into ~1 KB documents: what the PII and decontamination corpus builders start from.

``chunks(path)`` reads a Parquet file of real documents (``id``, ``text``, ``source``; e.g.
/work/shared/data/real_docs.parquet), normalises the text to NFC (as ingest does, so character
offsets survive it) and cuts it into pieces of ``lo``..``hi`` characters at line breaks (at a space
where one line is longer): short documents of one source are joined, in file order, with a blank
line until a piece reaches ``lo``. ``pick(chunks, n, rng)`` draws ``n`` of them: each piece once in
a random order, then random pieces again when ``n`` is larger than the number of pieces.
"""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import polars as pl


def _split(text: str, hi: int) -> list[str]:
    """Pieces of at most ``hi`` characters, cut at a line break, else at a space, else hard."""
    out = []
    while len(text) > hi:
        cut = text.rfind("\n", hi // 2, hi)
        if cut < 0:
            cut = text.rfind(" ", hi // 2, hi)
        if cut < 0:
            cut = hi
        out.append(text[:cut].strip("\n"))
        text = text[cut:].lstrip("\n ")
    out.append(text)
    return [p for p in out if p.strip()]


def chunks(path: str | Path, lo: int = 500, hi: int = 1100) -> list[tuple[str, str]]:
    """(source, text) pieces of the real documents, in file order."""
    df = pl.read_parquet(path, columns=["text", "source"])
    out: list[tuple[str, str]] = []
    pending: dict[str, str] = {}
    for text, source in zip(df["text"].to_list(), df["source"].to_list(), strict=True):
        if not text or not text.strip():
            continue
        text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
        for piece in _split(text, hi):
            joined = f"{pending[source]}\n\n{piece}" if source in pending else piece
            if len(joined) >= lo:
                pending.pop(source, None)
                out.append((source, joined[: hi * 2]))
            else:
                pending[source] = joined
    out += [(s, t) for s, t in pending.items() if len(t) >= lo // 4]
    return out


def pick(pieces: list, n: int, rng: random.Random) -> list:
    order = list(range(len(pieces)))
    rng.shuffle(order)
    idx = order[:n] + [rng.randrange(len(pieces)) for _ in range(max(0, n - len(order)))]
    return [pieces[i] for i in idx]
