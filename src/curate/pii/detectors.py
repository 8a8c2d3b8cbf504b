"""One detector per PII type: a vectorised candidate prefilter, then a Python scan with a validator.

A detector has two halves:

- ``prefilters``: alternatives of chains of Rust-regex patterns (Polars ``str.contains``). A
  document is a candidate when every pattern of some chain matches it; each pattern of a chain
  runs only on the documents that passed the ones before it, so a cheap broad pattern can guard
  a slow precise one. They only decide *which documents* are scanned, so each must accept every
  document in which the scan can find something (a superset; never stricter than the scan).
- :meth:`Detector.scan`: Python ``re`` (or ``str.find`` for anchors such as ``@``) over one
  candidate document, each candidate checked by a validator. It returns the valid spans (start,
  end in code points of the text, and a normalised value for pseudonyms) and how many
  candidates failed validation.

Context vetoes and overlaps between types are the stage's business (``stages/pii.py``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from curate.pii.validators import (
    IBAN_LENGTHS,
    card_ok,
    iban_ok,
    ipv4_global,
    ipv6_global_address,
    jwt_ok,
    shannon_entropy,
    tld_known,
)

Found = tuple[int, int, str]
"""(start, end, normalised value): a span in code points of the document."""
Chain = tuple[tuple[str, bool], ...]
"""Patterns (Rust regex, or a literal when the flag is set), each run on the survivors of the previous."""

BUILTIN_TYPES: tuple[str, ...] = ("secret", "credit_card", "iban", "email", "ipv6", "ipv4", "phone")
"""Every built-in type, highest priority first: where spans of two types overlap, the earlier
type's span is kept (custom types come after all of these, in config order)."""

_DIGITS_7 = r"[0-9](?:[ ./()\-\u00a0]{0,3}[0-9]){6}"
"""Seven digits with short separators: shared first link of the phone and card prefilters."""

_VERSION_WORDS = (
    "v ver version versions release releases rev revision build patch section sections chapter sec figure fig table step "
    "appendix clause paragraph item part no nr policy standard standards firmware kernel rv"
).split()
_VERSION_FILLERS = "to is was from of at now before after since than".split()
_VERSION_UPDATES = ("updat", "upgrad", "bump", "downgrad")
_VERSION_BEFORE = re.compile(
    r"(?i)(?:(?:\b(?:" + "|".join(_VERSION_WORDS) + r"|rfc[0-9]*)|\u00a7)[\s:=#.(]*(?:(?:"
    + "|".join(_VERSION_FILLERS) + r")\b[\s:=#.(]*){0,2}"
    r"|\b(?:" + "|".join(_VERSION_UPDATES) + r")\w*(?:[ \t]+[\w.+-]+){0,3}?[ \t]+(?:to|from)[\s:]*"
    r"|(?:[=<>~!]=|[<>])[ ]*)$"
)
"""A version or section keyword right before a number: ``version 1.2.3.4``, ``v 2.10.0.1``,
``release: ...``, ``Section 7.8.2.2``, ``\u00a7 4.1.2.1``, ``Standards-Version to 3.9.2.0``,
``Update sqlite to 3.14.1.0``."""


def _reverse(words: list[str] | tuple[str, ...]) -> str:
    return "|".join(w[::-1] for w in words)


_VERSION_BEFORE_REVERSED = re.compile(
    r"(?i)\n?(?:(?:[\s:=#.(]*\b(?:" + _reverse(_VERSION_FILLERS) + r")){0,2}[\s:=#.(]*(?:(?:"
    + _reverse(_VERSION_WORDS) + r"|[0-9]*cfr)\b|\u00a7)"
    r"|[\s:]*(?:ot|morf)[ \t]+(?:[\w.+-]+[ \t]+){0,3}\w*(?:" + _reverse(_VERSION_UPDATES) + r")\b"
    r"|[ ]*(?:=[=<>~!]|[<>]))"
)
""":data:`_VERSION_BEFORE` reversed, matched once at the start of the reversed text before a
candidate instead of searched from every position of it (the same language: a reversed text
starts with a reversed match exactly when the text ends with a match; ``\n?`` stands for ``$``
before a final line break)."""


class Detector:
    """Finds one PII type. Subclasses set ``name`` and ``prefilters`` and implement :meth:`scan`."""

    name: str
    prefilters: tuple[Chain, ...] = ()
    """Empty: every non-empty document is a candidate."""
    uses_regions: ClassVar[bool] = False
    skips_taken: ClassVar[bool] = False
    """True: :meth:`scan` takes ``taken``, the spans higher-priority types already hold in the
    document, and skips candidates that overlap them (they would lose anyway); for validators
    that cost much (phone numbers)."""
    locator: ClassVar[str | None] = None
    """A pattern (Rust and Python syntax alike) whose non-overlapping leftmost matches hold every
    candidate of the scan: the stage extracts them for a whole batch in Polars
    (``str.extract_all``) and :meth:`scan` takes them as ``located``, so Python looks at those
    few pieces of text instead of every digit of it. Without ``located`` the scan finds them
    with Python's ``re`` (the same matches)."""

    def scan(self, text: str, regions: tuple[str, ...] = ()) -> tuple[list[Found], int]:
        raise NotImplementedError


def located_spans(text: str, located: list[str]) -> Iterator[tuple[int, int]]:
    """Where the located pieces are, in order: each is the first occurrence after the previous
    one. That is where the pattern matched: an earlier occurrence of the same text would be a
    match of the pattern that leftmost matching would have found first."""
    pos = 0
    for piece in located:
        at = text.find(piece, pos)
        if at < 0:  # cannot happen for pieces extracted from this text
            raise ValueError(f"located text {piece!r} is not in the document")
        pos = at + len(piece)
        yield at, pos


# ---------------------------------------------------------------- e-mail

_EMAIL_DOMAIN = re.compile(r"[^\W_](?:[\w-]{0,61}[^\W_])?(?:\.[^\W_](?:[\w-]{0,61}[^\W_])?)+")
_EMAIL_LOCAL_REVERSED = re.compile(r"[\w.%+-]{1,64}")
_LOCAL_CHARS = frozenset("%+-.")


class EmailDetector(Detector):
    """``local@domain.tld``: local part of letters, digits and ``._%+-`` (no leading, trailing or
    doubled dot, at most 64), domain labels of letters, digits and hyphens, and a last label in
    the shipped TLD list (``data/tlds.txt``). Scans from each ``@`` outwards."""

    name = "email"
    prefilters = ((("@", True),),)

    def scan(self, text: str, regions: tuple[str, ...] = ()) -> tuple[list[Found], int]:
        found: list[Found] = []
        invalid = 0
        floor = 0  # the end of the last e-mail: a local part never reaches back into it
        at = text.find("@")
        while at >= 0:
            nxt = text.find("@", at + 1)
            dom = _EMAIL_DOMAIN.match(text, at + 1)
            if dom is None or at == 0 or at <= floor:
                at = nxt
                continue
            lo = max(floor, at - 65)
            rev = text[at - 1 : lo - 1 : -1] if lo > 0 else text[at - 1 :: -1]
            loc = _EMAIL_LOCAL_REVERSED.match(rev)
            if loc is None:
                at = nxt
                continue
            start = at - loc.end()
            while start < at and text[start] == ".":
                start += 1
            local = text[start:at]
            before = text[start - 1] if start > 0 else ""
            domain = dom.group()
            end = dom.end()
            after = text[end] if end < len(text) else ""
            if (
                not local
                or local.endswith(".")
                or ".." in local
                or (before and (before.isalnum() or before in _LOCAL_CHARS or before == "_"))
                or after == "@"
                or not tld_known(domain.rsplit(".", 1)[1])
            ):
                invalid += 1
            else:
                found.append((start, end, f"{local}@{domain}".lower()))
                floor = end
            at = nxt
        return found, invalid


