"""Plant labelled PII and hard negatives into real ~1 KB documents (seeded), for `bench_pii.py`.

Real text (``--source``, a Parquet file with ``text`` and ``source``, e.g. real_docs.parquet) is cut
into ~1 KB pieces (``realtext.py``, NFC as ingest makes it). Each document gets 0-3 planted PII
values, each in a carrier sentence ("Contact me at X.", "Tel.: X", "Card number: X") put at a line
or sentence boundary, and 0-2 hard negatives the same way. Types and formats:

  email        varied local parts (dots, +tags, digits, _ and -), subdomains, many TLDs: generic,
               ccTLDs (de, fr, co.uk, com.br, co.jp ...), new gTLDs (dev, app, online, photography ...)
  phone        valid numbers of US GB DE FR IN BR JP AU ES IT NL MX (``phonenumbers``' example
               numbers with random last digits, kept only when ``is_valid_number``), written E.164,
               international or national; a document with a national-format number gets
               ``lang`` (de, fr, es, it, pt, ja, nl, en) and ``region`` (DE, FR, GB, US ...) for that
               country and holds no other country's national numbers; other documents get lang null
  ipv4, ipv6   globally routable only (``ipaddress`` ``is_global``; IPv6 from 2000::/3 less 6to4 2002::/16
               and the documentation prefix 3fff::/20); IPv6 compressed, full or upper case
  credit_card  Visa, Mastercard (51-55 and 2221-2720), Amex, Discover, JCB with a valid Luhn digit,
               grouped (4-4-4-4 or Amex 4-6-5, spaces or dashes) or not
  iban         DE GB FR ES NL BE CH AT with valid mod-97 check digits (and the national check digits
               of FR, ES and BE), grouped by 4 or compact
  secret       AWS key ids (AKIA...), GitHub ghp_ (base62 CRC32 checksum), GitLab glpat-, Slack
               xoxb-, Stripe sk_live_, JWTs, PEM private key blocks, ``api_key = "<32 chars>"``-style
               assignments (span: the value)

Hard negatives, which a detector must not flag (``negatives.parquet``, kind): version (4-part, e.g.
1.2.3.4 and v2.10.0.1, which parse as IPv4), date, isbn, hash (git short/long, sha1, sha256), uuid,
price, private_ip (10/8, 172.16/12, 192.168/16, 127/8, 169.254/16, 100.64/10, the documentation
ranges, 2001:db8::/32, fe80::/10, fc00::/7, ::1), invalid_card (card-like 16 digits failing Luhn),
invalid_iban (right shape, wrong check digits), invalid_phone (``+CC`` numbers that
``phonenumbers`` says are not valid), base64 (random blobs in prose).

Writes DIR/corpus.parquet (id, text, source, lang, region), DIR/truth.parquet (id, start, end, type,
subtype, value: ``text[start:end] == value``, character offsets), DIR/negatives.parquet (id, start,
end, kind, value), DIR/source.parquet (id, text: the document before planting, for telling PII that
was already in the real text apart) and DIR/summary.json.

    python benchmarks/pii/build_pii_corpus.py --docs 100000 --seed 0 \\
        --source /work/shared/data/real_docs.parquet -o benchmarks/_work/pii-100k
"""

from __future__ import annotations

import argparse
import base64
import binascii
import ipaddress
import json
import random
import string
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import phonenumbers as pn
import polars as pl
from phonenumbers import PhoneNumberFormat as PNF
from phonenumbers import PhoneNumberType as PNT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from realtext import chunks, pick  # noqa: E402

TYPES = ("email", "phone", "ipv4", "ipv6", "credit_card", "iban", "secret")
NEG_KINDS = ("version", "date", "isbn", "hash", "uuid", "price", "private_ip", "invalid_card",
             "invalid_iban", "invalid_phone", "base64")
ALNUM = string.ascii_letters + string.digits
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

