"""Published heuristic quality signals (Gopher, C4, FineWeb), computed for a whole batch at once.

Each signal is one numeric column named ``<family>_<signal>``. The definitions follow the
papers and their reference implementation, datatrove's filters (the ones FineWeb was built
with); every signal's docstring entry gives the published default threshold, which the
``filter`` presets use. Each batch is split once into lines (polars string kernels) and
word tokens (one compiled pass over the UTF-8 bytes, ``curate.quality.words``); per-line
features are summed per document with numpy, and the order-dependent repetition counts
run in one compiled pass over token hashes (C, ``_native.c``). No per-document Python.

Known, deliberate differences from datatrove (measured in benchmarks/quality/RESULTS-quality.md):

- Words come from a compiled re-implementation of spaCy's English tokenizer rules (what
  datatrove uses), with a subset of its exception list (``curate.quality.words``); on real
  text 97 % of documents get exactly spaCy's tokens, the rest differ in rare exceptions.
- Sentences (for C4) follow spaCy's ``sentencizer`` rule over the same tokens.
- Lines for Gopher quality and C4 are split on ``\\n`` only (Python's ``splitlines`` also
  breaks on ``\\r``, ``\\f``, ``\\v`` and a few Unicode separators).
- N-grams are compared by their token sequence (datatrove compares joined strings, so
  ``["ab", "c"]`` equals ``["a", "bc"]`` there).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from curate.quality import _native
from curate.quality.signals import (  # noqa: F401  (re-exported: the catalogue lives in signals.py)
    _C4_CITATION,
    _TERMINAL,
    C4_POLICY,
    FAMILY_ALIASES,
    SIGNALS,
    family_of,
    resolve_families,
    signal_columns,
)
from curate.quality.words import Tokens, sentence_counts

# ---------------------------------------------------------------- batch computation


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _per_doc(doc: np.ndarray, values: np.ndarray | pl.Series, n: int) -> np.ndarray:
    """Sum a per-element feature per document."""
    v = values.to_numpy() if isinstance(values, pl.Series) else values
    return np.bincount(doc, weights=v.astype(np.float64, copy=False), minlength=n)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (the signal is undefined; the filter treats it as failing)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


class _Batch:
    """Splits of one batch of texts, computed lazily and at most once."""

    def __init__(self, text: pl.Series) -> None:
        self.text = text.cast(pl.String).fill_null("")
        self.n = self.text.len()
        self._tokens: Tokens | None = None
        self._lines: pl.DataFrame | None = None
        self._text_len: np.ndarray | None = None

    @property
    def text_len(self) -> np.ndarray:
        if self._text_len is None:
            self._text_len = self.text.str.len_chars().to_numpy().astype(np.float64)
        return self._text_len

    def tokens(self) -> Tokens:
        """The batch's word tokens (spaCy-like English rules, see ``curate.quality.words``)."""
        if self._tokens is None:
            self._tokens = Tokens(self.text)
        return self._tokens

    def token_counts(self) -> np.ndarray:
        return self.tokens().counts

    def lines(self) -> pl.DataFrame:
        """One row per '\\n'-separated piece: doc, line, last (the doc's final piece)."""
        if self._lines is None:
            lists = self.text.str.split("\n")
            counts = lists.list.len().to_numpy().astype(np.int64)
            doc = np.repeat(np.arange(self.n, dtype=np.int64), counts)
            last = np.zeros(doc.shape[0], dtype=bool)
            ends = np.cumsum(counts) - 1
            last[ends[counts > 0]] = True
            self._lines = pl.DataFrame(
                {"doc": doc, "line": lists.explode(empty_as_null=False, keep_nulls=False), "last": last}
            )
        return self._lines