# ---------------------------------------------------------------- IP addresses

_IPV4 = re.compile(r"[0-9](?<![\w.][0-9])[0-9]{0,2}\.(?:[0-9]{1,3}\.){2}[0-9]{1,3}(?!\w|\.[0-9])")
"""A dotted quad not inside a longer token: the candidates of the IPv4 scan."""
_IPV4_QUAD = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")
"""The IPv4 locator: every :data:`_IPV4` match is one of these (the greedy quad at its start,
which nothing before it can swallow), the others are inside longer tokens."""
_ASCII_DIGITS = frozenset("0123456789")
_VERSIONISH_BEFORE = frozenset("-_~+")
_CHANGELOG_HEADER = re.compile(r"[a-z0-9][a-z0-9+.-]* \($")
_NUMBERED_TITLE = re.compile(r"\.[^\S\n]+\S")
_UNDERLINE = frozenset(".=-*~_^\"'`#+")
_LINE_LEAD = " \t*+-#>\u2022\u00b7\u25e6\u2023"
"""What may come before a section number on its line: indentation and list or heading markers."""
_TITLE_WORD = re.compile(r"[ \t]+[\"'`(\[\u2018\u201c]?[^\W\d_]")
"""Spaces and a word (a letter, maybe after an opening quote or bracket): a section title."""
_HOST_LIST = re.compile(r"[ \t]+((?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+)(?:[ \t]+[A-Za-z0-9.-]+)*[ \t]*(?:#[^\n]*)?(?:\n|\Z)")
"""The rest of a hosts-file line: host names (then maybe a ``#`` comment) up to the line's end."""
_SMALL_PART = 31
"""Every part at most this: version-like (``1.2.3.4``, ``2.8.0.3``) unless an IP context is near;
a first part at most this: can be a chapter number."""
_IP_CONTEXT_WINDOW = 40
_IP_WORDS = re.compile(
    r"(?i)(?<![^\W_])(?:ip(?:v?4)?(?:s|[ _-]?addr(?:ess)?(?:es)?)?|addr(?:ess)?(?:es)?|hosts?(?:names?)?"
    r"|(?:name)?servers?|dns|resolv(?:e|er|ers|ing)?|gateway|router|ping|tracer(?:oute|t)"
    r"|connect(?:s|ed|ing|ion|ions)?|proxy|inet|peers?|clients?|remote|firewall|listen(?:s|ing)?|bind|subnet"
    r"|netmask|whois|nslookup|ssh|telnet|port)(?![^\W_])"
)
"""Words that say a dotted quad is an address (``ip``, ``address``, ``host``, ``server``, ``dns``,
``gateway``, ``ping``, ``connect``, ``port``...), whole words in any case (``client_ip`` too)."""
_PORT_OR_PREFIX = re.compile(r":[0-9]{1,5}(?![0-9])|/[0-9]{1,2}(?![0-9])")


def _heading_number(text: str, start: int, end: int) -> bool:
    """A section number opening a line (after indentation and list markers such as ``*``, ``-``,
    ``#``), followed by a dot and a title (``19.2.2.1. NFS``, ``43.6.5.1. LOOP``), by a title
    underlined on the next line (``5.4.4.1 Bitwise Operations`` then ``.........``), or by
    spaces and a word (``1.21.78.3 Library``, ``* 1.21.78.4 IDLE``, ``4.8.4.1 ‘except’
    clause``). The last, weakest form needs a first part that can be a chapter number (at most
    31, so ``93.184.216.34 was the address`` stays an address: a routable address opens with a
    larger octet seven times in eight), and is not a line of a hosts file, where host names
    fill the rest of the line (``8.8.8.8 dns.google``: the first name has a dot and a known
    top-level domain, or is ``localhost``)."""
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip(_LINE_LEAD):
        return False
    if _NUMBERED_TITLE.match(text, end):
        return True
    if _TITLE_WORD.match(text, end) and int(text[start : text.index(".", start)]) <= _SMALL_PART:
        hosts = _HOST_LIST.match(text, end)
        if hosts is None:
            return True
        name = hosts.group(1).lower()
        return not (name == "localhost" or ("." in name and tld_known(name.rsplit(".", 1)[1])))
    nl = text.find("\n", end)
    if nl < 0:
        return False
    nxt = text.find("\n", nl + 1)
    under = text[nl + 1 : nxt if nxt >= 0 else len(text)].strip()
    return len(under) >= 3 and under[0] in _UNDERLINE and under == under[0] * len(under)


def _ip_context(text: str, start: int, end: int) -> bool:
    """Something next to a quad that says it is an address: ``:port`` or ``/prefix`` right after
    it, ``//`` (a URL) or ``@`` right before it, or an IP word (:data:`_IP_WORDS`) within
    :data:`_IP_CONTEXT_WINDOW` characters before or after it on its line."""
    if _PORT_OR_PREFIX.match(text, end) or text[start - 1 : start] == "@" or text[max(0, start - 2) : start] == "//":
        return True
    lo = max(text.rfind("\n", 0, start) + 1, start - _IP_CONTEXT_WINDOW)
    nl = text.find("\n", end, end + _IP_CONTEXT_WINDOW)
    hi = nl if nl >= 0 else end + _IP_CONTEXT_WINDOW
    return _IP_WORDS.search(text, lo, start) is not None or _IP_WORDS.search(text, end, hi) is not None


def _version_context(text: str, start: int) -> bool:
    """A version or section keyword (:data:`_VERSION_BEFORE`) right before ``start``, within 60
    characters. Matched on the reversed window; a match reaching the window's first character
    is checked again forwards, where a word boundary also sees the character before the window."""
    if start == 0:
        return False
    lo = max(0, start - 60)
    window = text[lo:start][::-1]
    m = _VERSION_BEFORE_REVERSED.match(window)
    if m is None:
        return False
    return not lo or m.end() < len(window) or _VERSION_BEFORE.search(text, lo, start) is not None