# ----------------------------------------------------------------------------------- email

SYL = ("an ber ca da el fa go han ia jo ka li ma ne ol pe qui ra sa ta ul vi wen xu ya zo "
       "mar tin lee son ber ger mül ler").split()
TLDS = ("com org net edu gov io ai dev app info biz de fr nl es it pl se ch at be dk fi no cz pt "
        "co.uk ac.uk org.uk com.br com.au gov.au co.jp ne.jp co.in co.nz ca us eu ru cn kr mx ar "
        "online site xyz tech store museum travel photography technology solutions berlin london "
        "tokyo email cloud systems agency").split()


def _name(r: random.Random) -> str:
    return "".join(r.choice(SYL) for _ in range(r.randint(1, 3))).replace("ü", "u")


def email(r: random.Random) -> tuple[str, str]:
    first, last = _name(r), _name(r)
    style = r.randrange(8)
    local = [f"{first}.{last}", f"{first[0]}{last}", f"{first}{r.randint(1, 9999)}",
             f"{first}_{last}", f"{first}+{r.choice(['news', 'git', 'lists', 'x'])}",
             f"{first}-{last}.{r.randint(10, 99)}", f"{last}", f"{first[0]}.{last}"][style]
    labels = [_name(r) for _ in range(r.choice([1, 1, 1, 2]))]
    domain = ".".join([*labels, r.choice(TLDS)])
    addr = f"{local}@{domain}"
    if r.random() < 0.1:
        addr = f"{local.capitalize()}@{domain.upper()}"
    return addr, f"style{style}"


# ----------------------------------------------------------------------------------- phone

REGIONS = {"US": "en", "GB": "en", "DE": "de", "FR": "fr", "IN": "en", "BR": "pt", "JP": "ja",
           "AU": "en", "ES": "es", "IT": "it", "NL": "nl", "MX": "es"}


def phone(r: random.Random, region: str, fmt: str) -> str:
    kind = r.choice([PNT.MOBILE, PNT.FIXED_LINE])
    ex = pn.example_number_for_type(region, kind) or pn.example_number(region)
    digits = str(ex.national_number)
    for _ in range(200):
        keep = max(2, len(digits) - r.randint(3, 6))
        nat = digits[:keep] + "".join(r.choice(string.digits) for _ in range(len(digits) - keep))
        num = pn.PhoneNumber(country_code=ex.country_code, national_number=int(nat),
                             italian_leading_zero=ex.italian_leading_zero)
        if pn.is_valid_number(num) and pn.region_code_for_number(num) == region:
            break
    else:
        num = ex
    return pn.format_number(num, {"e164": PNF.E164, "intl": PNF.INTERNATIONAL, "national": PNF.NATIONAL}[fmt])


def invalid_phone(r: random.Random) -> str:
    for _ in range(1000):
        region = r.choice(sorted(REGIONS))
        cc = pn.country_code_for_region(region)
        n = r.randint(8, 11)
        nat = r.choice("0123456789") + "".join(r.choice(string.digits) for _ in range(n - 1))
        s = f"+{cc} {nat[:3]} {nat[3:6]} {nat[6:]}"
        try:
            num = pn.parse(s, None)
        except pn.NumberParseException:
            continue
        if not pn.is_valid_number(num):
            return s
    raise RuntimeError("no invalid phone number found")


# ---------------------------------------------------------------------------------- ip

def ipv4(r: random.Random) -> str:
    while True:
        a = ipaddress.IPv4Address(r.getrandbits(32))
        if a.is_global and not a.is_multicast and int(str(a).split(".")[0]) not in (0, 255):
            return str(a)


# special-purpose blocks inside 2000::/3 that Python 3.11's is_global still calls global:
# 6to4 (RFC 3056) and the documentation prefix 3fff::/20 (RFC 9637)
_V6_SPECIAL_A = ipaddress.IPv6Network("2002::/16")
_V6_SPECIAL_B = ipaddress.IPv6Network("3fff::/20")


