"""PII validators against published good and bad values: test card numbers, the IBAN registry's
examples, routable and special IP ranges, JWT headers, entropy, the shipped TLD list."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import random

import pytest

from curate.pii.data import TLDS_TXT
from curate.pii.validators import (
    IBAN_LENGTHS,
    card_issuer,
    card_ok,
    iban_ok,
    ipv4_global,
    ipv6_global,
    jwt_ok,
    known_tlds,
    luhn_ok,
    shannon_entropy,
    tld_known,
)

TLDS_SHA256 = "3ed9ba2a76208efd9af834525b71706445384a0ced8091be289b814b93f6c8e9"

# published test numbers of the card networks / payment processors
CARDS = {
    "4111111111111111": "visa",
    "4012888888881881": "visa",
    "4222222222222": "visa",
    "5555555555554444": "mastercard",
    "5105105105105100": "mastercard",
    "2223000048400011": "mastercard",
    "378282246310005": "amex",
    "371449635398431": "amex",
    "6011111111111117": "discover",
    "6011000990139424": "discover",
    "3530111333300000": "jcb",
    "3566002020360505": "jcb",
    "30569309025904": "diners",
    "38520000023237": "diners",
    "6200000000000005": "unionpay",
    "6205500000000000004": "unionpay",
    "6759649826438453": "maestro",
}

# examples of the SWIFT IBAN registry
IBANS = [
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "ES9121000418450200051332",
    "IT60X0542811101000000123456",
    "BE68539007547034",
    "CH9300762011623852957",
    "AT611904300234573201",
    "NO9386011117947",
    "PL61109010140000071219812874",
    "SA0380000000608010167519",
    "BR1800360305000010009795493C1",
]


@pytest.mark.parametrize(("number", "issuer"), CARDS.items())
def test_published_test_cards_validate(number: str, issuer: str) -> None:
    assert card_issuer(number) == issuer
    assert card_ok(number)


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111112",  # Luhn
        "1234567812345678",  # no issuer
        "9111111111111119",  # no issuer (Luhn ok)
        "37828224631000",  # Amex prefix, 14 digits
        "411111111111111",  # Visa, 15 digits
        "5555555555554440",  # Luhn
        "123456789012",  # too short
    ],
)
def test_bad_card_numbers_fail(number: str) -> None:
    assert not card_ok(number)


def test_luhn() -> None:
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")
    assert luhn_ok("0")


@pytest.mark.parametrize("iban", IBANS)
def test_iban_registry_examples_validate(iban: str) -> None:
    assert iban_ok(iban)
    assert len(iban) == IBAN_LENGTHS[iban[:2]]


@pytest.mark.parametrize(
    "iban",
    [
        "DE89370400440532013001",  # mod 97
        "DE88370400440532013000",  # check digits
        "GB29NWBK6016133192681",  # length
        "XX89370400440532013000",  # no such country
        "DE8937040044053201300O",  # letter where DE has digits: mod 97 fails
    ],
)
def test_bad_ibans_fail(iban: str) -> None:
    assert not iban_ok(iban)


@pytest.mark.parametrize("addr", ["8.8.8.8", "93.184.216.34", "1.1.1.1", "151.101.1.69"])
def test_routable_ipv4(addr: str) -> None:
    assert ipv4_global(addr)


@pytest.mark.parametrize(
    "addr",
    [
        "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.10.1", "100.64.0.1",  # private, loopback, link-local, CGNAT
        "192.0.2.1", "198.51.100.7", "203.0.113.9",  # documentation
        "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "0.0.0.0",  # multicast, reserved
        "256.1.1.1", "01.2.3.4", "1.2.3",  # malformed
    ],
)
def test_special_ipv4_left_alone(addr: str) -> None:
    assert not ipv4_global(addr)


def test_ipv6_ranges() -> None:
    assert ipv6_global("2001:4860:4860::8888")
    assert ipv6_global("2606:4700:4700::1111")
    for addr in ("2001:db8::1", "fe80::1", "::1", "fc00::1", "ff02::1", "2002::1", "3fff::1", "::ffff:8.8.8.8", "10:00:00", "not:an:ip"):
        assert not ipv6_global(addr), addr


def test_ipv6_range_table_agrees_with_ipaddress() -> None:
    """The integer range table gives what ``ipaddress`` says: in 2000::/3, global, not multicast,
    not in the special blocks; addresses drawn in and around every listed network."""
    from curate.pii.validators import _IPV6_SPECIAL, ipv6_global_address

    nets = [*_IPV6_SPECIAL, *ipaddress.IPv6Address._constants._private_networks,  # type: ignore[attr-defined]
            ipaddress.IPv6Network("2000::/3"), ipaddress.IPv6Network("ff00::/8")]
    rnd = random.Random(0)
    for _ in range(3000):
        net = rnd.choice(nets)
        value = (int(net.network_address) + rnd.choice([0, -1, net.num_addresses - 1, net.num_addresses, rnd.randrange(net.num_addresses)])) % (1 << 128)
        addr = ipaddress.IPv6Address(value)
        expected = addr in ipaddress.IPv6Network("2000::/3") and addr.is_global and not addr.is_multicast and not any(addr in n for n in _IPV6_SPECIAL)
        assert (ipv6_global_address(str(addr)) is not None) == expected, addr


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_jwt_needs_a_json_header_with_alg() -> None:
    payload = _b64({"sub": "1234567890"})
    assert jwt_ok(f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{payload}.c2lnbmF0dXJl")
    assert not jwt_ok(f"{_b64({'typ': 'JWT'})}.{payload}.c2lnbmF0dXJl")  # no alg
    assert not jwt_ok(f"eyJub3Rqc29u.{payload}.sig")  # header is not JSON
    assert not jwt_ok("eyJhbGciOiJIUzI1NiJ9.sig")  # two parts


def test_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaaaaaaaaaaaaaaaaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    assert shannon_entropy("aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW") > 4.0


def test_tld_list_is_pinned_and_lowercase() -> None:
    assert hashlib.sha256(TLDS_TXT.read_bytes()).hexdigest() == TLDS_SHA256
    tlds = known_tlds()
    assert {"com", "org", "de", "uk", "io", "dev", "museum", "xn--p1ai"} <= tlds
    assert not {"local", "localhost", "example", "invalid", "test", "lan"} & tlds
    assert all(t == t.lower() and t.isascii() for t in tlds)
    assert tld_known("COM") and tld_known("рф") and not tld_known("c")
    notice = (TLDS_TXT.parent / "NOTICE.md").read_text(encoding="utf-8")
    assert "Public Suffix List" in notice and "Mozilla Public License 2.0" in notice