class IPv4Detector(Detector):
    """Dotted quads of globally routable addresses (``ipaddress``'s ``is_global``, not multicast).

    Left alone as version or section numbers: a quad glued to a letter or a dot (``v2.10.0.1``,
    ``1.2.3.4.5``) or before a dot and a letter (a longer name: ``1.0.0.127.in-addr.arpa``), right
    after ``-_~+`` or an epoch (``1:1.0.99.4``) or before ``-digit``/``~``/``+`` (package versions
    such as ``linux-2.6.32.5-1``), after ``name/`` (``Firefox/2.0.0.1``), in a changelog header
    (``debianutils (4.8.6.3) unstable``), after a comparison (``==3.1.1.3``, ``>= 1.2.99.2``),
    after a version or section keyword (``version 1.2.3.4``, ``release: ...``,
    ``Section 7.8.2.2``), numbering a heading or a table of contents line (:func:`_heading_number`),
    or made of small parts only, each at most 31 (``zlib 1.2.3.4``, ``Added 2.8.0.3 patch``,
    ``vac 5.0.0.0``; versions nearly always look like that, a routable address about once in
    4,000) unless something next to it says it is an address (:func:`_ip_context`:
    ``resolver 8.8.8.8``, ``ping 1.1.1.1``, ``9.9.9.9:53``, ``4.2.2.0/24``).
    """

    name = "ipv4"
    prefilters = (((r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]", False),),)
    locator = _IPV4_QUAD.pattern

    @staticmethod
    def candidates(text: str, located: list[str] | None = None) -> Iterator[tuple[int, int]]:
        """The spans of the :data:`_IPV4` matches, from the located quads (:data:`_IPV4_QUAD`):
        those not glued to a word, a dot before or a decimal after."""
        for s, e in located_spans(text, _IPV4_QUAD.findall(text) if located is None else located):
            before = text[s - 1] if s else ""
            after = text[e : e + 2]
            if (before and (before.isalnum() or before in "._")) or (
                after and (after[0].isalnum() or after[0] == "_" or (after[0] == "." and after[1:2] in _ASCII_DIGITS))
            ):
                continue
            yield s, e

    def scan(
        self, text: str, regions: tuple[str, ...] = (), located: list[str] | None = None
    ) -> tuple[list[Found], int]:
        found: list[Found] = []
        invalid = 0
        n = len(text)
        for s, e in self.candidates(text, located):
            before = text[s - 1] if s else ""
            after = text[e : e + 2]
            value = text[s:e]
            if (
                not ipv4_global(value)
                or before in _VERSIONISH_BEFORE
                or (before == "/" and s > 1 and text[s - 2].isalpha())
                or (before == "(" and _CHANGELOG_HEADER.match(text, text.rfind("\n", 0, s) + 1, s) is not None)
                or (before == ":" and s > 1 and text[s - 2].isdigit())
                or (after[:1] == "-" and after[1:2].isdigit())
                or (after[:1] == "." and after[1:2].isalpha())
                or (e < n and text[e] in "~+")
                or _version_context(text, s)
                or _heading_number(text, s, e)
                or (max(map(int, value.split("."))) <= _SMALL_PART and not _ip_context(text, s, e))
            ):
                invalid += 1
                continue
            found.append((s, e, value))
        return found, invalid


_IPV6 = re.compile(
    r"[23](?<![\w:.][23])[0-9A-Fa-f]{0,3}:(?=[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{1,35}"
    r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?(?![\w:]|\.[0-9])"
)
"""Colon-hex tokens opening with a group of 2000::/3 (the only global unicast space)."""


class IPv6Detector(Detector):
    """Colon-hex tokens that ``ipaddress`` parses as IPv6 in global unicast space (2000::/3) and
    that are globally routable (documentation 2001:db8::/32 and other special ranges are not)."""

    name = "ipv6"
    prefilters = (
        ((r"[23][0-9A-Fa-f]{0,3}:(?:(?:[0-9A-Fa-f]{1,4}:)*:|(?:[0-9A-Fa-f]{1,4}:){6}[0-9A-Fa-f]|(?:[0-9A-Fa-f]{1,4}:){5}[0-9]{1,3}\.)", False),),
    )

    def scan(self, text: str, regions: tuple[str, ...] = ()) -> tuple[list[Found], int]:
        found: list[Found] = []
        invalid = 0
        for m in _IPV6.finditer(text):
            addr = ipv6_global_address(m.group())
            if addr is not None:
                found.append((m.start(), m.end(), addr.compressed))
            else:
                invalid += 1
        return found, invalid


# ---------------------------------------------------------------- payment cards

_IBAN_HEAD = re.compile(r"\b(?:" + "|".join(sorted(IBAN_LENGTHS)) + r")[0-9]{2}(?: [A-Z0-9]{4})* \Z")
"""The start of an IBAN written in groups right before a candidate (``GB82 HBUK 0703 ...``): a
country that issues IBANs, two check digits and whole groups. Its check is not looked at: digits
that continue an IBAN-shaped string are never a card or a phone number, whether the IBAN is
valid (the IBAN detector takes it) or not (a mistyped or made-up account number)."""
_CARD_RUN = re.compile(r"[0-9](?<![\w.,+/-][0-9])(?=(?:[ -]?[0-9]){12})(?>[0-9]*(?:[ -][0-9]+)*)")
"""A maximal run of digit groups joined by single spaces or dashes, 13 digits at least, not
after a word, a decimal or a sign (atomic: linear on long runs)."""
_CARD_CHAIN = re.compile(r"[0-9](?:[ \-]?[0-9]){12,}")
"""The card locator: digits joined by single spaces or dashes, 13 at least. Each holds the
:data:`_CARD_RUN` matches within it, and none lies outside one."""
_CARD_LAYOUTS = frozenset({(4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3), (4, 4, 4, 4), (4, 4, 4, 4, 1), (4, 4, 4, 4, 2),
                           (4, 4, 4, 4, 3), (4, 4, 5), (4, 6, 4), (4, 6, 5)})
"""Group lengths of a grouped card number (13-19 digits): fours with a shorter tail, Amex 4-6-5,
Diners 4-6-4."""
_SEP_SPLIT = re.compile(r"([ -])")


class CreditCardDetector(Detector):
    """13-19 digits, plain or in groups (fours with a shorter tail, Amex 4-6-5, Diners 4-6-4)
    separated by single spaces or dashes (one kind), with a known issuer's prefix and length and
    a valid Luhn digit. In a longer run of groups (``order 1234 4111 1111 1111 1111``) every
    window of whole groups is tried; a plain run of more than 19 digits is never a card. Nor are
    digits that continue an IBAN-shaped string (:data:`_IBAN_HEAD`: ``DE25 2414 2363 2794 1809 69``
    holds a Luhn-valid ``2414 2363 2794 1809``): a valid IBAN's mod-97 check is stronger evidence
    than a Luhn pass (one number in ten passes Luhn), and one with a wrong check is a mistyped
    account number, not a card."""

    name = "credit_card"
    prefilters = (((_DIGITS_7, False), (r"[0-9](?:[ \-]?[0-9]){12}", False)),)
    locator = _CARD_CHAIN.pattern

    def scan(
        self, text: str, regions: tuple[str, ...] = (), located: list[str] | None = None
    ) -> tuple[list[Found], int]:
        found: list[Found] = []
        invalid = 0
        for m in self.runs(text, located):
            invalid += self._run(text, m, found)
        return found, invalid

    @staticmethod
    def runs(text: str, located: list[str] | None = None) -> Iterator[re.Match[str]]:
        """The :data:`_CARD_RUN` matches, looked for only inside the located chains (:data:`_CARD_CHAIN`)."""
        for lo, hi in located_spans(text, _CARD_CHAIN.findall(text) if located is None else located):
            yield from _CARD_RUN.finditer(text, lo, hi)

    @staticmethod
    def _run(text: str, m: re.Match[str], found: list[Found]) -> int:
        """Appends the cards of one run of digit groups to ``found``; 1 if it held candidates
        but no card, else 0."""
        run = m.group()
        base, e = m.span()
        if e < len(text) and (text[e].isalnum() or text[e] == "_" or (text[e] in ".,/-" and text[e + 1 : e + 2].isdigit())):
            cut = max(run.rfind(" "), run.rfind("-"))  # the last group is glued to a word or decimal
            if cut < 0:
                return 0
            run = run[:cut]
        if len(run) < 13:
            return 0
        parts = _SEP_SPLIT.split(run)
        groups = parts[::2]
        seps = parts[1::2]
        offsets = []
        pos = 0
        for g in groups:
            offsets.append(pos)
            pos += len(g) + 1
        i = 0
        n = len(groups)
        candidates = hits = 0
        while i < n:
            hit = None
            total = 0
            for j in range(i, n):
                total += len(groups[j])
                if total > 19 or (j > i and seps[j - 1] != seps[i]):
                    break
                if total < 13:
                    continue
                window = groups[i : j + 1]
                if j > i and tuple(len(g) for g in window) not in _CARD_LAYOUTS:
                    continue
                if j > i and ((i > 0 and seps[i - 1] != seps[i]) or (j < n - 1 and seps[j] != seps[i])):
                    continue  # an edge group is joined to a neighbour by another separator
                candidates += 1
                digits = "".join(window)
                at = base + offsets[i]
                if card_ok(digits) and _IBAN_HEAD.search(text, max(0, at - 40), at) is None:
                    hit = (at, base + offsets[j] + len(groups[j]), digits, j)
                    break
            if hit is not None:
                found.append(hit[:3])
                hits += 1
                i = hit[3] + 1
            else:
                i += 1
        return 1 if candidates and not hits else 0


# ---------------------------------------------------------------- IBAN

_IBAN = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z][0-9]{2}(?: ?[A-Z0-9]){11,30}")
_IBAN_START = re.compile(r"[A-Z]{2}[0-9]{2}")
"""The IBAN locator: two capitals and two digits, where every :data:`_IBAN` match starts (two
of them never overlap, so non-overlapping matches miss none)."""


class IbanDetector(Detector):
    """Country code, check digits and BBAN, compact or in groups of four separated by single
    spaces; the length must be the country's (``validators.IBAN_LENGTHS``) and mod-97 must be 1.
    Uppercase only (lowercase IBANs are rare and look like ordinary words)."""

    name = "iban"
    prefilters = (((r"[0-9]{2} ?[A-Z0-9]{4} ?[A-Z0-9]{4} ?[A-Z0-9]{2}", False), (r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} ?[A-Z0-9]{4}", False)),)
    locator = _IBAN_START.pattern

    def scan(
        self, text: str, regions: tuple[str, ...] = (), located: list[str] | None = None
    ) -> tuple[list[Found], int]:
        found: list[Found] = []
        invalid = 0
        n = len(text)
        pos = 0
        for m in self.candidates(text, located):
            s = m.start()
            if s < pos:
                continue  # inside an IBAN found before
            pos = s + 1  # a candidate runs on into what follows: the next one may start inside it
            cand = m.group()
            length = IBAN_LENGTHS.get(cand[:2])
            compact = cand.replace(" ", "")
            if length is None or len(compact) < length:
                invalid += 1
                continue
            # cut after the country's length; it must end at a group or candidate boundary
            seen = 0
            cut = 0
            for i, ch in enumerate(cand):
                if ch != " ":
                    seen += 1
                    if seen == length:
                        cut = i + 1
                        break
            value = cand[:cut]
            end = s + cut
            spaced = " " in value
            if (
                (end < n and text[end].isalnum())
                or (spaced and any(len(g) != 4 for g in value.split(" ")[:-1]))
                or (spaced and not 1 <= len(value.split(" ")[-1]) <= 4)
                or not iban_ok(compact[:length])
            ):
                invalid += 1
                continue
            found.append((s, end, compact[:length]))
            pos = end
        return found, invalid

    @staticmethod
    def candidates(text: str, located: list[str] | None = None) -> Iterator[re.Match[str]]:
        """Every :data:`_IBAN` match, by start (they may overlap), from the located starts."""
        for at, _ in located_spans(text, _IBAN_START.findall(text) if located is None else located):
            m = _IBAN.match(text, at)
            if m is not None:
                yield m


# ---------------------------------------------------------------- secrets

_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_PROVIDERS: tuple[tuple[str, tuple[str, ...], re.Pattern[str], frozenset[str]], ...] = tuple(
    (name, prefixes, re.compile(pattern), not_after)
    for name, prefixes, pattern, not_after in (
        ("aws_access_key_id", ("AKIA", "ASIA"), r"(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", _ALNUM),
        ("github_pat", ("github_pat_",), r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9])", _ALNUM | {"_"}),
        ("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9])", _ALNUM | {"_"}),
        ("gitlab_token", ("glpat-",), r"glpat-[A-Za-z0-9_-]{20,}", _ALNUM | {"_"}),
        ("slack_token", ("xox",), r"xox[abposr]-[A-Za-z0-9-]{10,250}", _ALNUM),
        ("stripe_key", ("sk_live_", "rk_live_", "pk_live_"), r"[spr]k_live_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])", _ALNUM),
        ("google_api_key", ("AIza",), r"AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])", _ALNUM),
        ("jwt", ("eyJ",), r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?![A-Za-z0-9_-])", _ALNUM | {"_", "-"}),
    )
)
"""(kind, literal prefixes, pattern matched at each prefix, characters that may not precede it)."""
_KEY_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY-----")
_KEY_END = re.compile(r"-----END[A-Z0-9 ]{0,40} PRIVATE KEY-----")
_KEY_BODY = re.compile(r"[A-Za-z0-9+/=\s:,.-]*")
_KEY_MAX = 65536
"""Longest private key block looked for (characters from BEGIN to END)."""


def _private_keys(text: str) -> list[tuple[int, int, str]]:
    """PEM private key blocks: BEGIN ... END, or BEGIN and the base64 body when END is missing."""
    out = []
    i = text.find("-----BEGIN")
    while i >= 0:
        head = _KEY_BEGIN.match(text, i)
        if head is None:
            i = text.find("-----BEGIN", i + 1)
            continue
        j = text.find("-----END", head.end(), head.end() + _KEY_MAX)
        tail = _KEY_END.match(text, j) if j >= 0 else None
        end = tail.end() if tail is not None else _KEY_BODY.match(text, head.end()).end()
        end = len(text[i:end].rstrip()) + i
        out.append((i, end, text[i:end]))
        i = text.find("-----BEGIN", end)
    return out
_PROVIDER_PREFILTER = (
    r"(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_|glpat-|xox[abposr]-|[spr]k_live_"
    r"|PRIVATE KEY-----|eyJ[A-Za-z0-9_-]{4,}\.|AIza[0-9A-Za-z_-]{35}"
)

SECRET_KEYWORDS: tuple[str, ...] = (
    "api_key", "apikey", "api-key", "key", "token", "secret", "password", "passwd", "pwd", "auth",
    "authorization", "credential", "credentials", "access_key", "private_key", "client_secret",
)
"""Words that make a high-entropy value after them a secret (``api_key = "..."``, ``token: ...``)."""

_ASSIGNED_VALUE = re.compile(r"[:=][>=]?[ \t]{0,4}[\"'`]?(?i:bearer[ \t]+)?([A-Za-z0-9+/_-]{%d,}={0,2})")
"""An assignment and a long value (``= "..."``, ``: ...``, ``=> ...``, ``: Bearer ...``)."""
_KEYWORD_BEFORE = re.compile(
    r"(?i)(?<![a-z])(?:api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|key|token|secret"
    r"|passw(?:or)?d|pwd|auth(?:orization)?|credentials?)"
    r"[A-Za-z0-9_.-]{0,20}[\"']?[ \t]{0,4}\Z"
)
"""A keyword (and the rest of its identifier, a closing quote, spaces) right before the assignment."""
_KEYWORD_PREFILTER: Chain = (
    (r"[:=][>=]?[ \t]*[\"'`]?(?i:bearer[ \t]+)?[A-Za-z0-9+/=_\-]{8}", False),
    (
        r"(?i)(?:key|token|secret|passw|pwd|auth|credential)[A-Za-z0-9_.\-]{0,20}[\"']?[ \t]*[:=][>=]?[ \t]*"
        r"[\"'`]?(?:bearer[ \t]+)?[A-Za-z0-9+/_\-]{8}",
        False,
    ),
)


def _mixed(value: str) -> bool:
    """Letters and digits both, or capitals and small letters each a quarter of the letters at
    least: random keys nearly always are; words, names and camelCase identifiers seldom."""
    if any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value):
        return True
    upper = sum(1 for ch in value if ch.isupper())
    lower = sum(1 for ch in value if ch.islower())
    return min(upper, lower) * 4 >= upper + lower > 0


class SecretDetector(Detector):
    """Credentials by provider format (private key blocks, AWS access key ids, GitHub and GitLab
    tokens, Slack, Stripe live keys, Google API keys, JWTs whose header is JSON with ``alg``), and
    high-entropy values right after a keyword and an assignment (``api_key = "..."``,
    ``token: ...``, ``Authorization: Bearer ...``): at least ``min_length`` characters of
    ``[A-Za-z0-9+/_-]`` (and ``=`` padding), mixed (:func:`_mixed`), with Shannon entropy >=
    ``threshold`` bits per character. Prose never matches: a keyword needs ``:``/``=`` and a
    long unbroken value.

    Mixed means letters and digits, or letters alone in both cases, capitals and small letters
    each at least a quarter of the letters: a digit is not required, since the keyword already
    says a secret follows, so ``api_key = "lOPgGFqXEcLvVPgRoNBLUbsHebXkNJVi"`` is one with or
    without a digit in it. Left alone: letters of one case, and camelCase words whose capitals
    are only the words' initials (``password = MyDatabasePasswordForProd``, an identifier)."""

    name = "secret"

    def __init__(self, threshold: float = 3.5, min_length: int = 20) -> None:
        self.threshold = threshold
        self.min_length = min_length
        self._assigned = re.compile(_ASSIGNED_VALUE.pattern % min_length)
        self.prefilters = (((_PROVIDER_PREFILTER, False),), _KEYWORD_PREFILTER)

    def scan(self, text: str, regions: tuple[str, ...] = ()) -> tuple[list[Found], int]:
        hits = _private_keys(text) if "-----BEGIN" in text else []
        invalid = 0
        for kind, prefixes, pattern, not_after in _PROVIDERS:
            for prefix in prefixes:
                i = text.find(prefix)
                while i >= 0:
                    m = pattern.match(text, i)
                    if m is not None and (i == 0 or text[i - 1] not in not_after):
                        if kind == "jwt" and not jwt_ok(m.group()):
                            invalid += 1
                        else:
                            hits.append((i, m.end(), m.group()))
                        i = text.find(prefix, m.end())
                    else:
                        i = text.find(prefix, i + 1)
        for m in self._assigned.finditer(text):
            s, e = m.span(1)
            if _KEYWORD_BEFORE.search(text, max(0, m.start() - 45), m.start()) is None:
                continue
            value = m.group(1)
            if shannon_entropy(value) >= self.threshold and _mixed(value):
                hits.append((s, e, value))
            else:
                invalid += 1
        hits.sort(key=lambda h: (h[0], -h[1]))
        found: list[Found] = []
        for h in hits:  # provider formats first at a position, nested or overlapping ones dropped
            if not found or h[0] >= found[-1][1]:
                found.append(h)
        return found, invalid


# ---------------------------------------------------------------- phone numbers

_PHONE = re.compile(
    # a character class first (so ``re`` scans for it fast), then the look-behinds on it; digit
    # runs are possessive (``+``): a shorter run leaves a digit next, where no separator and no
    # end can follow, so giving digits back never finds another match and only costs time
    r"[+(0-9](?<![\w+#$\u20ac\u00a3\u00a5.,/=@~-].)(?<![0-9]:.)"
    r"(?:(?<=\+)[0-9]{7,15}+(?![0-9]|[ \u00a0]?[-./(]?[ \u00a0]?[0-9])"  # E.164: + and 7-15 digits
    r"|(?:(?<=\+)[ ]?\(?[0-9]|(?<=\()[0-9]|(?<=[0-9]))[0-9]{0,14}+"
    r"(?:(?:[ \u00a0]?[-./][ \u00a0]?|[ \u00a0]?\(|\)[ \u00a0-]?|[ \u00a0])[0-9]{1,15}+){1,8})"
    r"(?!\w|-\w|[.,/:][0-9])"
)
_PHONE_GAP = re.compile(r"[ \u00a0]?[-./][ \u00a0]?|[ \u00a0]|[ \u00a0]?\(|\)[ \u00a0-]?")
_NON_DIGITS = re.compile(r"[^0-9]+")
_DATE = re.compile(
    r"[0-9]{4}[-./][01]?[0-9][-./][0-3]?[0-9](?![0-9])|(?:1[89]|20)[0-9]{2} [01]?[0-9] [0-3]?[0-9](?![0-9])"
    r"|(?<![0-9])[0-3]?[0-9][-./][0-3]?[0-9][-./](?:1[89]|20)?[0-9]{2}(?![0-9])"
)
_YYYYMMDD = re.compile(r"(?:1[89]|2[01])[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")
_YEAR_RANGE = re.compile(r"(?:1[89]|20)[0-9]{2} ?[-/,] ?(?:1[89]|20)[0-9]{2}")
_ZIP4 = re.compile(r"[0-9]{5}-[0-9]{4}")

LANG_REGIONS: dict[str, tuple[str, ...]] = {
    "en": ("US", "GB", "CA", "AU", "IE", "NZ", "IN", "ZA"),
    "de": ("DE", "AT", "CH"),
    "fr": ("FR", "BE", "CH", "CA", "LU"),
    "es": ("ES", "MX", "AR", "CO", "CL", "PE"),
    "it": ("IT", "CH"),
    "pt": ("PT", "BR"),
    "nl": ("NL", "BE"),
    "pl": ("PL",),
    "sv": ("SE",),
    "da": ("DK",),
    "no": ("NO",),
    "nb": ("NO",),
    "nn": ("NO",),
    "fi": ("FI",),
    "cs": ("CZ",),
    "sk": ("SK",),
    "hu": ("HU",),
    "ro": ("RO",),
    "bg": ("BG",),
    "hr": ("HR",),
    "sl": ("SI",),
    "et": ("EE",),
    "lv": ("LV",),
    "lt": ("LT",),
    "el": ("GR", "CY"),
    "tr": ("TR",),
    "ru": ("RU",),
    "uk": ("UA",),
    "ja": ("JP",),
    "zh": ("CN", "TW", "HK", "SG"),
    "ko": ("KR",),
    "hi": ("IN",),
    "bn": ("BD", "IN"),
    "ar": ("SA", "AE", "EG", "MA"),
    "he": ("IL",),
    "id": ("ID",),
    "ms": ("MY",),
    "th": ("TH",),
    "vi": ("VN",),
    "ca": ("ES", "AD"),
    "ga": ("IE",),
}
"""Language code (ISO 639-1, as language ID writes it) -> regions whose national formats are
tried first for documents in that language."""

_ISO639_3 = {
    "eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "spa": "es", "ita": "it", "por": "pt",
    "nld": "nl", "dut": "nl", "pol": "pl", "swe": "sv", "dan": "da", "nob": "nb", "nno": "nn", "fin": "fi",
    "ces": "cs", "slk": "sk", "hun": "hu", "ron": "ro", "bul": "bg", "hrv": "hr", "slv": "sl", "est": "et",
    "lvs": "lv", "lav": "lv", "lit": "lt", "ell": "el", "tur": "tr", "rus": "ru", "ukr": "uk", "jpn": "ja",
    "zho": "zh", "cmn": "zh", "kor": "ko", "hin": "hi", "ben": "bn", "arb": "ar", "ara": "ar", "heb": "he",
    "ind": "id", "zsm": "ms", "msa": "ms", "tha": "th", "vie": "vi", "cat": "ca", "gle": "ga",
}


def lang_regions(lang: str | None) -> tuple[str, ...]:
    """Regions implied by a language code (``de``, ``de-AT``, ``deu_Latn``, ``__label__de``); () if unknown."""
    if not lang:
        return ()
    code = re.split(r"[-_]", lang.removeprefix("__label__").strip().lower(), maxsplit=1)[0]
    return LANG_REGIONS.get(_ISO639_3.get(code, code), ())


def phone_shape_ok(cand: str) -> bool:
    """Whether a candidate is written like a phone number, before any library parses it.

    7-15 digits (8-15 without ``+``); separators between digit groups are one space, or one of
    ``-./`` with optional spaces, or parentheses around the area code (at most one pair, holding
    1-5 digits); one kind of ``-./`` only, and dots at least twice (one dot is a decimal).
    National numbers (no ``+``) need a separator, at most 6 groups and at most one single-digit
    group; a first group of one digit must be NANP's trunk prefix 1, separators are spaces or
    one of ``-./`` (with parentheses) but not both, and two groups need a
    leading 0 or parentheses (``030 12345678``, not ``11535 2774``). Refused look-alikes: dates
    (2024-01-15, 15.01.2024, 20071127), year ranges (1999-2004), ZIP+4 codes (02110-1301), dotted
    quads, ISBN-13 (978/979...).
    """
    intl = cand.startswith("+")
    body = cand[1:].lstrip() if intl else cand
    digits = _NON_DIGITS.sub("", body)
    nd = len(digits)
    if not (7 if intl else 8) <= nd <= 15:
        return False
    opens, closes = body.count("("), body.count(")")
    if opens != closes or opens > 1:
        return False
    if opens:
        a, b = body.find("("), body.find(")")
        if b < a or not 1 <= b - a - 1 <= 5 or not body[a + 1 : b].isdigit():
            return False
    gaps = _NON_DIGITS.findall(body)
    if not all(_PHONE_GAP.fullmatch(gap) for gap in gaps):
        return False
    if sum(1 for ch in "-./" if ch in body) > 1 or body.count(".") == 1 or body.count("/") > 1:
        return False
    if "." in body and any(gap != "." for gap in gaps):
        return False
    groups = [g for g in _NON_DIGITS.split(body) if g]
    if not intl:
        if not gaps or len(groups) > 6 or sum(1 for g in groups if len(g) == 1) > 1:
            return False
        if len(groups[0]) == 1 and groups[0] != "1":
            return False
        if any(ch in gap for gap in gaps for ch in "-./") and any(gap in (" ", "\u00a0") for gap in gaps):
            return False
        if len(groups) == 2 and body[0] not in "0(":
            return False
        if nd == 13 and digits[:3] in ("978", "979"):
            return False
        if _ZIP4.fullmatch(body):
            return False
    if "." in body and len(groups) == 4 and all(len(g) <= 3 for g in groups):
        return False
    if _DATE.search(body) or _YEAR_RANGE.search(body) or any(len(g) == 8 and _YYYYMMDD.fullmatch(g) for g in groups):
        return False
    return not all(len(g) == 4 and g[:2] in ("18", "19", "20") for g in groups)


def _breaks(text: str) -> set[int]:
    """Digit counts at which a written number breaks into groups (``(415) 555-2671`` -> {3, 6})."""
    out: set[int] = set()
    n = 0
    prev_digit = False
    for ch in text:
        if "0" <= ch <= "9":
            n += 1
            prev_digit = True
        else:
            if prev_digit:
                out.add(n)
            prev_digit = False
    return out


def _next_to_numbers(text: str, start: int, end: int) -> bool:
    """A digit right before or after the span, across at most three spaces (a row of numbers).

    A span that opens with ``+`` or ``(`` is a number of its own whatever is around it.
    """
    if text[start] in "+(":
        return False
    after = text[end : end + 4].lstrip(" ")
    if after and after[0].isdigit():
        return True
    before = text[max(0, start - 4) : start].rstrip(" ")
    return bool(before) and before[-1].isdigit() and len(before) < 4


@functools.lru_cache(maxsize=1024)
def _general_descs(country_code: int) -> tuple[tuple[frozenset[int], re.Pattern[str]], ...] | None:
    """(possible lengths, national number pattern) of the general description of every region that
    shares a calling code: a number valid in any of them matches one (libphonenumber checks the
    general description before any type). None for non-geographic codes (no pre-check)."""
    import phonenumbers

    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    out: dict[tuple[frozenset[int], str], re.Pattern[str]] = {}
    for region in regions:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        desc = meta.general_desc if meta is not None else None
        if desc is None or not desc.national_number_pattern:
            return None
        out[(frozenset(desc.possible_length or ()), desc.national_number_pattern)] = re.compile(desc.national_number_pattern)
    return tuple((lengths, pattern) for (lengths, _), pattern in out.items()) or None


@functools.lru_cache(maxsize=1024)
def _parsing_rules(region: str) -> tuple[str, re.Pattern[str] | None, re.Pattern[str] | None] | None:
    """(calling code, national prefix for parsing, international prefix) of a region whose
    national prefix is only ever stripped (no transform rule that rewrites digits); None
    otherwise (then no pre-check)."""
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.national_prefix_transform_rule:
        return None
    npp, idd = meta.national_prefix_for_parsing, meta.international_prefix
    return str(meta.country_code), re.compile(npp) if npp else None, re.compile(idd) if idd else None


def _strip(digits: str, prefix: re.Pattern[str] | None) -> str:
    m = prefix.match(digits) if prefix is not None else None
    return digits[m.end() :] if m is not None else digits


def _matches_general(nsns: Iterable[str], country_code: int) -> bool:
    descs = _general_descs(country_code)
    if descs is None:
        return True
    return any((not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) for nsn in nsns for lengths, pattern in descs)


def _may_be_valid(digits: str, region: str | None) -> bool:
    """Whether ``phonenumbers.parse`` and ``is_valid_number`` can accept these digits, without
    calling them: False only where no number they could make of them matches the general
    description (possible lengths and pattern) of any region sharing its calling code, which
    validity requires. The national significant number ``parse`` makes is a suffix of the
    digits (for regions whose prefix rules only strip): the digits, less a national prefix,
    less the region's own calling code, or both; after ``+``, the digits less the calling code
    (the first one to three digits that are one), less the national prefix. Numbers written
    with the region's international call prefix (``0044 ...``), regions with rewriting prefix
    rules (Argentina, Brazil, ...) and non-geographic codes are left to the library. Costs a
    few regular-expression matches where a parse costs tens of microseconds."""
    import phonenumbers

    if region is None:  # written with +
        if not digits or digits[0] == "0":
            return True
        for i in (1, 2, 3):
            cc = int(digits[:i])
            if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                main = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc][0]
                rules = _parsing_rules(main) if main != "001" else None
                if rules is None:
                    return True
                rest = digits[i:]
                return _matches_general((rest, _strip(rest, rules[1])), cc)
        return False  # no calling code: parse refuses it
    rules = _parsing_rules(region)
    if rules is None:
        return True
    cc, prefix, idd = rules
    if idd is not None and idd.match(digits):
        return True
    nsns = {digits, _strip(digits, prefix)}
    if digits.startswith(cc):
        rest = digits[len(cc) :]
        once = _strip(rest, prefix)
        nsns.update((rest, once, _strip(once, prefix)))
    return _matches_general(nsns, int(cc))


