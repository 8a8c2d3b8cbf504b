"""Each detector finds its type and leaves look-alikes alone; its Polars prefilter never drops a
document that its Python scan would find something in."""

from __future__ import annotations

import base64
import json
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.pii.detectors import (
    _CARD_RUN,
    _IBAN,
    _IPV4,
    CreditCardDetector,
    CustomDetector,
    Detector,
    EmailDetector,
    IbanDetector,
    IPv4Detector,
    IPv6Detector,
    PhoneDetector,
    SecretDetector,
    lang_regions,
    phone_shape_ok,
)

DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN")


def prefilter_accepts(det: Detector, text: str) -> bool:
    if not det.prefilters:
        return bool(text)
    s = pl.Series([text], dtype=pl.String)
    return any(all(s.str.contains(p, literal=lit)[0] for p, lit in chain) for chain in det.prefilters)


def found(det: Detector, text: str, regions: tuple[str, ...] = DEFAULT_REGIONS) -> list[str]:
    """The texts of the spans found, checking that the prefilter lets the document through."""
    spans, _ = det.scan(text, regions)
    if spans:
        assert prefilter_accepts(det, text), f"{det.name} prefilter drops {text!r}"
    return [text[s:e] for s, e, _ in spans]


# ---------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write to john.doe@example.com.", ["john.doe@example.com"]),
        ("<a+tag@mail.sub.example.co.uk>", ["a+tag@mail.sub.example.co.uk"]),
        ("John.Doe@EXAMPLE.ORG, jane_d-1@host.dev", ["John.Doe@EXAMPLE.ORG", "jane_d-1@host.dev"]),
        ("mailto:x1@foo.photography?subject=hi", ["x1@foo.photography"]),
        ("jöhn@exämple.de and user@example.xn--p1ai", ["jöhn@exämple.de", "user@example.xn--p1ai"]),
        ("git@github.com:org/repo.git", ["git@github.com"]),
    ],
)
def test_email_positives(text: str, expected: list[str]) -> None:
    assert found(EmailDetector(), text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "user@localhost", "foo@bar", "x@example.invalidtld", "name@domain.c", "@handle on social media",
        "a@b", "price 5@3.50", ".leading.dot@", "two..dots@example.com", "trailing.@example.com",
        "user@-example.com",
    ],
)
def test_email_negatives(text: str) -> None:
    assert found(EmailDetector(), text) == []


def test_email_value_is_lowercased_for_pseudonyms() -> None:
    spans, _ = EmailDetector().scan("Mail John.Doe@Example.COM")
    assert spans == [(5, 25, "john.doe@example.com")]


# ---------------------------------------------------------------- IP addresses


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("resolver 8.8.8.8, then 1.1.1.1.", ["8.8.8.8", "1.1.1.1"]),
        ('93.184.216.34 - - [10/Oct/2000:13:55:36 -0700] "GET /"', ["93.184.216.34"]),
        ("http://151.101.1.69/path and 151.101.1.69:443", ["151.101.1.69", "151.101.1.69"]),
        ("8.8.8.8 dns.google", ["8.8.8.8"]),
        ("data is updated. Connecting to 19.115.218.90:443 ...", ["19.115.218.90"]),
    ],
)
def test_ipv4_positives(text: str, expected: list[str]) -> None:
    assert found(IPv4Detector(), text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "private 192.168.1.1, 10.0.0.1 and loopback 127.0.0.1",
        "docs 192.0.2.1, 198.51.100.7, 203.0.113.9; multicast 224.0.0.251",
        "version 1.2.3.4", "Version: 8.8.8.8", "v2.10.0.1", "release 4.4.0.3", "1.2.3.4.5",
        "linux-2.6.32.5-1", "pkg (2.7.0.9-2) unstable", "Firefox/2.0.0.1", "novas==3.1.1.3",
        "See Section 7.8.2.2 for examples", "Bump Standards-Version to 4.6.0.1.",
        "debianutils (4.8.6.3) unstable; urgency=medium",
        "\n19.2.2.1. NFS\n", "256.1.1.1", "01.02.03.04", "Up: Numeric Types\n\n5.4.4.1 Bitwise Operations\n..............\n",
    ],
)
def test_ipv4_lookalikes_left_alone(text: str) -> None:
    assert found(IPv4Detector(), text) == []


