"""curate.secrets: credentials found in URLs, URLs shown redacted, secrets scrubbed from text."""

from __future__ import annotations

import json

import pytest

from curate.secrets import MASK, is_credential_param, is_url, redact_url, scrub, url_credentials


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://api.openai.com/v1", []),
        ("http://127.0.0.1:8000/v1", []),
        ("https://x.openai.azure.com/openai/deployments/d?api-version=2024-02-01", []),
        ("https://h/v1?keyboard=us&monkeys=1&tokenizer=bpe", []),
        ("https://user:password@host/v1", ["userinfo"]),
        ("https://ghp_token@host/v1", ["userinfo"]),
        ("https://host/v1?api-key=abc", ["api-key"]),
        ("https://host/v1?API_KEY=abc&v=1", ["API_KEY"]),
        ("https://host/v1?apikey=abc", ["apikey"]),
        ("https://host/v1?key=abc", ["key"]),
        ("https://host/v1?x=1&Token=abc", ["Token"]),
        ("https://host/v1?access_token=abc", ["access_token"]),
        ("https://host/v1?client_secret=abc", ["client_secret"]),
        ("https://host/v1?password=abc", ["password"]),
        ("https://host/v1?sig=abc", ["sig"]),
        ("https://host/v1?X-Amz-Signature=abc", ["X-Amz-Signature"]),
        ("https://host/v1?subscription-key=abc", ["subscription-key"]),
        ("https://host/v1#access_token=abc", ["access_token"]),
        ("https://u:p@host/v1?token=t", ["userinfo", "token"]),
        ("not a url ?key=abc", []),
        ("", []),
    ],
)
def test_url_credentials(url: str, found: list[str]) -> None:
    assert url_credentials(url) == found


def test_credential_param_names_are_case_and_separator_insensitive() -> None:
    for name in ("api-key", "Api_Key", "APIKEY", "api.key", "x-api-key", "Signature", "SECRET"):
        assert is_credential_param(name), name
    for name in ("api-version", "model", "deployment", "v", "format"):
        assert not is_credential_param(name), name


def test_redact_url_keeps_everything_but_the_secret() -> None:
    assert redact_url("https://user:pw@host:8443/v1?api-key=k&v=2#frag") == (
        "https://user:***@host:8443/v1?api-key=***&v=2#frag"
    )
    assert redact_url("https://tok@host/v1") == "https://***@host/v1"
    assert redact_url("https://host/v1?a=1;sig=s&Token=t&flag") == (
        "https://host/v1?a=1;sig=***&Token=***&flag"
    )
    assert redact_url("https://host/v1#access_token=x&state=1") == (
        "https://host/v1#access_token=***&state=1"
    )
    plain = "https://api.openai.com/v1?api-version=2024-02-01"
    assert redact_url(plain) == plain
    assert is_url(plain) and not is_url("api.openai.com/v1")


def test_scrub_known_values_in_every_spelling() -> None:
    key = "sk-live/AbC+123=="
    text = (
        f"raw {key}; url-encoded {key.replace('/', '%2F').replace('+', '%2B').replace('=', '%3D')}; "
        f"json {json.dumps({'k': key})}"
    )
    out = scrub(text, [key, None, ""])
    assert key not in out and "AbC" not in out
    assert out.count(MASK) == 3


def test_scrub_headers_bearer_and_urls_without_knowing_the_value() -> None:
    body = json.dumps(
        {
            "error": "boom",
            "headers": {
                "Authorization": "Bearer sk-unknown-1",
                "X-Api-Key": "unknown-2",
                "api-key": "unknown-3",
                "Cookie": "session=unknown-4",
            },
        }
    )
    text = (
        f"HTTP 500: {body}\nAuthorization: Bearer unknown-5\nproxy-authorization: Basic dXNlcjpwYXNz\n"
        "see https://u:unknown-6@h/x?key=unknown-7&q=2 and bearer unknown-8"
    )
    out = scrub(text)
    for i in range(1, 9):
        assert f"unknown-{i}" not in out, (i, out)
    assert "dXNlcjpwYXNz" not in out
    assert "HTTP 500" in out and "boom" in out and "q=2" in out  # the useful parts stay


def test_scrub_escaped_json_and_python_reprs() -> None:
    inner = json.dumps({"Authorization": "Bearer sk-esc"})
    assert "sk-esc" not in scrub(json.dumps({"detail": inner}))
    assert "sk-repr" not in scrub(str({"authorization": "Bearer sk-repr"}))


def test_scrub_values_only() -> None:
    text = "Bearer of good news; key sk-1"
    assert scrub(text, ["sk-1"], patterns=False) == "Bearer of good news; key ***"
    assert scrub("", ["x"]) == "" and scrub("nothing here", []) == "nothing here"