@functools.lru_cache(maxsize=1024)
def _national_prefix(region: str) -> re.Pattern[str] | None:
    """The region's national prefix for parsing, compiled (None when it has none)."""
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    npp = meta.national_prefix_for_parsing if meta is not None else None
    return re.compile(npp) if npp else None


_TYPE_DESCS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail", "fixed_line", "mobile")
"""The number types libphonenumber tries, in its order (``_number_type_helper``)."""


@functools.lru_cache(maxsize=1 << 14)
def _type_patterns(region: str, length: int) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """The region's general pattern and one alternation of the patterns of every number type
    whose possible lengths allow ``length`` (mobile only where its pattern differs from the fixed
    line's, as libphonenumber tries it); None when no number of that length can be valid."""
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    desc = meta.general_desc if meta is not None else None
    if desc is None or not desc.national_number_pattern or (desc.possible_length and length not in desc.possible_length):
        return None
    patterns = []
    for name in _TYPE_DESCS:
        d = getattr(meta, name)
        if name == "mobile" and meta.same_mobile_and_fixed_line_pattern:
            continue
        if d is None or not d.national_number_pattern or (d.possible_length and length not in d.possible_length):
            continue
        patterns.append(f"(?:{d.national_number_pattern})")
    if not patterns:
        return None
    return re.compile(desc.national_number_pattern), re.compile("|".join(patterns))


