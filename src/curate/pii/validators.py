"""Checks that turn a candidate match into a detection: checksums, tables and look-alike tests.

Every function takes the candidate's text (already cut out of the document) and answers from it
alone, so each can be tested against published good and bad values.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import ipaddress
import json
import math
from collections import Counter

# ---------------------------------------------------------------- payment cards

_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum of a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        total += _LUHN_DOUBLE[d] if i & 1 else d
    return total % 10 == 0


def _ranges(*spec: tuple[int, int, int]) -> tuple[tuple[int, int, int], ...]:
    return spec


# (prefix length, low, high) -> issuer and the card lengths it issues
_ISSUERS: tuple[tuple[str, tuple[tuple[int, int, int], ...], frozenset[int]], ...] = (
    ("amex", _ranges((2, 34, 34), (2, 37, 37)), frozenset({15})),
    ("visa", _ranges((1, 4, 4)), frozenset({13, 16, 19})),
    ("mastercard", _ranges((2, 51, 55), (4, 2221, 2720)), frozenset({16})),
    ("discover", _ranges((4, 6011, 6011), (3, 644, 649), (2, 65, 65)), frozenset(range(16, 20))),
    ("jcb", _ranges((4, 3528, 3589)), frozenset(range(16, 20))),
    ("diners", _ranges((3, 300, 305), (3, 309, 309), (2, 36, 36), (2, 38, 39)), frozenset(range(14, 20))),
    ("unionpay", _ranges((2, 62, 62)), frozenset(range(16, 20))),
    (
        "maestro",
        _ranges((4, 5018, 5018), (4, 5020, 5020), (4, 5038, 5038), (4, 5893, 5893), (4, 6304, 6304),
                (4, 6759, 6759), (4, 6761, 6763)),
        frozenset(range(13, 20)),
    ),
)


def card_issuer(digits: str) -> str | None:
    """The issuer whose prefix and length ``digits`` (13-19 ASCII digits) fit, else None."""
    n = len(digits)
    for name, ranges, lengths in _ISSUERS:
        if n not in lengths:
            continue
        for width, low, high in ranges:
            if low <= int(digits[:width]) <= high:
                return name
    return None


def card_ok(digits: str) -> bool:
    """13-19 digits, a known issuer's prefix and length, and the Luhn checksum."""
    return 13 <= len(digits) <= 19 and card_issuer(digits) is not None and luhn_ok(digits)


# ---------------------------------------------------------------- IBAN

IBAN_LENGTHS: dict[str, int] = {
    # SEPA
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "VA": 22,
    # others in the IBAN registry
    "AE": 23, "AL": 28, "AZ": 28, "BA": 20, "BH": 22, "BR": 29, "BY": 28, "CR": 22, "DO": 28,
    "EG": 29, "FO": 18, "GE": 22, "GL": 18, "GT": 28, "IL": 23, "IQ": 23, "JO": 30, "KW": 30,
    "KZ": 20, "LB": 28, "LC": 32, "LY": 25, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MU": 30,
    "PK": 24, "PS": 29, "QA": 29, "RS": 22, "SA": 24, "SC": 31, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}
"""Country code -> IBAN length (the SWIFT IBAN registry; SEPA countries first)."""


_LETTER_VALUES = {ord(ch): str(int(ch, 36)) for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}


def iban_mod97_ok(iban: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters as 10..35, mod 97 == 1."""
    s = iban[4:] + iban[:4]
    digits = s.translate(_LETTER_VALUES)
    return digits.isdecimal() and int(digits) % 97 == 1


def iban_ok(iban: str) -> bool:
    """A compact IBAN (no spaces, uppercase): known country, its length, check digits and mod-97."""
    length = IBAN_LENGTHS.get(iban[:2])
    return (
        length is not None
        and len(iban) == length
        and iban[2:4].isdigit()
        and iban.isascii()
        and iban.isalnum()
        and iban_mod97_ok(iban)
    )


# ---------------------------------------------------------------- secrets


def shannon_entropy(token: str) -> float:
    """Shannon entropy of the token's characters, in bits per character."""
    if not token:
        return 0.0
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in Counter(token).values())


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_ok(token: str) -> bool:
    """Three base64url parts whose header decodes to a JSON object with an ``alg`` member."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return False
    try:
        header = json.loads(_b64url(parts[0]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header


# ---------------------------------------------------------------- IP addresses

_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV6_SPECIAL = tuple(
    ipaddress.IPv6Network(n) for n in ("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")
)
"""IETF protocol assignments (TEREDO, ORCHID, benchmarking...), documentation, 6to4, and the
new documentation prefix: not host addresses, whatever the Python version's tables say."""