def _dup_stats(doc: np.ndarray, strings: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per document: elements equal to an earlier element of the same document, and their chars."""
    offsets = _offsets(np.bincount(doc, minlength=n))
    hashes = strings.hash(seed=0x51C).to_numpy().view(np.int64)
    lengths = strings.str.len_chars().to_numpy().astype(np.int64)
    dn, dc = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    _native.dup_elements(offsets, hashes, lengths, dn, dc)
    return dn.astype(np.float64), dc.astype(np.float64)


def _gopher_quality(b: _Batch) -> dict[str, np.ndarray]:
    n = b.n
    toks = b.tokens()
    n_tokens = toks.counts.astype(np.float64)
    n_words = toks.words.astype(np.float64)

    counts = b.text.to_frame("t").select(
        pl.col("t").str.count_matches("#", literal=True).alias("hash"),
        (
            pl.col("t").str.count_matches("...", literal=True)
            + pl.col("t").str.count_matches("…", literal=True)
        ).alias("ellipsis"),
    )
    lines = b.lines()
    # Python's splitlines() has no final empty piece after a trailing newline (and none for "").
    kept = lines.filter(~(pl.col("last") & (pl.col("line") == "")))
    lf = kept.select(
        "doc",
        pl.col("line").str.contains(r"^\s*[•\-]").alias("bullet"),
        pl.col("line").str.contains(r"(?:\.\.\.|…)\s*$").alias("ell"),
    )
    ldoc = lf["doc"].to_numpy()
    n_lines = np.bincount(ldoc, minlength=n).astype(np.float64)
    return {
        "gopher_word_count": n_words,
        "gopher_mean_word_length": _ratio(toks.word_chars.astype(np.float64), n_words),
        "gopher_hash_ratio": _ratio(counts["hash"].to_numpy().astype(np.float64), n_tokens),
        "gopher_ellipsis_ratio": _ratio(counts["ellipsis"].to_numpy().astype(np.float64), n_tokens),
        "gopher_bullet_lines_frac": _ratio(_per_doc(ldoc, lf["bullet"], n), n_lines),
        "gopher_ellipsis_lines_frac": _ratio(_per_doc(ldoc, lf["ell"], n), n_lines),
        "gopher_alpha_words_frac": _ratio(toks.alphas.astype(np.float64), n_tokens),
        "gopher_stop_word_count": toks.stop_words.astype(np.float64),
    }


def _gopher_repetition(b: _Batch) -> dict[str, np.ndarray]:
    n = b.n
    text_len = b.text_len
    out: dict[str, np.ndarray] = {}

    # Paragraphs: the stripped text split on runs of 2+ newlines.
    paras = b.text.str.strip_chars().str.replace_all(r"\n{3,}", "\n\n").str.split("\n\n")
    p_counts = paras.list.len().to_numpy().astype(np.int64)
    p_doc = np.repeat(np.arange(n, dtype=np.int64), p_counts)
    pn, pc = _dup_stats(p_doc, paras.explode(empty_as_null=False, keep_nulls=False), n)
    out["gopher_dup_para_frac"] = _ratio(pn, p_counts.astype(np.float64))
    out["gopher_dup_para_char_frac"] = _ratio(pc, text_len)

    # Lines: the text split on runs of newlines, so empty pieces only at the two ends.
    lines = b.lines()
    nonempty = lines.filter(pl.col("line") != "")
    ln, lc = _dup_stats(nonempty["doc"].to_numpy(), nonempty["line"], n)
    n_nonempty = np.bincount(nonempty["doc"].to_numpy(), minlength=n).astype(np.float64)
    edges = b.text.to_frame("t").select(
        pl.col("t").str.starts_with("\n").alias("s"), pl.col("t").str.ends_with("\n").alias("e")
    )
    starts = edges["s"].to_numpy().astype(np.float64)
    ends = edges["e"].to_numpy().astype(np.float64)
    empty_doc = (text_len == 0).astype(np.float64)
    n_lines = n_nonempty + starts + ends + empty_doc
    ln = ln + starts * ends
    out["gopher_dup_line_frac"] = _ratio(ln, n_lines)
    out["gopher_dup_line_char_frac"] = _ratio(lc, text_len)

    toks = b.tokens()
    # top[k, d]: characters of the most frequent (k+2)-gram (joined by spaces) times its count,
    # the earliest on ties (Counter.most_common); dup[k, d]: characters of (k+5)-grams repeating
    # an earlier one, scanning left to right and jumping over a repeat (Rae et al., datatrove)
    top, dup = np.empty((3, n), dtype=np.int64), np.empty((6, n), dtype=np.int64)
    _native.ngram_repetition(toks.offsets, toks.hash.view(np.uint64), toks.nchars, top, dup)
    for k, g in enumerate((2, 3, 4)):
        out[f"gopher_top_{g}gram_char_frac"] = _ratio(top[k].astype(np.float64), text_len)
    for k, g in enumerate(range(5, 11)):
        out[f"gopher_dup_{g}gram_char_frac"] = _ratio(dup[k].astype(np.float64), text_len)
    return out


def _c4(b: _Batch) -> dict[str, np.ndarray]:
    n = b.n
    lines = b.lines().filter(~(pl.col("last") & (pl.col("line") == "")))
    stripped = lines.select("doc", pl.col("line").str.strip_chars().alias("stripped"))
    # A word over 1000 characters needs a line over 1000 bytes: the regex (a 1001-state
    # automaton, ~2 CPU s per million short documents) runs on those lines only.
    long_word = np.zeros(stripped.height, dtype=bool)
    long_rows = np.flatnonzero((stripped["stripped"].str.len_bytes() > 1000).to_numpy())
    if long_rows.size:
        long_word[long_rows] = stripped["stripped"].gather(long_rows).str.contains(r"\S{1001}").to_numpy()
    s = pl.col("stripped")
    # Per line, in datatrove's order: a word over 1000 characters, citations removed, terminal
    # punctuation (not '...'), at least 3 words; only lines passing all that are "candidates".
    f = stripped.select(
        "doc",
        pl.Series("long_word", long_word),
        s.str.contains(r"\S\s+\S+\s+\S").alias("enough_words"),
        s.str.replace_all(_C4_CITATION, "").alias("s"),
    ).with_columns(
        (pl.col("s").str.contains(r"[.?!\"']$") & ~pl.col("s").str.ends_with("...")).alias("term"),
        (pl.col("s") != "").alias("nonempty"),
    ).with_columns(
        (~pl.col("long_word") & pl.col("term") & pl.col("enough_words")).alias("cand"),
    )
    cand = f.filter("cand").select(
        "doc", "s", pl.col("s").str.to_lowercase().alias("low")
    ).with_columns(
        pl.col("low").str.contains("lorem ipsum", literal=True).alias("lorem"),
        pl.col("low").str.contains("javascript", literal=True).alias("js"),
    ).with_columns(
        (~pl.col("js") & pl.col("s").str.contains("{", literal=True)).alias("curly"),
        (~pl.col("js") & pl.col("low").str.contains("|".join(C4_POLICY))).alias("policy"),
    ).with_columns(
        (~pl.col("js") & ~pl.col("curly") & ~pl.col("policy") & ~pl.col("lorem")).alias("kept"),
    )
    cdoc = cand["doc"].to_numpy()
    kept = cand["kept"].to_numpy()
    sent = sentence_counts(cand["s"].filter(cand["kept"]))
    sentences = np.bincount(cdoc[kept], weights=sent.astype(np.float64), minlength=n)
    doc = f["doc"].to_numpy()
    n_lines = np.bincount(doc, minlength=n).astype(np.float64)
    nonempty = _per_doc(doc, f["nonempty"], n)
    return {
        "c4_terminal_punct_frac": _ratio(_per_doc(doc, f["term"], n), nonempty),
        "c4_javascript_lines": _per_doc(cdoc, cand["js"], n),
        "c4_policy_lines": _per_doc(cdoc, cand["policy"], n),
        "c4_lorem_ipsum": (_per_doc(cdoc, cand["lorem"], n) > 0).astype(np.float64),
        "c4_curly_bracket": (_per_doc(cdoc, cand["curly"], n) > 0).astype(np.float64),
        "c4_sentence_count": sentences,
        "c4_kept_lines_frac": _ratio(_per_doc(cdoc, cand["kept"], n), n_lines),
    }


def _fineweb(b: _Batch) -> dict[str, np.ndarray]:
    n = b.n
    lines = b.lines().filter(pl.col("line").str.contains(r"\S"))
    f = lines.select(
        "doc",
        pl.col("line").str.contains(rf"[{_TERMINAL}]$").alias("punct"),
        (pl.col("line").str.len_chars() <= 30).alias("short"),
    )
    doc = f["doc"].to_numpy()
    n_lines = np.bincount(doc, minlength=n).astype(np.float64)
    _, dup_chars = _dup_stats(doc, lines["line"], n)
    newlines = b.text.str.count_matches("\n", literal=True).to_numpy().astype(np.float64)
    return {
        "fineweb_line_punct_frac": _ratio(_per_doc(doc, f["punct"], n), n_lines),
        "fineweb_short_line_frac": _ratio(_per_doc(doc, f["short"], n), n_lines),
        "fineweb_dup_line_char_frac": _ratio(dup_chars, b.text_len - newlines),
        "fineweb_list_ratio": _ratio(newlines, b.token_counts().astype(np.float64)),
    }


_COMPUTE = {
    "gopher_quality": _gopher_quality,
    "gopher_repetition": _gopher_repetition,
    "c4": _c4,
    "fineweb": _fineweb,
}


def compute_signals(text: pl.Series, families: Sequence[str]) -> pl.DataFrame:
    """All signals of the given families for a batch of texts, one row per text.

    Ratios with a zero denominator (empty text, no words) are null; a null text gives null
    signals. Integer-valued signals (counts, flags) are Float64 like the rest, so rules can
    mix them freely.
    """
    fams = resolve_families(families)
    b = _Batch(text)
    data: dict[str, np.ndarray] = {}
    for fam in fams:
        data.update(_COMPUTE[fam](b))
    cols = signal_columns(fams)
    null_text = text.is_null()
    frame = pl.DataFrame({c: pl.Series(c, data[c], dtype=pl.Float64, nan_to_null=True) for c in cols})
    if null_text.any():
        frame = frame.select(pl.when(null_text.not_()).then(pl.col(c)).alias(c) for c in cols)
    return frame
