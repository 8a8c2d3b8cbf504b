"""The chat-completions client against a real local HTTP server: retries, cache, auth, outages."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest
from chat_server import ChatServer

from curate.augment.llm import (
    ChatClient,
    ChatSettings,
    LLMAuthError,
    LLMRequestError,
    LLMUnreachableError,
    render_prompts,
    template_fields,
)

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