def _type_known(region: str, nsn: str) -> bool:
    """libphonenumber's ``_number_type_helper(nsn, metadata) != UNKNOWN`` for a region: the
    general description and some type's description (length and pattern) match."""
    known = _type_patterns(region, len(nsn))
    return known is not None and known[0].fullmatch(nsn) is not None and known[1].fullmatch(nsn) is not None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _valid(country_code: int, nsn: str) -> bool | None:
    """``phonenumbers.is_valid_number`` of the number with this calling code and national
    significant number, from the same metadata with one match per pattern set instead of one per
    number type: the region is the calling code's only one, else the first whose leading digits
    match or, without leading digits, whose types know the number (``region_code_for_number``);
    then that region's types must know it. None for non-geographic codes (ask the library)."""
    import phonenumbers

    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return False
    if regions[0] == "001":
        return None
    region = regions[0] if len(regions) == 1 else None
    if region is None:
        for candidate in regions:
            meta = phonenumbers.PhoneMetadata.metadata_for_region(candidate)
            if meta is None:
                continue
            if meta.leading_digits is not None:
                if _compiled(meta.leading_digits).match(nsn):
                    region = candidate
                    break
            elif _type_known(candidate, nsn):
                region = candidate
                break
        if region is None:
            return False
    return _type_known(region, nsn)