@pytest.mark.parametrize(
    "text",
    [
        "1.21.78.3 Library\n\n- bpo-1234: fixed a crash",  # a numbered heading, nothing underlined
        "* 1.21.78.3 Library\n* 1.21.78.4 IDLE\n",  # a table of contents
        "  - 5.18.1.100 Policies",
        "## 11.2.3.7 How do I use strings to call functions?",
        "4.8.4.1 \u2018except\u2019 clause",
    ],
)
def test_ipv4_section_numbers_opening_a_line_left_alone(text: str) -> None:
    assert found(IPv4Detector(), text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("93.184.216.34 - - [10/Oct/2000:13:55:36 -0700]", ["93.184.216.34"]),  # a log line: no title word
        ("93.184.216.34 example.com www.example.com  # web", ["93.184.216.34"]),  # a hosts file line
        ("151.101.1.69\texample.org", ["151.101.1.69"]),
        ("See 151.101.1.69 Library hours", ["151.101.1.69"]),  # not at the start of a line
        ("93.184.216.34 was the address", ["93.184.216.34"]),  # 93: no chapter number
    ],
)
def test_ipv4_opening_a_line_without_a_title_is_an_address(text: str, expected: list[str]) -> None:
    assert found(IPv4Detector(), text) == expected


@pytest.mark.parametrize(
    "text",
    ["zlib 1.2.3.4", "Added 2.8.0.3 patch", "Moved 2.7.0.9 out of experimental", "vac 5.0.0.0",
     "symbols changed between 2.1.8.2 and now", "ping\n1.1.1.1"],  # the IP word is on another line
)
def test_ipv4_small_parts_are_a_version_without_ip_context(text: str) -> None:
    assert found(IPv4Detector(), text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ping 1.1.1.1", ["1.1.1.1"]),
        ("nameserver 9.9.9.9", ["9.9.9.9"]),
        ("8.8.8.8 dns.google", ["8.8.8.8"]),
        ("client_ip = '8.8.4.4'", ["8.8.4.4"]),
        ("query 9.9.9.9:53 first", ["9.9.9.9"]),
        ("block 4.2.2.0/24 now", ["4.2.2.0"]),
        ("see http://1.1.1.1/help", ["1.1.1.1"]),
        ("saw 93.184.216.34 again", ["93.184.216.34"]),  # a part above 31: no context needed
    ],
)
def test_ipv4_small_parts_with_ip_context_are_addresses(text: str, expected: list[str]) -> None:
    assert found(IPv4Detector(), text) == expected


def test_ipv6() -> None:
    det = IPv6Detector()
    assert found(det, "DNS 2001:4860:4860::8888 and [2606:4700:4700::1111]:53") == ["2001:4860:4860::8888", "2606:4700:4700::1111"]
    assert found(det, "full 2001:0DB9:85A3:0000:0000:8A2E:0370:7334 form") == ["2001:0DB9:85A3:0000:0000:8A2E:0370:7334"]
    spans, _ = det.scan("x 2001:4860:4860:0:0:0:0:8888 y")
    assert spans[0][2] == "2001:4860:4860::8888"  # normalised: compressed
    for text in ("doc 2001:db8::1", "fe80::1%eth0", "::1", "fc00::17", "ff02::1", "at 10:00:00 UTC", "std::vector<int>", "a::b::c"):
        assert found(det, text) == [], text


