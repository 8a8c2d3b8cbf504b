"""Keeping secrets out of messages, logs and files.

Keys come from environment variables and live only in memory (a request header). Two things here
keep them there:

- :func:`url_credentials` / :func:`redact_url`: a URL that carries a credential (``user:pw@host``,
  ``?api-key=...``) is refused by config validation, and shown with the secret replaced by ``***``.
- :func:`scrub`: text built from anything a server sent back (status line, response body, an
  exception message) has every known secret value, ``Bearer``/``Basic`` credentials and
  ``Authorization:``-style header values replaced by ``***`` before it becomes an error message.

Standard library only; importing this module is cheap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote_plus

MASK = "***"

CREDENTIAL_PARAMS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "accesstoken",
        "authtoken",
        "idtoken",
        "refreshtoken",
        "sessiontoken",
        "securitytoken",
        "secret",
        "clientsecret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "sig",
        "signature",
        "auth",
        "authorization",
        "bearer",
        "credential",
        "credentials",
        "code",  # Azure Functions keys
        "sas",
        "jwt",
        "session",
        "sessionid",
        "xamzcredential",
        "xamzsignature",
        "xamzsecuritytoken",
        "xgoogcredential",
        "xgoogsignature",
    }
)
"""Query parameter names (lowercase, without ``-``, ``_``, ``.``) that carry credentials."""

_CREDENTIAL_SUFFIXES = ("key", "token", "secret", "password", "passwd", "signature", "credential")

_PARAM = re.compile(r"([^&;=]+)=([^&;]*)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[^\s\"',;}\]\\]+")
_BASIC = re.compile(r"(?i)\b(basic)(\s+)[A-Za-z0-9+/]{8,}={0,2}")
_HEADER = re.compile(
    r"(?i)((?:proxy-)?authorization|x-api-key|api-key|apikey|x-goog-api-key|x-auth-token"
    r"|cookie|set-cookie)(\\?[\"']?\s*:\s*\\?[\"']?)[^\"'\r\n\\]*"
)


def is_url(value: str) -> bool:
    """``scheme://...`` (what the credential checks look at)."""
    return bool(_SCHEME.match(value.strip()))


def is_credential_param(name: str) -> bool:
    """Whether a query parameter name looks like it carries a credential (case-insensitive)."""
    norm = re.sub(r"[-_.\s]", "", unquote_plus(name)).lower()
    return norm in CREDENTIAL_PARAMS or norm.endswith(_CREDENTIAL_SUFFIXES)


def _split(url: str) -> tuple[str, str, str, str | None, str | None]:
    """``(scheme://, netloc, path, query, fragment)`` without re-encoding anything."""
    m = _SCHEME.match(url)
    head = m.group(0) if m else ""
    rest = url[len(head) :]
    rest, hash_, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    if head:
        slash = rest.find("/")
        netloc, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    else:
        netloc, path = "", rest
    return head, netloc, path, query if qmark else None, fragment if hash_ else None


def _params(part: str | None) -> list[tuple[str, str | None]]:
    if not part:
        return []
    out: list[tuple[str, str | None]] = []
    for item in re.split(r"[&;]", part):
        name, eq, value = item.partition("=")
        out.append((name, value if eq else None))
    return out


def url_credentials(url: str) -> list[str]:
    """What in ``url`` carries a credential: ``"userinfo"`` and/or query parameter names.

    Fragment parameters (``#access_token=...``) count too. An empty list: nothing found.
    """
    if not is_url(url):
        return []
    _, netloc, _, query, fragment = _split(url.strip())
    found = []
    if "@" in netloc:
        found.append("userinfo")
    for name, value in _params(query) + _params(fragment):
        if value is not None and is_credential_param(name):
            found.append(name)
    return found


def redact_url(url: str) -> str:
    """``url`` with its userinfo and credential-like parameter values replaced by ``***``.

    ``https://user:pw@host/v1?api-key=k&v=2`` -> ``https://user:***@host/v1?api-key=***&v=2``;
    a user name without a password (often a token itself) becomes ``***``. Anything else is
    kept byte for byte.
    """
    head, netloc, path, query, fragment = _split(url)
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = (f"{user}:{MASK}" if colon else MASK) + "@" + host

    def params(part: str) -> str:
        return _PARAM.sub(
            lambda m: f"{m.group(1)}={MASK}" if is_credential_param(m.group(1)) else m.group(0), part
        )

    out = head + netloc + path
    if query is not None:
        out += "?" + params(query)
    if fragment is not None:
        out += "#" + params(fragment)
    return out


def _forms(secret: str) -> set[str]:
    """The ways a secret value shows up in text: as is, URL-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def scrub(text: str, secrets: Iterable[str | None] = (), *, patterns: bool = True) -> str:
    """``text`` with every given secret value and every credential-looking fragment as ``***``.

    Replaces, in order: each non-empty value of ``secrets`` (also URL-encoded or JSON-escaped,
    longest first), ``Bearer <token>`` and ``Basic <base64>`` credentials, the values of
    ``Authorization:``/``api-key:``/``x-api-key:``/``cookie:`` headers (also as JSON or Python
    mapping entries), and the credentials of any URL in the text (:func:`redact_url`).
    ``patterns=False`` replaces only the given values (for generated text, where a word like
    ``Bearer`` is no credential).
    """
    if not text:
        return text
    forms = {f for s in secrets if s for f in _forms(s) if f}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    if not patterns:
        return text
    text = _HEADER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _BASIC.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)


__all__ = [
    "CREDENTIAL_PARAMS",
    "MASK",
    "is_credential_param",
    "is_url",
    "redact_url",
    "scrub",
    "url_credentials",
]


def redact_config(data: object) -> object:
    """A config dump with every URL's credentials replaced by ``***`` (for manifests and cards).

    Validation already refuses credentials in the URLs it knows; this is the last line of
    defence for anything else written beside the data.
    """
    if isinstance(data, dict):
        return {k: redact_config(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_config(v) for v in data]
    if isinstance(data, str) and is_url(data):
        return redact_url(data)
    return data
