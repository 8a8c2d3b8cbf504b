"""The chat-completions client against a real local HTTP server: retries, cache, auth, outages,
the failure threshold, and the key kept out of every message, log and cache file."""

from __future__ import annotations

import logging
import socket
import time
import traceback
from pathlib import Path

import pytest
from chat_server import ChatServer

from curate.augment.llm import (
    ChatClient,
    ChatSettings,
    LLMAuthError,
    LLMFailureError,
    LLMRequestError,
    LLMUnreachableError,
    render_prompts,
    request_key,
    template_fields,
)
from curate.errors import ConfigError

pytestmark = pytest.mark.timeout(30)


def settings(url: str, **kw: object) -> ChatSettings:
    base: dict[str, object] = {
        "base_url": url,
        "model": "m1",
        "max_retries": 3,
        "backoff_s": 0.0,
        "timeout_s": 5.0,
        "concurrency": 4,
    }
    base.update(kw)
    return ChatSettings(**base)  # type: ignore[arg-type]


def test_answers_in_prompt_order_and_concurrency_is_bounded() -> None:
    prompts = [f"p{i}" for i in range(24)]
    with ChatServer(latency_s=0.02) as srv:
        out = ChatClient(settings(srv.url, concurrency=4)).complete_many(prompts)
    assert out == [f"SYN[{p}]" for p in prompts]
    assert srv.requests == 24 and 1 < srv.max_in_flight <= 4


def test_retries_429_with_retry_after_500_malformed_and_dropped_connections() -> None:
    script = ["429", "500", "malformed", "nochoices", "close", "429"]
    with ChatServer(script=script, retry_after="0.05") as srv:
        client = ChatClient(settings(srv.url, concurrency=1, max_retries=6))
        t0 = time.monotonic()
        out = client.complete_many(["hello"])
        elapsed = time.monotonic() - t0
    assert out == ["SYN[hello]"]
    assert srv.seen["429"] == 2 and srv.seen["ok"] == 1 and srv.requests == 7
    assert elapsed >= 0.1  # Retry-After honoured twice
    assert client.stats["requests_retried"] == 6


def test_persistent_failures_give_none_after_bounded_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with ChatServer(per_prompt=lambda p: "500" if p == "bad" else None) as srv:
        out = ChatClient(settings(srv.url, max_retries=2)).complete_many(["good", "bad"])
    assert out == ["SYN[good]", None]
    assert srv.seen["500"] == 3


def test_timeouts_are_retried() -> None:
    with ChatServer(script=["slow"]) as srv:
        out = ChatClient(settings(srv.url, timeout_s=0.3, concurrency=1)).complete_many(["x"])
    assert out == ["SYN[x]"]


def test_cache_means_a_rerun_never_pays_twice(tmp_path: Path) -> None:
    cache = str(tmp_path / "c" / "cache.sqlite")
    prompts = ["a", "b", "a", "c"]
    with ChatServer() as srv:
        first = ChatClient(settings(srv.url, cache_path=cache)).complete_many(prompts)
        paid = srv.requests
        client = ChatClient(settings(srv.url, cache_path=cache))
        second = client.complete_many(prompts + ["d"])
    assert paid == 3  # duplicates in one call are sent once
    assert first == second[:4] and second[4] == "SYN[d]"
    assert srv.requests == 4 and client.stats["cache_hits"] == 4