# ---------------------------------------------------------------- payment cards


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111 1111 1111 1111 exp 12/27", ["4111 1111 1111 1111"]),
        ("card 4111-1111-1111-1111.", ["4111-1111-1111-1111"]),
        ("amex 3782 822463 10005 ok", ["3782 822463 10005"]),
        ("diners 3056 930902 5904", ["3056 930902 5904"]),
        ("plain 5555555555554444 here", ["5555555555554444"]),
        ("order 1234 4111 1111 1111 1111", ["4111 1111 1111 1111"]),
        ("unionpay 6205 5000 0000 0000 004", ["6205 5000 0000 0000 004"]),
        ("+1 415-555-2671 4111 1111 1111 1111.", ["4111 1111 1111 1111"]),  # not 2671 4111 1111 1111
        ("Ref AB12 4111 1111 1111 1111", ["4111 1111 1111 1111"]),  # AB issues no IBANs
    ],
)
def test_card_positives(text: str, expected: list[str]) -> None:
    assert found(CreditCardDetector(), text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn
        "1234 5678 9012 3456",  # no issuer
        "4111 1111-1111 1111",  # mixed separators
        "41 11 11 11 11 11 11 11",  # not a card layout
        "id 41111111111111111111111",  # inside a longer run
        "pi 3.4111111111111111",  # decimal
        "ISBN 978-3-16-148410-0",
        "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "IBAN FR76 4111 1111 1111 1111 123",  # the digits of an IBAN
        "IBAN: DE26 2414 2363 2794 1809 69",  # of an IBAN with a wrong check
    ],
)
def test_card_lookalikes_left_alone(text: str) -> None:
    assert found(CreditCardDetector(), text) == []


# ---------------------------------------------------------------- IBAN


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFF", ["DE89 3704 0044 0532 0130 00"]),
        ("IBAN: GB29NWBK60161331926819.", ["GB29NWBK60161331926819"]),
        ("FR14 2004 1010 0505 0001 3M02 606 EUR", ["FR14 2004 1010 0505 0001 3M02 606"]),
        ("NL91 ABNA 0417 1643 00 FOOBAR", ["NL91 ABNA 0417 1643 00"]),
    ],
)
def test_iban_positives(text: str, expected: list[str]) -> None:
    assert found(IbanDetector(), text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "DE89 3704 0044 0532 0130 01",  # check digits
        "DE89370400440532013000X",  # glued to more letters
        "XX89 3704 0044 0532 0130 00",  # no such country
        "DE8 93704 0044 0532 0130 00",  # not grouped by four
        "de89 3704 0044 0532 0130 00",  # lowercase
    ],
)
def test_iban_lookalikes_left_alone(text: str) -> None:
    assert found(IbanDetector(), text) == []


# ---------------------------------------------------------------- secrets


def _jwt(header: dict) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")  # noqa: E731
    return f"{enc(header)}.{enc({'sub': '1234567890', 'name': 'John'})}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("aws AKIAIOSFODNN7EXAMPLE key", ["AKIAIOSFODNN7EXAMPLE"]),
        ("token ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8" + " end", ["ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"]),
        ("gl glpat-abcDEF1234567890xyzW", ["glpat-abcDEF1234567890xyzW"]),
        ("slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", ["xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"]),
        ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", ["sk_live_4eC39HqLyjWDarjtT1zdp7dc"]),
        ("google AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", ["AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q"]),
        ('api_key = "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW"', ["aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW"]),
        ("token: 9f8e7d6c5b4a39281706f5e4d3c2b1a0", ["9f8e7d6c5b4a39281706f5e4d3c2b1a0"]),
        ("api_key := 'Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh'", ["Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh"]),
        ("'secret' => 'Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh',", ["Zx8Qw2Er4Ty6Ui8Op0As2Df4Gh"]),
        ("Authorization: Bearer Zm9vYmFyMTIzNDU2Nzg5MGFiY2RlZg==", ["Zm9vYmFyMTIzNDU2Nzg5MGFiY2RlZg=="]),
        ("DB_PASSWORD=Xk9#", []),  # too short
        ('client_secret = "MndeiAWcSYqZTBbUVYvIzCTHqfWLHxCi"', ["MndeiAWcSYqZTBbUVYvIzCTHqfWLHxCi"]),  # no digits, mixed case
        ("password = MyDatabasePasswordForProd", []),  # camelCase words
    ],
)
def test_secret_positives(text: str, expected: list[str]) -> None:
    assert found(SecretDetector(), text) == expected


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ("lOPgGFqXEcLvVPgRoNBLUbsHebXkNJVi", True),  # both cases, no digit
        ("lOPgGFqXEcLvVPgRoNBLUbsHebXkNJV1", True),  # the same with a digit
        ("lopggfqxeclvvpgronblubshebxknjvi", False),  # one case
        ("MyDatabasePasswordForProduction", False),  # capitals only at word starts
    ],
)
def test_secret_letters_in_both_cases_need_no_digit(value: str, secret: bool) -> None:
    text = f'api_key = "{value}"'
    assert found(SecretDetector(), text) == ([value] if secret else [])