def ipv6(r: random.Random) -> tuple[str, str]:
    while True:
        a = ipaddress.IPv6Address((1 << 125) | r.getrandbits(125))  # 2000::/3, global unicast
        if r.random() < 0.5:  # runs of zero groups, so compression shows
            groups = a.exploded.split(":")
            z = r.randrange(1, 7)
            for g in range(z, min(8, z + r.randint(1, 3))):
                groups[g] = "0000"
            a = ipaddress.IPv6Address(":".join(groups))
        if a.is_global and not (a in _V6_SPECIAL_A or a in _V6_SPECIAL_B):
            break
    style = r.choice(["compressed", "compressed", "exploded", "upper"])
    return {"compressed": a.compressed, "exploded": a.exploded, "upper": a.compressed.upper()}[style], style


def private_ip(r: random.Random) -> str:
    q = lambda: r.randint(0, 255)  # noqa: E731
    return r.choice([
        lambda: f"10.{q()}.{q()}.{r.randint(1, 254)}",
        lambda: f"172.{r.randint(16, 31)}.{q()}.{r.randint(1, 254)}",
        lambda: f"192.168.{q()}.{r.randint(1, 254)}",
        lambda: f"127.0.0.{r.randint(1, 9)}",
        lambda: f"169.254.{q()}.{r.randint(1, 254)}",
        lambda: f"100.{r.randint(64, 127)}.{q()}.{r.randint(1, 254)}",
        lambda: f"192.0.2.{r.randint(1, 254)}",
        lambda: f"198.51.100.{r.randint(1, 254)}",
        lambda: f"203.0.113.{r.randint(1, 254)}",
        lambda: f"2001:db8::{r.randint(1, 0xffff):x}",
        lambda: f"2001:db8:{r.randint(1, 0xffff):x}:{r.randint(1, 0xffff):x}::{r.randint(1, 0xff):x}",
        lambda: f"fe80::{r.randint(1, 0xffff):x}:{r.randint(1, 0xffff):x}",
        lambda: f"fd{r.randint(0, 0xff):02x}:{r.randint(1, 0xffff):x}::{r.randint(1, 0xff):x}",
        lambda: "::1",
    ])()


# ---------------------------------------------------------------------------------- cards

def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return luhn_digit(number[:-1]) == number[-1]


BRANDS = {  # brand: (prefixes, length)
    "visa": (["4"], 16),
    "mastercard": ([str(p) for p in range(51, 56)] + ["2221", "2720", "23", "26"], 16),
    "amex": (["34", "37"], 15),
    "discover": (["6011", "65", "644"], 16),
    "jcb": ([str(p) for p in (3528, 3530, 3540, 3566, 3589)], 16),
}


def group_card(num: str, r: random.Random) -> tuple[str, str]:
    style = r.choice(["space", "dash", "plain"])
    if style == "plain":
        return num, style
    sep = " " if style == "space" else "-"
    parts = [num[:4], num[4:10], num[10:]] if len(num) == 15 else [num[i:i + 4] for i in range(0, 16, 4)]
    return sep.join(parts), style


def card(r: random.Random) -> tuple[str, str]:
    brand = r.choice(sorted(BRANDS))
    prefixes, n = BRANDS[brand]
    body = r.choice(prefixes)
    body += "".join(r.choice(string.digits) for _ in range(n - 1 - len(body)))
    text, style = group_card(body + luhn_digit(body), r)
    return text, f"{brand}:{style}"


def invalid_card(r: random.Random) -> str:
    body = r.choice(["4", "51", "55", "6011"])
    body += "".join(r.choice(string.digits) for _ in range(15 - len(body)))
    bad = str((int(luhn_digit(body)) + r.randint(1, 9)) % 10)
    return group_card(body + bad, r)[0]


# ---------------------------------------------------------------------------------- iban