def test_cache_key_depends_on_model_and_prompt(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache.sqlite")
    with ChatServer() as srv:
        ChatClient(settings(srv.url, cache_path=cache)).complete_many(["a"])
        ChatClient(settings(srv.url, cache_path=cache, model="m2")).complete_many(["a"])
        ChatClient(settings(srv.url, cache_path=cache, temperature=0.1)).complete_many(["a"])
    assert srv.requests == 3


def test_auth_failure_is_a_clear_error_and_the_key_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CURATE_TEST_KEY", "sk-secret-123")
    caplog.set_level(logging.DEBUG)
    with ChatServer(api_key="sk-other") as srv, pytest.raises(LLMAuthError) as err:
        ChatClient(settings(srv.url, api_key_env="CURATE_TEST_KEY")).complete_many(["a", "b"])
    assert "401" in err.value.message and "CURATE_TEST_KEY" in (err.value.hint or "")
    assert "sk-secret-123" not in err.value.message + (err.value.hint or "") + caplog.text
    assert srv.auth_headers[0] == "Bearer sk-secret-123"
    assert srv.requests <= 2  # no retries on auth failure


def test_good_key_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURATE_TEST_KEY", "sk-good")
    with ChatServer(api_key="sk-good") as srv:
        assert ChatClient(settings(srv.url, api_key_env="CURATE_TEST_KEY")).complete_many(
            ["a"]
        ) == ["SYN[a]"]


def test_missing_key_variable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CURATE_NO_SUCH_KEY", raising=False)
    with pytest.raises(LLMAuthError, match="CURATE_NO_SUCH_KEY"):
        ChatClient(settings("http://127.0.0.1:9/v1", api_key_env="CURATE_NO_SUCH_KEY"))


def test_client_errors_are_not_retried() -> None:
    with ChatServer(default="400") as srv, pytest.raises(LLMRequestError, match="unknown model"):
        ChatClient(settings(srv.url)).complete_many(["a"])
    assert srv.requests == 1


def test_unreachable_endpoint_is_a_clear_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(LLMUnreachableError) as err:
        ChatClient(settings(f"http://127.0.0.1:{port}/v1", max_retries=1)).complete_many(["a"])
    assert "base_url" in (err.value.hint or "")


def test_bad_base_url() -> None:
    with pytest.raises(Exception, match="http"):
        ChatClient(settings("ftp://x"))


def test_templates() -> None:
    assert template_fields("Q: {title}\n{text} {title}") == ["title", "text"]
    with pytest.raises(ValueError):
        template_fields("{text!r}")
    assert render_prompts("{a}-{b}", [{"a": 1, "b": None}]) == ["1-"]


# ---------------------------------------------------------------- secrets never leave memory

KEY = "sk-test-SECRET-0123456789"


def _chain_text(err: BaseException) -> str:
    """Everything --debug could print: the traceback of the error and of its chain."""
    return "".join(traceback.format_exception(err)) + repr(err) + str(getattr(err, "hint", ""))


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [("echo500", LLMFailureError), ("echo401", LLMAuthError), ("echo400", LLMRequestError)],
)
def test_errors_from_a_server_that_echoes_headers_never_hold_the_key(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    behaviour: str,
    error: type[Exception],
) -> None:
    monkeypatch.setenv("CURATE_TEST_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    with ChatServer(default=behaviour) as srv, pytest.raises(error) as err:
        ChatClient(settings(srv.url, api_key_env="CURATE_TEST_KEY", max_retries=1)).complete_many(
            ["a"]
        )
    assert srv.auth_headers[0] == f"Bearer {KEY}"  # the key was sent, and echoed back
    text = _chain_text(err.value) + caplog.text
    assert KEY not in text and "SECRET" not in text
    assert "***" in err.value.message and "echo" in err.value.message  # the body is still shown


def test_failure_summary_names_counts_and_the_commonest_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CURATE_TEST_KEY", KEY)
    with ChatServer(default="echo500") as srv, pytest.raises(LLMFailureError) as err:
        client = ChatClient(settings(srv.url, api_key_env="CURATE_TEST_KEY", max_retries=1))
        client.complete_many([f"p{i}" for i in range(3)])
    msg = err.value.message
    assert msg.startswith("3 of 3 llm requests failed after 1 retries")
    assert "max_failure_fraction=0.1" in msg and "most common error (3 of 3): HTTP 500" in msg
    assert KEY not in msg and client.failures == {"http_500": 3}


def test_an_endpoint_failing_every_request_fails_fast(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    prompts = [f"p{i}" for i in range(200)]
    with ChatServer(default="500") as srv, pytest.raises(LLMFailureError) as err:
        ChatClient(settings(srv.url, max_retries=1, failure_min_requests=10)).complete_many(prompts)
    assert "stopped early" in err.value.message
    assert srv.requests < 200  # far fewer than 200 prompts x 2 attempts
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_failures_under_the_threshold_are_one_warning_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    bad = {"p3", "p17"}
    prompts = [f"p{i}" for i in range(40)]
    with ChatServer(per_prompt=lambda p: "500" if p in bad else None) as srv:
        client = ChatClient(settings(srv.url, max_retries=1))
        out = client.complete_many(prompts)
    assert {p for p, a in zip(prompts, out, strict=True) if a is None} == bad
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["llm: 2 of 40 requests failed after retries (http_500: 2); their rows are dropped"]
    assert client.failures == {"http_500": 2} and client.stats["requests_failed"] == 2


def test_over_the_threshold_fails_even_when_most_succeed() -> None:
    bad = {f"p{i}" for i in range(0, 40, 5)}  # 8 of 40 = 20 %
    with ChatServer(per_prompt=lambda p: "500" if p in bad else None) as srv:
        prompts = [f"p{i}" for i in range(40)]
        # one at a time: the 5th failure (p20) makes more than 10 % of 40 certain
        with pytest.raises(LLMFailureError, match=r"5 of 21 llm requests .* 19 not sent"):
            ChatClient(settings(srv.url, max_retries=0, concurrency=1)).complete_many(prompts)
        out = ChatClient(
            settings(srv.url, max_retries=0, max_failure_fraction=0.25)
        ).complete_many(prompts)
    assert sum(a is None for a in out) == 8


def test_max_failure_fraction_one_never_fails() -> None:
    with ChatServer(default="500") as srv:
        out = ChatClient(
            settings(srv.url, max_retries=0, max_failure_fraction=1.0)
        ).complete_many(["a", "b"])
    assert out == [None, None]


@pytest.mark.parametrize(
    ("done", "failed", "total", "frac", "least", "fails"),
    [
        (5, 5, 5, 0.1, 20, True),  # a small call where everything failed
        (5, 4, 5, 0.1, 20, False),  # a small call: not judged by the fraction
        (3, 3, 5, 0.1, 20, False),  # not finished yet
        (20, 20, 500, 0.1, 20, True),  # fail fast
        (20, 19, 500, 0.1, 20, False),  # too early to tell
        (100, 51, 500, 0.1, 20, True),  # certain to exceed 10 % of 500
        (500, 50, 500, 0.1, 20, False),  # exactly the fraction is allowed
        (500, 51, 500, 0.1, 20, True),
        (500, 1, 500, 0.0, 20, True),  # 0: any failure fails
        (5, 5, 5, 1.0, 20, False),  # 1: never
        (0, 0, 0, 0.1, 20, False),
    ],
)
def test_threshold_rule(
    done: int, failed: int, total: int, frac: float, least: int, fails: bool
) -> None:
    client = ChatClient(
        settings("http://127.0.0.1:9/v1", max_failure_fraction=frac, failure_min_requests=least)
    )
    assert client.too_many_failures(done, failed, total) is fails


def test_cache_never_holds_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CURATE_TEST_KEY", KEY)
    cache = tmp_path / "cache.sqlite"
    with ChatServer(per_prompt=lambda p: "echo" if p == "leak" else None) as srv:
        client = ChatClient(settings(srv.url, api_key_env="CURATE_TEST_KEY", cache_path=str(cache)))
        out = client.complete_many(["a", "leak"])
    assert out[0] == "SYN[a]" and out[1] is not None and "Bearer ***" in out[1]
    assert KEY not in out[1] and client.stats["answers_scrubbed"] == 1
    # the cache key hashes the request without the key: the same with another key or none
    monkeypatch.setenv("CURATE_TEST_KEY", "sk-another")
    other = ChatClient(settings("http://127.0.0.1:9/v1", api_key_env="CURATE_TEST_KEY"))
    assert request_key(other.settings, "a") == request_key(settings("http://x/v1"), "a")
    files = list(tmp_path.iterdir())
    assert files and all(KEY.encode() not in f.read_bytes() for f in files)


def test_client_refuses_credentials_in_the_url() -> None:
    with pytest.raises(ConfigError) as err:
        ChatClient(settings("https://user:hunter2@example.com/v1?api-key=abc"))
    assert "hunter2" not in err.value.message and "abc" not in err.value.message
    assert "user:***@example.com" in err.value.message and "api_key_env" in (err.value.hint or "")