def test_secret_blocks_and_jwts() -> None:
    det = SecretDetector()
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM\n-----END RSA PRIVATE KEY-----"
    assert found(det, f"key:\n{block}\nafter") == [block]
    jwt = _jwt({"alg": "HS256", "typ": "JWT"})
    assert found(det, f"Cookie: session={jwt};") == [jwt]
    assert found(det, f"x {_jwt({'typ': 'JWT'})} y") == []  # no alg: not a JWT


@pytest.mark.parametrize(
    "text",
    [
        "The key to success is patience and a token of goodwill.",
        "Set the password in the configuration file, then restart the authentication service.",
        "secret: aaaaaaaaaaaaaaaaaaaaaaaaaaaa",  # low entropy
        "key = the_quick_brown_fox_jumps_over",  # words, no digits
        "primary key: customer_id_reference_col",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # no keyword
        "uuid 123e4567-e89b-12d3-a456-426614174000",
    ],
)
def test_secret_prose_and_hashes_left_alone(text: str) -> None:
    assert found(SecretDetector(), text) == []


def test_entropy_threshold_is_configurable() -> None:
    text = 'token = "abcabcabcabc1234abcabcabc"'
    assert found(SecretDetector(threshold=2.0), text) == ["abcabcabcabc1234abcabcabc"]
    assert found(SecretDetector(threshold=3.5), text) == []


# ---------------------------------------------------------------- phone numbers


@pytest.mark.parametrize(
    ("text", "regions", "expected"),
    [
        ("Call +44 20 7946 0958 today", (), ["+44 20 7946 0958"]),
        ("Ruf an: 030 12345678.", lang_regions("de"), ["030 12345678"]),
        ("Appelez le 01 23 45 67 89 !", lang_regions("fr"), ["01 23 45 67 89"]),
        ("Mobile +91 98765 43210", (), ["+91 98765 43210"]),
        ("Call (415) 555-2671 now", ("US",), ["(415) 555-2671"]),
        ("Tel. 030/12345678", ("DE",), ["030/12345678"]),
        ("or 415.555.2671", ("US",), ["415.555.2671"]),
        ("+1 (415) 555-2671", (), ["+1 (415) 555-2671"]),
        ("Tel:+33 1 23 45 67 89", (), ["+33 1 23 45 67 89"]),
        ("from abroad 0044 20 7946 0958", ("DE",), ["0044 20 7946 0958"]),
        ("E.164 +917410417315.", (), ["+917410417315"]),
        ("+44 20 7946 0958 8.8.8.8", (), ["+44 20 7946 0958"]),  # a number right after it
    ],
)
def test_phone_positives(text: str, regions: tuple[str, ...], expected: list[str]) -> None:
    assert found(PhoneDetector(), text, regions) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tel.: +12015550123", ["+12015550123"]),
        ("call +4930123456 now", ["+4930123456"]),
        ("+441212345678.", ["+441212345678"]),
        ("Tel.: +1201555012", []),  # nine national digits: no valid NANP number
        ("Tel.: +12015550123456", []),  # too long
        ("ref+12015550123", []),  # glued to a word
        ("x = +12015550123.5", []),  # a decimal
    ],
)
def test_phone_e164_without_separators(text: str, expected: list[str]) -> None:
    assert found(PhoneDetector(), text, ()) == expected


