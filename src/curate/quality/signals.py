"""The heuristic signal catalogue: names, definitions, published thresholds, families.

Kept apart from the compiled code in ``curate.quality.heuristics`` so that validating a config
(or running a stage that only names these columns, like ``filter``) never loads numba.
"""

from __future__ import annotations

from collections.abc import Iterable

# ---------------------------------------------------------------- definitions

_TERMINAL = r"\p{Sentence_Terminal}\x{17D6}\x{17D9}\x{17DA}"
"""Unicode sentence terminals (FineWeb's stop characters: datatrove's TERMINAL_PUNCTUATION)."""

C4_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
"""C4's boilerplate phrases (Raffel et al. 2020, and the TFDS c4_utils code): lines dropped."""
_C4_CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"

# ---------------------------------------------------------------- the signal catalogue

SIGNALS: dict[str, dict[str, str]] = {
    "gopher_quality": {
        "gopher_word_count": "Words (tokens with a non-punctuation character). Keep 50..100,000.",
        "gopher_mean_word_length": "Mean characters per word. Keep 3..10.",
        "gopher_hash_ratio": "'#' count per token (words and symbols). Drop above 0.1.",
        "gopher_ellipsis_ratio": "'...' and '…' count per token. Drop above 0.1.",
        "gopher_bullet_lines_frac": "Lines starting with '•' or '-' (after spaces). Drop above 0.9.",
        "gopher_ellipsis_lines_frac": "Lines ending with '...' or '…'. Drop above 0.3.",
        "gopher_alpha_words_frac": "Tokens with an alphabetic character. Drop below 0.8.",
        "gopher_stop_word_count": "Distinct stop words present (the, be, to, of, and, that, have, "
        "with). Drop below 2.",
    },
    "gopher_repetition": {
        "gopher_dup_para_frac": "Paragraphs (split on 2+ newlines) repeating an earlier one. "
        "Drop above 0.3.",
        "gopher_dup_para_char_frac": "Characters in repeated paragraphs / all characters. Drop above 0.2.",
        "gopher_dup_line_frac": "Lines repeating an earlier one. Drop above 0.3.",
        "gopher_dup_line_char_frac": "Characters in repeated lines / all characters. Drop above 0.2.",
        **{
            f"gopher_top_{n}gram_char_frac": f"Characters of the most frequent word {n}-gram times its "
            f"count / all characters. Drop above {t}."
            for n, t in ((2, 0.20), (3, 0.18), (4, 0.16))
        },
        **{
            f"gopher_dup_{n}gram_char_frac": f"Characters in repeated word {n}-grams (non-overlapping) "
            f"/ all characters. Drop above {t}."
            for n, t in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))
        },
    },
    "c4": {
        "c4_terminal_punct_frac": "Non-empty lines ending in . ? ! \" ' (not '...'). C4 keeps only those lines.",
        "c4_javascript_lines": "Kept-candidate lines mentioning 'javascript' (C4 drops those lines).",
        "c4_policy_lines": "Kept-candidate lines with a terms-of-use/cookie phrase (C4 drops those lines).",
        "c4_lorem_ipsum": "1 if a candidate line contains 'lorem ipsum' (C4 drops the document).",
        "c4_curly_bracket": "1 if a candidate line contains '{' (C4 drops the document).",
        "c4_sentence_count": "Sentences in the lines C4 keeps. Drop below 5.",
        "c4_kept_lines_frac": "Lines C4 keeps (terminal punctuation, 3+ words, no long word, "
        "javascript or policy phrase) / all lines.",
    },
    "fineweb": {
        "fineweb_line_punct_frac": "Non-blank lines ending in a sentence terminal. Drop below 0.12.",
        "fineweb_short_line_frac": "Non-blank lines of at most 30 characters. Drop above 0.67.",
        "fineweb_dup_line_char_frac": "Characters in repeated non-blank lines / characters other "
        "than newlines. Drop above 0.01.",
        "fineweb_list_ratio": "Newlines per word token. Drop above 0.3.",
    },
}
"""Every heuristic signal by family, with its definition and published threshold."""

FAMILY_ALIASES: dict[str, tuple[str, ...]] = {
    "gopher": ("gopher_quality", "gopher_repetition"),
    "c4_quality": ("c4",),
    "fineweb_quality": ("fineweb",),
}


def resolve_families(names: Iterable[str]) -> list[str]:
    """Expand aliases (``gopher``) and drop repeats, keeping the catalogue's order."""
    wanted: set[str] = set()
    for name in names:
        if name in SIGNALS:
            wanted.add(name)
        elif name in FAMILY_ALIASES:
            wanted.update(FAMILY_ALIASES[name])
        else:
            allowed = ", ".join([*SIGNALS, *FAMILY_ALIASES])
            raise ValueError(f"unknown heuristic family {name!r}; allowed: {allowed}")
    return [f for f in SIGNALS if f in wanted]


def signal_columns(families: Iterable[str]) -> list[str]:
    """The columns the given families add, in output order."""
    return [col for fam in resolve_families(families) for col in SIGNALS[fam]]


def family_of(column: str) -> str | None:
    """The family that produces ``column``, or None."""
    for fam, cols in SIGNALS.items():
        if column in cols:
            return fam
    return None