_IPV4_SPECIAL = tuple(
    sorted(
        (int(n.network_address), int(n.broadcast_address))
        for n in map(
            ipaddress.IPv4Network,
            (
                "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
                "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
            ),
        )
    )
)
"""IANA's special-purpose IPv4 ranges that are not globally reachable, multicast and reserved
(one table, whatever the Python version's ``ipaddress`` says)."""
_IPV4_STARTS = tuple(a for a, _ in _IPV4_SPECIAL)


def ipv4_global(text: str) -> bool:
    """Four decimal octets (no leading zeros) of an address that is globally routable.

    Not: this network, private (10/8, 172.16/12, 192.168/16), shared (CGNAT 100.64/10),
    loopback, link-local, IETF protocol assignments (192.0.0/24), documentation (TEST-NET-1..3),
    6to4 relays, benchmarking (198.18/15), multicast (224/4), reserved and broadcast (240/4).
    """
    parts = text.split(".")
    if len(parts) != 4:
        return False
    value = 0
    for p in parts:
        if not p.isdigit() or (len(p) > 1 and p[0] == "0"):
            return False
        octet = int(p)
        if octet > 255:
            return False
        value = value << 8 | octet
    i = bisect.bisect_right(_IPV4_STARTS, value) - 1
    return i < 0 or value > _IPV4_SPECIAL[i][1]


def _merged(nets: list[ipaddress.IPv6Network]) -> tuple[tuple[int, int], ...]:
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in nets)
    out: list[tuple[int, int]] = []
    for lo, hi in spans:
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


_PRIVATE_V6 = getattr(getattr(ipaddress.IPv6Address, "_constants", None), "_private_networks", None)
"""The running Python's table behind ``IPv6Address.is_global`` (``not is_private``), when it
has one where we can read it; else every address is asked (``is_global``)."""
_IPV6_NOT_GLOBAL = _merged(
    [*_IPV6_SPECIAL, *(n for n in _PRIVATE_V6 or () if isinstance(n, ipaddress.IPv6Network) and n.overlaps(_GLOBAL_UNICAST))]
)
"""Ranges inside 2000::/3 that are not global (the special blocks above and the running Python's
private networks there), merged, as integers: one bisect instead of a dozen network tests."""
_IPV6_NOT_GLOBAL_STARTS = tuple(lo for lo, _ in _IPV6_NOT_GLOBAL)


def ipv6_global_address(text: str) -> ipaddress.IPv6Address | None:
    """The address, when the text parses as an IPv6 address in global unicast space (2000::/3)
    that is globally routable (documentation 2001:db8::/32 and 3fff::/20, 6to4 2002::/16, the
    IETF protocol block 2001::/23 with TEREDO and ORCHID are not; nor is any address that
    ``ipaddress`` calls not global); else None."""
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    value = int(addr)
    if value >> 125 != 1:  # outside 2000::/3 (multicast ff00::/8 among them)
        return None
    i = bisect.bisect_right(_IPV6_NOT_GLOBAL_STARTS, value) - 1
    if i >= 0 and value <= _IPV6_NOT_GLOBAL[i][1]:
        return None
    if _PRIVATE_V6 is None and not addr.is_global:
        return None
    return addr


def ipv6_global(text: str) -> bool:
    """Whether :func:`ipv6_global_address` accepts the text."""
    return ipv6_global_address(text) is not None


# ---------------------------------------------------------------- e-mail


@functools.cache
def known_tlds() -> frozenset[str]:
    """The shipped TLD list (lowercase; IDN TLDs as punycode); read once per process."""
    from curate.pii.data import TLDS_TXT

    return frozenset(line.strip() for line in TLDS_TXT.read_text(encoding="ascii").splitlines() if line.strip())


def tld_known(tld: str) -> bool:
    """Whether the last label of a domain is a delegated top-level domain (case-insensitive;
    Unicode labels are compared in their punycode form)."""
    tld = tld.lower()
    if not tld.isascii():
        try:
            tld = tld.encode("idna").decode("ascii")
        except UnicodeError:
            return False
    return tld in known_tlds()
