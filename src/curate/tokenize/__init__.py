"""Token counting offline: tiktoken's cl100k_base / o200k_base from rank files shipped here, a
Hugging Face ``tokenizer.json``, or whitespace words.

The BPE rank files (``*.tiktoken.gz``, MIT, source and licence in ``NOTICE.md`` beside them) are
package data: an :class:`tiktoken.Encoding` is built from them directly, so tiktoken's registry,
cache and download code never run and nothing touches the network. The files are checked
against the sha256 tiktoken itself pins for them when loaded.

No heavy imports at module level: config models read the paths here. tiktoken, the rank files
and ``tokenizers`` load on first use, once per process.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).parent

_CL100K_PAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


@dataclass(frozen=True)
class BpeSpec:
    """One tiktoken encoding as tiktoken_ext/openai_public.py (tiktoken 0.14) defines it."""

    name: str
    file: Path
    sha256: str
    """sha256 of the uncompressed rank file: tiktoken's ``expected_hash`` for the published file."""
    pat_str: str
    special_tokens: dict[str, int]


ENCODINGS: dict[str, BpeSpec] = {
    "cl100k_base": BpeSpec(
        "cl100k_base",
        HERE / "cl100k_base.tiktoken.gz",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    ),
    "o200k_base": BpeSpec(
        "o200k_base",
        HERE / "o200k_base.tiktoken.gz",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}

CHUNK = 8192
"""Texts turned into Python strings at a time (bounds the copy a batch costs)."""

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def read_ranks(spec: BpeSpec) -> dict[bytes, int]:
    """The shipped rank file as tiktoken's ``mergeable_ranks``; a damaged file is an error."""
    import base64

    data = gzip.decompress(spec.file.read_bytes())
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise RuntimeError(f"{spec.file}: sha256 {digest} is not tiktoken's {spec.sha256}; reinstall curate")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def load_encoding(name: str) -> Any:
    """A ``tiktoken.Encoding`` for ``cl100k_base`` or ``o200k_base`` from the shipped ranks
    (cached per process: it is read-only and shared by every stage that asks)."""
    with _lock:
        if name not in _loaded:
            import tiktoken

            spec = ENCODINGS[name]
            _loaded[name] = tiktoken.Encoding(
                spec.name, pat_str=spec.pat_str, mergeable_ranks=read_ranks(spec), special_tokens=spec.special_tokens
            )
        return _loaded[name]


class TokenCounter:
    """Tokens per text: ``count(texts)`` -> Int32 Series, null where the text is null."""

    name: str = ""

    def count(self, texts: pl.Series) -> pl.Series:
        raise NotImplementedError


class WhitespaceCounter(TokenCounter):
    """Runs of non-whitespace characters (Unicode ``\\S+``), counted by Polars' regex engine."""

    name = "whitespace"

    def count(self, texts: pl.Series) -> pl.Series:
        return texts.str.count_matches(r"\S+").cast(pl.Int32)


class _ListCounter(TokenCounter):
    """Encodes non-null texts ``CHUNK`` at a time; subclasses give ``lengths(list[str])``."""

    def lengths(self, texts: list[str]) -> list[int]:
        raise NotImplementedError

    def count(self, texts: pl.Series) -> pl.Series:
        out: list[int | None] = []
        for start in range(0, len(texts), CHUNK):
            chunk = texts.slice(start, CHUNK).to_list()
            if None in chunk:
                lengths = iter(self.lengths([t for t in chunk if t is not None]))
                out += [None if t is None else next(lengths) for t in chunk]
            else:
                out += self.lengths(chunk)
        return pl.Series(texts.name, out, dtype=pl.Int32)


class TiktokenCounter(_ListCounter):
    """tiktoken BPE, special tokens read as plain text (``encode_ordinary``): counts text as data."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.encoding = load_encoding(name)

    def lengths(self, texts: list[str]) -> list[int]:
        # one thread: a worker has one core, so a thread pool would only add overhead
        encode = self.encoding.encode_ordinary
        return [len(encode(t)) for t in texts]


class HfCounter(_ListCounter):
    """A Hugging Face ``tokenizer.json`` (the ``tokenizers`` package), without added special
    tokens (no BOS/EOS): the tokens of the text itself."""

    def __init__(self, path: str) -> None:
        from tokenizers import Tokenizer

        self.name = f"file:{path}"
        self.tokenizer = Tokenizer.from_file(path)

    def lengths(self, texts: list[str]) -> list[int]:
        # encode_batch_fast: no offsets, ~25% less CPU than encode() per text
        return [len(e) for e in self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


def make_counter(tokenizer: str, path: str | None = None) -> TokenCounter:
    """The counter a ``tokens`` stage config names."""
    if tokenizer == "whitespace":
        return WhitespaceCounter()
    if tokenizer == "file":
        if not path:
            raise ValueError("tokenizer: file needs a path")
        return HfCounter(path)
    return TiktokenCounter(tokenizer)