def _plain_international(digits: str) -> tuple[int, str] | None:
    """(calling code, national significant number) of ``phonenumbers.parse("+" + digits)``
    where parsing only splits off the calling code (the first one to three digits that are one,
    of a geographic region whose national prefix does not open the rest); None where parsing
    may do more (strip a national prefix: ``+44 020 ...``), which is then left to ``parse``."""
    import phonenumbers

    if not digits or digits[0] == "0":
        return None
    for i in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:i]))
        if regions:
            break
    else:
        return None
    rest = digits[i:]
    prefix = _national_prefix(regions[0]) if regions[0] != "001" else None
    if regions[0] == "001" or not 2 <= len(rest) <= 17 or (prefix is not None and prefix.match(rest)):
        return None
    return int(digits[:i]), rest


@functools.lru_cache(maxsize=1 << 16)
def _parse_international(digits: str) -> str | None:
    """E.164 of a valid ``+`` number (its digits after the plus), else None. Digits no region
    could accept skip the library (:func:`_may_be_valid`); where parsing only splits off the
    calling code (:func:`_plain_international`), validity comes from :func:`_valid` and the
    E.164 is the plus and the digits as written; other numbers go through ``parse``."""
    import phonenumbers

    if not _may_be_valid(digits, None):
        return None
    plain = _plain_international(digits)
    if plain is not None and (ok := _valid(*plain)) is not None:
        return "+" + digits if ok else None
    try:
        num = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164) if _is_valid(num) else None