def _digits(s: str) -> str:
    return "".join(str(int(c, 36)) for c in s)


def iban_check(country: str, bban: str) -> str:
    return f"{98 - int(_digits(bban + country + '00')) % 97:02d}"


def _es_dc(digits: str) -> str:
    w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]
    d = 11 - sum(int(c) * k for c, k in zip(digits, w, strict=True)) % 11
    return str({11: 0, 10: 1}.get(d, d))


def bban(r: random.Random, country: str) -> str:
    num = lambda k: "".join(r.choice(string.digits) for _ in range(k))  # noqa: E731
    if country == "DE":
        return num(18)
    if country == "GB":
        return r.choice(["NWBK", "BARC", "LOYD", "HBUK", "MIDL"]) + num(14)
    if country == "NL":
        return r.choice(["ABNA", "INGB", "RABO", "SNSB", "TRIO"]) + num(10)
    if country == "CH":
        return num(17)
    if country == "AT":
        return num(16)
    if country == "BE":
        ten = num(10)
        return ten + f"{int(ten) % 97 or 97:02d}"
    if country == "ES":
        ent, off, acc = num(4), num(4), num(10)
        return ent + off + _es_dc("00" + ent + off) + _es_dc(acc) + acc
    if country == "FR":
        bank, branch, acc = num(5), num(5), num(11)
        key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(acc)) % 97
        return f"{bank}{branch}{acc}{key:02d}"
    raise ValueError(country)


IBAN_COUNTRIES = ("DE", "GB", "FR", "ES", "NL", "BE", "CH", "AT")


def iban(r: random.Random, valid: bool = True) -> tuple[str, str]:
    country = r.choice(IBAN_COUNTRIES)
    b = bban(r, country)
    check = iban_check(country, b)
    if not valid:
        check = f"{(int(check) + r.randint(1, 96)) % 97 + 2:02d}"
        if check == iban_check(country, b):
            check = f"{(int(check) + 1) % 97 + 2:02d}"
    compact = country + check + b
    grouped = r.random() < 0.5
    text = " ".join(compact[i:i + 4] for i in range(0, len(compact), 4)) if grouped else compact
    return text, f"{country}:{'grouped' if grouped else 'compact'}"


def iban_valid(text: str) -> bool:
    s = text.replace(" ", "")
    return int(_digits(s[4:] + s[:4])) % 97 == 1


# ---------------------------------------------------------------------------------- secrets

def _rand(r: random.Random, alphabet: str, n: int) -> str:
    return "".join(r.choice(alphabet) for _ in range(n))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, d = divmod(n, 62)
        out = B62[d] + out
    return out.rjust(width, "0")