def test_phone_regions_decide_national_numbers() -> None:
    det = PhoneDetector()
    assert found(det, "Ruf an: 030 12345678.", ("US",)) == []
    assert found(det, "Ruf an: 030 12345678.", ("US", "DE")) == ["030 12345678"]
    spans, _ = det.scan("Ruf an: 030 12345678.", ("DE",))
    assert spans[0][2] == "+493012345678"  # normalised: E.164


@pytest.mark.parametrize(
    "text",
    [
        "on 2024-01-15 at noon", "am 15.01.2024", "date 20071127-1", "(c) 1999-2004 the authors",
        "version 1.2.3.4567", "ISBN 978-3-16-148410-0", "pi = 3.14159265358", "price $1,234,567.00",
        "MA 02110-1301, USA", "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "uuid 123e4567-e89b-12d3-a456-426614174000", "id 12345678901234567890", "#1234567890",
        "0711-317 ERROR", "11535 2774   8791 228", "0 1 1 2 3 5 8 13 21 34 55 89 144",
        "26 27 28 29 30", "4155552671", "timestamp 1700000000", "ISO/IEC 80000-13",
        "IBAN: NL78 ABNA 0261 4007 83", "ID +39 803 070 2500",
    ],
)
def test_phone_lookalikes_left_alone(text: str) -> None:
    assert found(PhoneDetector(), text) == []


_PHONE_SAMPLE_REGIONS = ("US", "CA", "JM", "GB", "GG", "IM", "RU", "KZ", "IT", "VA", "NO", "SJ", "AU", "CX", "DE", "FR",
                         "IN", "BR", "AR", "MX", "JP", "NL", "ES", "CH", "AT", "BE")
"""Regions that share calling codes (NANP, +44, +7, +39, +47, +61), rewrite prefixes (AR, BR, MX)
or keep leading zeros (IT)."""


def _phone_samples() -> list[tuple[str, Any]]:
    """(region, number): libphonenumber's example number of every type of those regions, and
    seeded one-digit edits of each (mostly invalid)."""
    import random

    import phonenumbers

    rnd = random.Random(0)
    out = []
    for region in _PHONE_SAMPLE_REGIONS:
        for kind in ("FIXED_LINE", "MOBILE", "TOLL_FREE", "PREMIUM_RATE", "VOIP", "UAN", "PERSONAL_NUMBER", "SHARED_COST"):
            num = phonenumbers.example_number_for_type(region, getattr(phonenumbers.PhoneNumberType, kind))
            if num is None:
                continue
            out.append((region, num))
            nsn = phonenumbers.national_significant_number(num)
            for _ in range(3):
                k = rnd.randrange(len(nsn))
                edited = nsn[:k] + rnd.choice("0123456789") + nsn[k + rnd.choice((0, 1)) :]
                out.append((region, phonenumbers.parse(f"+{num.country_code}{edited}", None)))
    return out


def test_phone_validation_shortcuts_agree_with_phonenumbers() -> None:
    """The pre-check never refuses what the library accepts, and the direct validity test and
    E.164 path give the library's answers."""
    import phonenumbers

    from curate.pii.detectors import _is_valid, _may_be_valid, _parse_international

    for region, num in _phone_samples():
        valid = phonenumbers.is_valid_number(num)
        assert _is_valid(num) == valid, num
        e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        reparsed = phonenumbers.parse(e164, None)
        expected = e164 if phonenumbers.is_valid_number(reparsed) else None
        assert _parse_international.__wrapped__(e164[1:]) == expected, e164
        national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
        digits = "".join(ch for ch in national if ch.isdigit())
        try:
            accepted = phonenumbers.is_valid_number(phonenumbers.parse(national, region))
        except phonenumbers.NumberParseException:
            accepted = False
        if accepted:
            assert _may_be_valid(digits, region), (region, national)


