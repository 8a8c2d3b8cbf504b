"""C4's line-level cleaning (Raffel et al. 2020), as datatrove's ``C4QualityFilter`` applies it.

The text is split into lines (Python's ``str.splitlines`` breaks), each line is stripped and
judged by the rules below in this order, the first rule that applies decides its fate:

1. ``too_long_word``: a word (whitespace-separated) longer than ``max_word_length`` (1000);
2. citation markers (``[1]``, ``[edit]``, ``[citation needed]``) are cut out of the line;
3. ``no_terminal_punct``: the line (after 2) does not end in ``. ? ! " '``, or ends in ``...``;
4. ``too_few_words``: fewer than ``min_words_per_line`` (3) words (counted before 2);
5. ``lorem_ipsum``: "lorem ipsum" in the lowercased line: the whole document is rejected;
6. ``javascript``: "javascript" in the lowercased line;
7. ``curly_bracket``: a ``{`` in the line: the whole document is rejected;
8. ``policy``: a terms-of-use / privacy / cookie phrase in the lowercased line.

The kept lines are joined with ``\\n`` and the result stripped; a document whose kept lines
hold fewer than ``min_sentences`` (5) sentences (spaCy's sentencizer rule per line, as
datatrove counts them) is rejected. Every rule can be switched off. Whitespace, line breaks
and stripping follow Python's definitions (``str.isspace``), not the regex engine's.

The whole batch is processed at once with polars string kernels over the exploded lines;
sentences are counted by the compiled tokenizer (``curate.quality.words``). No per-line Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from curate.quality.signals import _C4_CITATION, C4_POLICY
from curate.quality.words import sentence_counts

PY_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every character ``str.isspace`` accepts (what ``str.strip`` and ``str.split`` use)."""
_WS_CLASS = r"\t\n\x0B\x0C\r\x1C-\x20\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"
_BREAKS = r"\r\n|[\r\x0B\x0C\x1C\x1D\x1E\x{85}\x{2028}\x{2029}]"
"""``str.splitlines`` boundaries other than ``\\n`` (``\\r\\n`` counts as one)."""

LINE_RULES = ("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")
"""Rules that remove a line, in the order they are checked."""
DOC_RULES = ("lorem_ipsum", "curly_bracket")
"""Rules that reject the whole document when a line that reaches them matches."""


@dataclass(frozen=True)
class C4Rules:
    """Which rules run, with datatrove 0.10.1's defaults; ``0``/``None`` switch a threshold off."""

    remove_citations: bool = True
    terminal_punct: bool = True
    min_words_per_line: int = 3
    max_word_length: int | None = 1000
    lorem_ipsum: bool = True
    javascript: bool = True
    curly_bracket: bool = True
    policy: bool = True
    min_sentences: int = 5


@dataclass
class C4Result:
    """One batch cleaned: per document the new text, a rejection (or null) and line counts."""

    text: pl.Series
    """The cleaned text (the original where the document is rejected)."""
    reason: pl.Series
    """Null, or lorem_ipsum / curly_bracket / too_few_sentences / empty."""
    sentences: np.ndarray
    """Sentences in the kept lines (0 when ``min_sentences`` is 0: not counted)."""
    removed: dict[str, np.ndarray]
    """Lines removed per rule per document (LINE_RULES), and ``citation``: lines cut by rule 2."""
    lines: np.ndarray
    """Lines per document (``str.splitlines``)."""
    removed_lines: pl.Series | None = None
    """With ``keep_removed``: per document a list of {rule, line} (the original line), in order."""


def split_lines(text: pl.Series) -> pl.DataFrame:
    """One row per line of ``str.splitlines``: doc (int64), line (the raw line, no break)."""
    n = text.len()
    norm = text.str.replace_all(_BREAKS, "\n")
    # splitlines gives no final empty piece after a trailing break, and nothing for ""
    lists = pl.select(
        pl.when(norm == "")
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(norm.str.strip_suffix("\n").str.split("\n"))
    ).to_series()
    counts = lists.list.len().to_numpy().astype(np.int64)
    doc = np.repeat(np.arange(n, dtype=np.int64), counts)
    return pl.DataFrame({"doc": doc, "line": lists.explode(empty_as_null=False, keep_nulls=False)})