def secret(r: random.Random) -> tuple[str, str, str]:
    """(value, subtype, carrier with {} for the value)."""
    kind = r.choice(["aws", "github", "gitlab", "slack", "stripe", "jwt", "pem", "assignment"])
    if kind == "aws":
        v = "AKIA" + _rand(r, string.ascii_uppercase + "234567", 16)
        c = r.choice(["AWS_ACCESS_KEY_ID={}", "aws_access_key_id = {}", "Access key: {}"])
    elif kind == "github":
        body = _rand(r, ALNUM, 30)
        v = "ghp_" + body + _base62(binascii.crc32(body.encode()), 6)
        c = r.choice(["export GITHUB_TOKEN={}", "token: {}", "GH_TOKEN: {}"])
    elif kind == "gitlab":
        v = "glpat-" + _rand(r, ALNUM + "_-", 20)
        c = r.choice(["GITLAB_TOKEN={}", "Use the token {} for the CI job.", "PRIVATE-TOKEN: {}"])
    elif kind == "slack":
        v = f"xoxb-{_rand(r, string.digits, 12)}-{_rand(r, string.digits, 13)}-{_rand(r, ALNUM, 24)}"
        c = r.choice(["SLACK_BOT_TOKEN={}", "slack token: {}", "The bot authenticates with {}."])
    elif kind == "stripe":
        v = "sk_live_" + _rand(r, ALNUM, r.choice([24, 99]))
        c = r.choice(["STRIPE_SECRET_KEY={}", "stripe.api_key = \"{}\"", "Secret key: {}"])
    elif kind == "jwt":
        head = _b64url(json.dumps({"alg": r.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
        payload = _b64url(json.dumps({"sub": str(r.randint(10**6, 10**9)), "name": _name(r).title(),
                                      "iat": r.randint(1_500_000_000, 1_800_000_000)}).encode())
        v = f"{head}.{payload}.{_b64url(r.randbytes(32))}"
        c = r.choice(["Authorization: Bearer {}", "jwt={}", "The session cookie was {}."])
    elif kind == "pem":
        label = r.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
        body = base64.b64encode(r.randbytes(r.choice([121, 300, 600, 1190]))).decode()
        lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
        v = f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----"
        c = r.choice(["{}", "key.pem:\n{}", "Here is the key:\n{}"])
    else:
        name = r.choice(["api_key", "API_KEY", "secret_key", "access_token", "client_secret",
                         "apiKey", "password", "auth_token"])
        v = _rand(r, ALNUM, 32)
        q = r.choice(['"', "'"])
        c = r.choice([f"{name} = {q}{{}}{q}", f"{name}: {q}{{}}{q}", f"{name}={{}}"])
    return v, kind, c


# ---------------------------------------------------------------------------------- negatives

def negative(r: random.Random, kind: str) -> tuple[str, str]:
    """(value, carrier)."""
    d = r.randint(1, 28)
    m = r.randint(1, 12)
    y = r.randint(1990, 2030)
    if kind == "version":
        v = f"{r.randint(1, 12)}.{r.randint(0, 30)}.{r.randint(0, 20)}.{r.randint(0, 300)}"
        return (r.choice(["v", ""]) + v, r.choice(["Upgraded to version {}.", "Bump to {} (closes: #1234).",
                                                    "Tested with release {}", "package-{}.tar.gz"]))
    if kind == "date":
        months = "January February March April May June July August September October November December".split()
        v = r.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{d:02d}.{m:02d}.{y}",
                      f"{d} {months[m - 1]} {y}", f"{y}{m:02d}{d:02d}", f"{months[m - 1]} {d}, {y}"])
        return v, r.choice(["Released on {}.", "Date: {}", "Last updated {}", "(as of {})"])
    if kind == "isbn":
        if r.random() < 0.5:
            body = "978" + _rand(r, string.digits, 9)
            check = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body)) % 10) % 10
            v = f"{body[:3]}-{body[3]}-{body[4:7]}-{body[7:]}-{check}"
        else:
            body = _rand(r, string.digits, 9)
            check = (11 - sum(int(c) * (10 - i) for i, c in enumerate(body)) % 11) % 11
            v = f"{body[0]}-{body[1:4]}-{body[4:]}-{'X' if check == 10 else check}"
        return v, r.choice(["ISBN {}", "ISBN: {}", "(ISBN {})"])
    if kind == "hash":
        n = r.choice([7, 10, 12, 40, 40, 64])
        v = _rand(r, "0123456789abcdef", n)
        carrier = {7: "commit {}", 10: "Fixed in {}.", 12: "git checkout {}", 40: "commit {}",
                   64: "sha256: {}"}[n]
        return v, r.choice([carrier, "SHA1 {}" if n == 40 else carrier, "checksum {}"])
    if kind == "uuid":
        v = str(uuid.UUID(int=r.getrandbits(128), version=4))
        return (v.upper() if r.random() < 0.2 else v), r.choice(["Request id {}", "uuid={}", "UUID: {}"])
    if kind == "price":
        v = r.choice([f"${r.randint(1, 9999):,}.{r.randint(0, 99):02d}", f"€ {r.randint(1, 9999)},{r.randint(0, 99):02d}",
                      f"USD {r.randint(10**5, 10**8):,}.00", f"£{r.randint(1, 999)}.{r.randint(0, 99):02d}",
                      f"{r.randint(1000, 99999):,} EUR"])
        return v, r.choice(["Price: {}", "It costs {} per year.", "Total {}"])
    if kind == "private_ip":
        return private_ip(r), r.choice(["Listening on {}", "The test server is {}.", "bind {}"])
    if kind == "invalid_card":
        return invalid_card(r), r.choice(["Order number {}", "Reference {}", "Card number: {}"])
    if kind == "invalid_iban":
        return iban(r, valid=False)[0], r.choice(["IBAN: {}", "Account {}"])
    if kind == "invalid_phone":
        return invalid_phone(r), r.choice(["Call {}", "Tel.: {}", "ID {}"])
    if kind == "base64":
        v = base64.b64encode(r.randbytes(r.randint(24, 90))).decode()
        return v, r.choice(["The attachment was encoded as {} in the mail.", "data: {}", "Payload {} follows."])
    raise ValueError(kind)