def test_phone_shape() -> None:
    assert phone_shape_ok("+44 20 7946 0958")
    assert phone_shape_ok("(415) 555-2671")
    assert not phone_shape_ok("1.414213562")  # one dot: a decimal
    assert not phone_shape_ok("12345")  # too few digits
    assert not phone_shape_ok("415-555.2671")  # two kinds of separator
    assert not phone_shape_ok("((415) 555-2671")


def test_lang_regions() -> None:
    assert lang_regions("de") == ("DE", "AT", "CH")
    assert lang_regions("__label__fr") == lang_regions("fr-CA") == lang_regions("fra_Latn")
    assert lang_regions("xx") == () and lang_regions(None) == ()


# ---------------------------------------------------------------- locators

NUMBERISH = st.lists(
    st.one_of(
        st.sampled_from([" ", ".", "-", "_", "a", "+", "/", ",", "\n", "\u00e9", "\u0663"]),  # a word, a sign, an Arabic digit
        st.lists(st.integers(0, 9999).map(str), min_size=1, max_size=6).map(".".join),  # dotted numbers
        st.text(alphabet="0123456789 -", min_size=1, max_size=24),  # digit groups
    ),
    max_size=12,
).map("".join)


def _polars_located(det: Detector, text: str) -> list[str]:
    return pl.Series([text]).str.extract_all(det.locator).to_list()[0]


@settings(max_examples=300, deadline=None)
@given(NUMBERISH)
def test_ipv4_locator_finds_the_same_candidates(text: str) -> None:
    det = IPv4Detector()
    expected = [m.span() for m in _IPV4.finditer(text)]
    assert list(det.candidates(text)) == expected  # quads found by Python
    assert list(det.candidates(text, _polars_located(det, text))) == expected  # by Polars, as the stage does


@settings(max_examples=300, deadline=None)
@given(NUMBERISH)
def test_card_locator_finds_the_same_runs(text: str) -> None:
    det = CreditCardDetector()
    expected = [m.span() for m in _CARD_RUN.finditer(text)]
    assert [m.span() for m in det.runs(text)] == expected
    assert [m.span() for m in det.runs(text, _polars_located(det, text))] == expected


IBANISH = st.lists(
    st.one_of(st.sampled_from([" ", "x", "\n", "DE", "GB", "NL", "AB12", "DE89", "3704", "0044", "ABNA", "X"]),
              st.text(alphabet="ABDEGNL0123456789 ", min_size=1, max_size=30)),
    max_size=10,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(NUMBERISH, st.sampled_from(["+", "(", ")", "+44 ", "(0) ", " 030 ", ":", "#", "$"])), max_size=6).map("".join))
def test_phone_pattern_possessive_runs_change_no_match(text: str) -> None:
    import re

    from curate.pii.detectors import _PHONE

    backtracking = re.compile(_PHONE.pattern.replace("}+", "}"))
    assert backtracking.pattern != _PHONE.pattern
    assert [m.span() for m in _PHONE.finditer(text)] == [m.span() for m in backtracking.finditer(text)]


@settings(max_examples=300, deadline=None)
@given(IBANISH)
def test_iban_locator_finds_the_same_candidates(text: str) -> None:
    det = IbanDetector()
    expected = [(m.start(), m.end()) for m in (_IBAN.match(text, i) for i in range(len(text))) if m is not None]
    assert [m.span() for m in det.candidates(text)] == expected
    assert [m.span() for m in det.candidates(text, _polars_located(det, text))] == expected


# ---------------------------------------------------------------- custom


def test_custom_patterns() -> None:
    det = CustomDetector("employee_id", r"EMP-\d{6}")
    assert det.prefilters  # Rust compiles it: used as the prefilter
    assert found(det, "ids EMP-123456 and EMP-654321, not EMP-12") == ["EMP-123456", "EMP-654321"]
    lookaround = CustomDetector("ticket", r"(?<=ticket )\d{4}")
    assert lookaround.prefilters == ()  # Rust has no look-behind: every document is scanned
    assert found(lookaround, "see ticket 1234") == ["1234"]
