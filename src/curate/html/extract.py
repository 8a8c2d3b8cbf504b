"""One HTML page -> main text: charset detection, the extractors, and the union rule.

Everything here runs inside the watchdog process (curate.html.watchdog) unless ``timeout_s`` is 0,
so nothing in it may hold state that a killed process would lose. Heavy imports happen on first
use (trafilatura takes ~1 s to import).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import NamedTuple

from curate.html.options import HtmlOptions

NO_MAIN_CONTENT = "no_main_content"
TOO_LARGE = "html_too_large"
TIMEOUT = "extract_timeout"
CRASHED = "extract_crashed"
ERROR = "extract_error"


class Page(NamedTuple):
    """What an extraction of one page gave: the text (None when rejected), the charset it was
    decoded with, the extractor whose output was kept, or the reason and detail of a rejection."""

    text: str | None
    charset: str | None
    extractor: str | None
    reason: str | None = None
    detail: str | None = None


def decode(data: bytes | str, declared: str | None = None) -> tuple[str, str | None]:
    """HTML bytes -> (str, charset), by the HTML5 order: a byte-order mark, the charset the
    transport declared (HTTP ``Content-Type``), a ``<meta charset>`` in the first 1 KiB, then
    detection from the bytes (uchardet). Undecodable bytes fall back to UTF-8, then cp1252."""
    if isinstance(data, str):
        return data, None
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5

    if data.startswith(codecs.BOM_UTF8):
        enc: str | None = "utf-8"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        enc = "utf-16"
    else:
        enc = map_encoding_to_html5(declared) if declared else None
        if not enc:
            enc = detect_encoding(data, from_html_meta=True)
    return bytes_to_str(data, enc), enc


def _resiliparse(html: str, opts: HtmlOptions) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True, preserve_formatting=True, alt_texts=False)


def _trafilatura(html: str, opts: HtmlOptions) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=False, include_tables=True, deduplicate=False) or ""


def _justext(html: str, opts: HtmlOptions) -> str:
    import justext

    paragraphs = justext.justext(html, justext.get_stoplist(opts.justext_language))
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


EXTRACT: dict[str, Callable[[str, HtmlOptions], str]] = {
    "resiliparse": _resiliparse,
    "trafilatura": _trafilatura,
    "justext": _justext,
}

def pick_union(preferred: tuple[str, str], other: tuple[str, str], margin: int, min_chars: int = 1) -> tuple[str, str]:
    """The union rule: keep the preferred extractor's output (the first of ``union_of``, the more
    precise one) unless the other's has more than ``margin`` words more (whitespace-separated),
    or the preferred one found nothing (fewer than ``min_chars`` characters).

    Why a fixed number of words, not a ratio: what a page-level extractor keeps beyond the main
    text is mostly page chrome (navigation bars, breadcrumbs, "Prev | Up | Next" footers), a
    roughly constant number of words a page, while what a precise extractor drops from the main
    text (a table, a code listing, a table of contents, a layout it does not recognise) is usually
    larger. The default margin (20) is the largest that meets the targets (recall at least each
    extractor's, precision within 2 points of the best) on both manuals of
    benchmarks/html/RESULTS-html.md: PostgreSQL's (20 to 50 meet them) and Valgrind's, held out
    (0 to 20); a ratio rule could not (any ratio that took resiliparse's tables also took its
    navigation bars).
    Each argument is (name, text)."""
    if len(preferred[1]) < min_chars:
        return other
    words_pref = len(preferred[1].split())
    words_other = len(other[1].split())
    return other if words_other > words_pref + margin else preferred


def extract_page(data: bytes | str, declared: str | None, opts: HtmlOptions) -> Page:
    """One page -> its main text, or a rejection (``no_main_content``, ``extract_error``)."""
    html, charset = decode(data, declared)
    outputs: list[tuple[str, str]] = []
    for name in opts.runs():
        try:
            outputs.append((name, EXTRACT[name](html, opts).strip()))
        except Exception as err:  # a parser failing on one page rejects that page, never the run
            msg = " ".join(str(err).split())[:300]
            return Page(None, charset, None, ERROR, f"{name} failed: {type(err).__name__}: {msg}")
    name, text = pick_union(outputs[0], outputs[1], opts.union_margin_words, opts.min_chars) if len(outputs) == 2 else outputs[0]
    if len(text) < opts.min_chars:
        return Page(None, charset, None, NO_MAIN_CONTENT, f"no main content found by {'+'.join(opts.runs())} "
                    f"({len(text)} characters, under min_chars={opts.min_chars})")
    return Page(text, charset, name)