# ---------------------------------------------------------------------------------- planting

CARRIERS = {
    "email": ["Contact me at {}.", "Send patches to <{}>.", "E-mail: {}", "Questions? Write to {} or open an issue.",
              "Reported-by: Jane Roe <{}>", "(mailto:{})", "Maintainer: {}"],
    "phone": ["Tel.: {}", "Call us at {}.", "Phone: {} (office hours 9-17)", "Mobile {}",
              "Reach the on-call engineer on {}.", "Fax {}"],
    "ipv4": ["The server at {} refused the connection.", "Connecting to {}:443 ...", "Client IP: {}",
             "Accepted publickey from {} port 51234", "nameserver {}"],
    "ipv6": ["The server at {} refused the connection.", "Connecting to [{}]:8080 ...", "Client IP: {}",
             "inet6 {}/64 scope global", "AAAA record {}"],
    "credit_card": ["Card number: {}", "Paid with card {} (exp 09/27).", "CC: {}", "Please charge {} again."],
    "iban": ["IBAN: {}", "Please transfer the amount to {} by Friday.", "Account (IBAN) {}", "IBAN {}, BIC unknown"],
}


def boundaries(text: str) -> list[int]:
    """Places where a sentence can go: start, after a newline, after '. ', end."""
    pos = {0, len(text)}
    for i, ch in enumerate(text):
        if ch == "\n" or (ch == " " and i > 0 and text[i - 1] == "."):
            pos.add(i + 1)
    return sorted(pos)