def _is_valid(num: Any) -> bool:
    """``phonenumbers.is_valid_number``, by :func:`_valid` where it can answer."""
    import phonenumbers

    ok = _valid(num.country_code, phonenumbers.national_significant_number(num))
    return phonenumbers.is_valid_number(num) if ok is None else ok


@functools.lru_cache(maxsize=1 << 16)
def _parse_phone(cand: str, regions: tuple[str, ...]) -> str | None:
    """E.164 of a valid number: ``+`` numbers without a region, national ones per region in order.

    A national number must carry its digits as the region writes them: the digits of
    libphonenumber's national format (``030 12345678``, ``(415) 555-2671``, ``912 34 56 78``),
    or the national prefix and the national number (``1 415 555 2671``), or an international
    call prefix, the country code and the national number (``0044 20 7946 0958``). Written
    without a trunk prefix (``(415) 555-2671``; regions that have none, such as ES and IT), its
    group breaks must be among those of the national format. So a row of numbers that happens to
    be valid somewhere is not a phone number. Digits no region could accept skip the parse
    (:func:`_may_be_valid`); the national format is made only where the test needs it; results
    are cached per distinct candidate (``+`` numbers per digits), so a number repeated in a
    batch or a corpus is parsed once per process.
    """
    import phonenumbers

    digits = _NON_DIGITS.sub("", cand)
    if cand.startswith("+"):
        return _parse_international(digits)
    for region in regions:
        if not _may_be_valid(digits, region):
            continue
        try:
            num = phonenumbers.parse(cand, region)
        except phonenumbers.NumberParseException:
            continue
        if not _is_valid(num):
            continue
        nsn = phonenumbers.national_significant_number(num)
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        prefix = (meta.national_prefix if meta is not None else None) or ""
        idd = digits.startswith(("00", "011")) and digits.endswith(f"{num.country_code}{nsn}")
        written = idd or digits == prefix + nsn
        grouped = idd or (bool(prefix) and digits.startswith(prefix))
        if not (written and grouped):
            formatted = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
            if not written and digits != _NON_DIGITS.sub("", formatted):
                continue
            if not grouped and not _breaks(cand) <= _breaks(formatted):
                continue  # no trunk prefix to go by: the groups must be the region's (415 555 2671)
        return f"+{num.country_code}{nsn}"
    return None