def _per_doc(doc: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(doc[mask], minlength=n).astype(np.int64)


def clean(text: pl.Series, rules: C4Rules = C4Rules(), keep_removed: bool = False) -> C4Result:
    """Apply C4's line rules to a batch of texts (a null text is treated as empty)."""
    text = text.cast(pl.String).fill_null("")
    n = text.len()
    lines = split_lines(text)
    stripped = pl.col("line").str.strip_chars(PY_SPACE)
    f = lines.with_row_index("_i").with_columns(stripped.alias("s"))
    exprs: list[pl.Expr] = []
    if rules.max_word_length is not None:
        # the regex (an automaton of m + 1 states) runs only on the lines longer than m characters
        m = rules.max_word_length
        long_word = np.zeros(f.height, dtype=bool)
        rows = np.flatnonzero((f["s"].str.len_chars() > m).to_numpy())
        if rows.size:
            long_word[rows] = f["s"].gather(rows).str.contains(f"[^{_WS_CLASS}]{{{m + 1}}}").to_numpy()
        exprs.append(pl.lit(pl.Series(long_word)).alias("too_long_word"))
    else:
        exprs.append(pl.lit(False).alias("too_long_word"))
    if rules.min_words_per_line > 0:
        exprs.append((pl.col("s").str.count_matches(f"[^{_WS_CLASS}]+") < rules.min_words_per_line).alias("too_few_words"))
    else:
        exprs.append(pl.lit(False).alias("too_few_words"))
    cut = pl.col("s").str.replace_all(_C4_CITATION, "") if rules.remove_citations else pl.col("s")
    exprs.append(cut.alias("c"))
    f = f.with_columns(exprs).with_columns((pl.col("c") != pl.col("s")).alias("citation"))
    if rules.terminal_punct:
        end_ok = pl.col("c").str.contains(r"[.?!\"']$") & ~pl.col("c").str.ends_with("...")
        f = f.with_columns((~end_ok).alias("no_terminal_punct"))
    else:
        f = f.with_columns(pl.lit(False).alias("no_terminal_punct"))
    early = pl.col("too_long_word") | pl.col("no_terminal_punct") | pl.col("too_few_words")
    # the lowercase checks only for lines that reach them
    cand = f.filter(~early).select("_i", "c", pl.col("c").str.to_lowercase().alias("low"))
    false = pl.lit(False)
    cand = cand.with_columns(
        (pl.col("low").str.contains("lorem ipsum", literal=True) if rules.lorem_ipsum else false).alias("lorem_ipsum"),
        (pl.col("low").str.contains("javascript", literal=True) if rules.javascript else false).alias("javascript"),
        (pl.col("c").str.contains("{", literal=True) if rules.curly_bracket else false).alias("curly_bracket"),
        (pl.col("low").str.contains("|".join(C4_POLICY)) if rules.policy else false).alias("policy"),
    )
    rule = (
        pl.when("lorem_ipsum").then(pl.lit("lorem_ipsum"))
        .when("javascript").then(pl.lit("javascript"))
        .when("curly_bracket").then(pl.lit("curly_bracket"))
        .when("policy").then(pl.lit("policy"))
        .otherwise(pl.lit(None, pl.String))
    )
    cand = cand.select("_i", rule.alias("late"))
    f = f.join(cand, on="_i", how="left", maintain_order="left").with_columns(
        pl.when("too_long_word").then(pl.lit("too_long_word"))
        .when("no_terminal_punct").then(pl.lit("no_terminal_punct"))
        .when("too_few_words").then(pl.lit("too_few_words"))
        .otherwise(pl.col("late"))
        .alias("rule")
    )
    doc = f["doc"].to_numpy()
    rule_s = f["rule"]
    kept = rule_s.is_null().to_numpy()
    # the first line that rejects the document decides the reason (datatrove stops there)
    first_doc_rule = (
        f.filter(pl.col("rule").is_in(DOC_RULES)).group_by("doc", maintain_order=True).agg(pl.col("rule").first())
    )
    sentences = np.zeros(n, dtype=np.int64)
    kept_s = pl.Series(kept)
    if rules.min_sentences > 0:
        kept_text = f["c"].filter(kept_s)
        if kept_text.len():
            sentences = np.bincount(doc[kept], weights=sentence_counts(kept_text), minlength=n).astype(np.int64)
    joined = f.filter(kept_s).group_by("doc", maintain_order=True).agg(pl.col("c").str.join("\n"))
    docs = (
        pl.DataFrame({"doc": np.arange(n, dtype=np.int64), "sent": sentences})
        .join(joined, on="doc", how="left", maintain_order="left")
        .join(first_doc_rule, on="doc", how="left", maintain_order="left")
        .with_columns(pl.col("c").fill_null("").str.strip_chars(PY_SPACE))
    )
    docs = docs.with_columns(
        pl.when(pl.col("rule").is_not_null()).then(pl.col("rule"))
        .when(pl.col("sent") < rules.min_sentences).then(pl.lit("too_few_sentences"))
        .when(pl.col("c") == "").then(pl.lit("empty"))
        .otherwise(pl.lit(None, pl.String))
        .alias("reason")
    )
    new_text = docs["c"]
    reason_s = docs["reason"].alias("reason")
    removed = {r: _per_doc(doc, (rule_s == r).fill_null(False).to_numpy(), n) for r in LINE_RULES}
    removed["citation"] = _per_doc(doc, f["citation"].to_numpy() & kept, n)
    side = None
    if keep_removed:
        gone = f.filter(pl.col("rule").is_not_null() | pl.col("citation")).select(
            "doc", pl.struct(pl.col("rule").fill_null("citation"), "line").alias("removed")
        )
        agg = gone.group_by("doc", maintain_order=True).agg("removed")
        side = (
            pl.DataFrame({"doc": np.arange(n, dtype=np.int64)})
            .join(agg, on="doc", how="left", maintain_order="left")["removed"]
        )
        empty_list = pl.lit([], dtype=side.dtype)
        side = pl.select(pl.when(side.is_null()).then(empty_list).otherwise(side)).to_series()
    final_text = pl.select(pl.when(reason_s.is_null()).then(new_text).otherwise(text)).to_series()
    return C4Result(
        text=final_text.alias("text"),
        reason=reason_s,
        sentences=sentences,
        removed=removed,
        lines=np.bincount(doc, minlength=n).astype(np.int64),
        removed_lines=side,
    )