def assemble(text: str, inserts: list[tuple[int, str, int, int, dict]]) -> tuple[str, list[dict]]:
    """Insert (position, snippet, value_start_in_snippet, value_len, row) and return the new
    text and rows with absolute start/end."""
    out, rows, last, shift = [], [], 0, 0
    for pos, snippet, vs, vl, row in sorted(inserts, key=lambda x: x[0]):
        out.append(text[last:pos])
        shift = sum(len(p) for p in out)
        if pos == len(text):  # at the end: on a line of its own
            if pos > 0 and text[pos - 1] != "\n":
                snippet, vs = "\n" + snippet, vs + 1
        elif pos == 0 or text[pos - 1] == "\n":  # at a line start: a line of its own
            snippet = snippet if snippet.endswith("\n") else snippet + "\n"
        elif "\n" in snippet:  # after '. ' mid-line: a multi-line value starts a line
            snippet, vs = "\n" + snippet, vs + 1
        else:
            snippet = snippet + " "
        out.append(snippet)
        rows.append({**row, "start": shift + vs, "end": shift + vs + vl})
        last = pos
    out.append(text[last:])
    return "".join(out), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", required=True, help="Parquet file of real documents (text, source)")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    r = random.Random(args.seed)
    docs = pick(chunks(args.source), args.docs, r)

    ids, texts, sources, langs, regions, src_texts = [], [], [], [], [], []
    truth: list[dict] = []
    negs: list[dict] = []
    for k, (source, text) in enumerate(docs):
        doc_id = f"pii{k:07d}"
        n_pii = r.choices([0, 1, 2, 3], [30, 35, 25, 10])[0]
        n_neg = r.choices([0, 1, 2], [50, 35, 15])[0]
        region = lang = None
        slots = boundaries(text)
        places = sorted(r.sample(slots, min(len(slots), n_pii + n_neg)))
        r.shuffle(places)
        inserts = []
        for j in range(min(len(places), n_pii + n_neg)):
            if j < n_pii:
                typ = r.choice(TYPES)
                if typ == "email":
                    v, sub = email(r)
                    carrier = r.choice(CARRIERS[typ])
                elif typ == "phone":
                    fmt = r.choice(["e164", "intl", "national"])
                    reg = r.choice(sorted(REGIONS))
                    if fmt == "national":
                        if region is None:
                            region, lang = reg, REGIONS[reg]
                        reg = region
                    v, sub = phone(r, reg, fmt), f"{reg}:{fmt}"
                    carrier = r.choice(CARRIERS[typ])
                elif typ == "ipv4":
                    v, sub, carrier = ipv4(r), "", r.choice(CARRIERS[typ])
                elif typ == "ipv6":
                    v, sub = ipv6(r)
                    carrier = r.choice(CARRIERS[typ])
                elif typ == "credit_card":
                    v, sub = card(r)
                    carrier = r.choice(CARRIERS[typ])
                elif typ == "iban":
                    v, sub = iban(r)
                    carrier = r.choice(CARRIERS[typ])
                else:
                    v, sub, carrier = secret(r)
                row = {"id": doc_id, "type": typ, "subtype": sub, "value": v}
            else:
                kind = r.choice(NEG_KINDS)
                v, carrier = negative(r, kind)
                row = {"id": doc_id, "kind": kind, "value": v}
            snippet = carrier.replace("{}", v, 1)
            vs = carrier.index("{}")
            if "\n" in snippet or "-----BEGIN" in v:
                snippet = snippet + "\n"
            inserts.append((places[j], snippet, vs, len(v), row))
        new, rows = assemble(text, inserts)
        for row in rows:
            assert new[row["start"]:row["end"]] == row["value"], (doc_id, row)
            (truth if "type" in row else negs).append(row)
        ids.append(doc_id)
        texts.append(new)
        sources.append(source)
        langs.append(lang)
        regions.append(region)
        src_texts.append(text)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"id": ids, "text": texts, "source": sources, "lang": langs, "region": regions},
                 schema_overrides={"lang": pl.String, "region": pl.String}).write_parquet(out / "corpus.parquet")
    pl.DataFrame({"id": ids, "text": src_texts, "source": sources}).write_parquet(out / "source.parquet")
    tschema = {"id": pl.String, "start": pl.Int64, "end": pl.Int64, "type": pl.String, "subtype": pl.String,
               "value": pl.String}
    nschema = {"id": pl.String, "start": pl.Int64, "end": pl.Int64, "kind": pl.String, "value": pl.String}
    pl.DataFrame(truth, schema=tschema).select(list(tschema)).write_parquet(out / "truth.parquet")
    pl.DataFrame(negs, schema=nschema).select(list(nschema)).write_parquet(out / "negatives.parquet")
    summary = {
        "docs": len(ids), "bytes": sum(len(t.encode()) for t in texts), "seed": args.seed,
        "distinct_source_chunks": len({t for t in src_texts}),
        "planted": dict(sorted(Counter(t["type"] for t in truth).items())),
        "negatives": dict(sorted(Counter(n["kind"] for n in negs).items())),
        "docs_with_lang": sum(x is not None for x in langs),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