class PhoneDetector(Detector):
    """Phone numbers: a phone-shaped candidate (:func:`phone_shape_ok`) that ``phonenumbers``
    (libphonenumber's metadata) finds valid. ``+`` numbers, grouped or written E.164 without
    separators (``+12015550123``, ``+4930123456``), are parsed without a region; national
    ones are tried against the document's regions in order. Never after a version keyword, never
    glued to a word, a decimal, ``#`` (issue numbers) or a currency sign (prices), never in a row
    of numbers, never continuing an IBAN-shaped string (:data:`_IBAN_HEAD`, valid or not: ``NL78
    ABNA 0261 4007 83``). A candidate opening with ``+`` or ``(`` that
    fails is retried cut at a space where the rest uses a separator the head does not (a number
    written right before another one: ``+44 20 7946 0958 8.8.8.8``)."""

    name = "phone"
    uses_regions = True
    skips_taken = True
    prefilters = (((_DIGITS_7, False),),)

    def scan(
        self, text: str, regions: tuple[str, ...] = (), taken: list[tuple[int, int]] | tuple[()] = ()
    ) -> tuple[list[Found], int]:
        found: list[Found] = []
        invalid = 0
        for m in _PHONE.finditer(text):
            s, e = m.span()
            if taken:
                over = [a for a, b in taken if a < e and s < b]
                if over:
                    if min(over) <= s:
                        continue  # starts inside a span of a higher-priority type
                    e = s + len(text[s : min(over)].rstrip(" -./("))  # runs into one: cut before it
            if e - s < 7:  # fewer than the 7 digits of the shortest number (a version, a date, a price)
                invalid += 1
                continue
            hit = self._check(text, s, e, regions)
            if hit is None and text[s] in "+(":
                # a number that opens with + or ( may run into a number after it: drop trailing groups
                cand = text[s:e]
                while True:
                    cut = cand.rfind(" ")
                    if cut <= 1:
                        break
                    tail = cand[cut:]
                    cand = cand[:cut].rstrip(" -./(")
                    if not any(ch in tail and ch not in cand for ch in "-./()"):
                        continue  # the tail is written like the head: one number, not two
                    hit = self._check(text, s, s + len(cand), regions)
                    if hit is not None:
                        break
            if hit is None:
                invalid += 1
            else:
                found.append(hit)
        return found, invalid

    @staticmethod
    def _check(text: str, s: int, e: int, regions: tuple[str, ...]) -> Found | None:
        cand = text[s:e]
        if not phone_shape_ok(cand) or _next_to_numbers(text, s, e):
            return None
        if cand[0] != "+" and (
            _version_context(text, s)
            or (s > 1 and text[s - 1] == " " and _IBAN_HEAD.search(text, max(0, s - 40), s) is not None)
        ):
            return None
        value = _parse_phone(cand, regions)
        return None if value is None else (s, e, value)


# ---------------------------------------------------------------- custom


def rust_regex_ok(pattern: str) -> bool:
    """Whether Polars (Rust ``regex``) compiles the pattern, so it can prefilter documents."""
    import polars as pl

    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception:  # noqa: BLE001 - any compile error means: scan every document
        return False
    return True


class CustomDetector(Detector):
    """A user's named regex (Python ``re`` syntax): every non-empty match is a span, its text the
    normalised value. When Rust's regex engine also compiles the pattern, Polars uses it to pick
    the documents to scan; otherwise every non-empty document is scanned."""

    def __init__(self, name: str, pattern: str) -> None:
        self.name = name
        self.pattern = pattern
        self._re = re.compile(pattern)
        self.prefilters = (((pattern, False),),) if rust_regex_ok(pattern) else ()

    def scan(self, text: str, regions: tuple[str, ...] = ()) -> tuple[list[Found], int]:
        return [(m.start(), m.end(), m.group()) for m in self._re.finditer(text) if m.end() > m.start()], 0


def build_detectors(
    types: Iterable[str],
    custom: dict[str, str],
    *,
    entropy_threshold: float,
    entropy_min_length: int,
) -> list[Detector]:
    """The enabled detectors in priority order: built-in types by :data:`BUILTIN_TYPES`, then custom ones."""
    enabled = set(types)
    out: list[Detector] = []
    for name in BUILTIN_TYPES:
        if name not in enabled:
            continue
        if name == "secret":
            out.append(SecretDetector(entropy_threshold, entropy_min_length))
        else:
            out.append(_SIMPLE[name]())
    out.extend(CustomDetector(name, pattern) for name, pattern in custom.items())
    return out


_SIMPLE: dict[str, type[Detector]] = {
    "credit_card": CreditCardDetector,
    "iban": IbanDetector,
    "email": EmailDetector,
    "ipv6": IPv6Detector,
    "ipv4": IPv4Detector,
    "phone": PhoneDetector,
}
