"""Synthetic text from any OpenAI-compatible chat-completions endpoint: bounded, retried, cached.

Standard library only (``http.client`` + a thread pool): generation is network-bound, so threads
reach the concurrency-bound rate, and importing curate never pulls in an HTTP library. Why not the
``openai`` client or ``httpx``: batch generation needs bounded concurrency, retries with
Retry-After, timeouts, keep-alive and a per-request cache, all of which this module does in a few
hundred lines (measured at 85-90 % of the concurrency-bound rate, ``benchmarks/augment``); it does
not stream (a batch row is only useful whole), and it speaks the request shape OpenAI, vLLM,
llama.cpp's server and Ollama share (``model``, ``messages``, ``max_tokens``, ``temperature``,
optional ``response_format``), reading ``choices[0].message.content`` and ``usage``. Answers
are cached in SQLite keyed by a hash of the request, so a resumed or repeated run never pays
twice for the same prompt. The API key is read from the environment and lives only in the
``Authorization`` header: never logged, cached (the cache key hashes the request body, which holds
no key) or put into a message. Every message built from what a server sent back (status line,
body, exception text) goes through :func:`curate.secrets.scrub` first, so a server that echoes
request headers cannot leak the key into an error.

Requests that still fail after their retries give ``None`` (the row is dropped) and are counted
by cause; when more than ``max_failure_fraction`` of one call's requests fail (judged once
``failure_min_requests`` have finished, or at the end when every one failed),
:meth:`ChatClient.complete_many` raises :class:`LLMFailureError` with a summary instead.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import random
import socket
import sqlite3
import string
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from curate.errors import ConfigError, CurateError, StageError
from curate.secrets import redact_url, scrub, url_credentials

log = logging.getLogger(__name__)


class LLMAuthError(CurateError):
    """The endpoint refused the credentials (401/403)."""


class LLMUnreachableError(CurateError):
    """Nothing answered at the configured base_url."""


class LLMRequestError(CurateError):
    """The endpoint rejected the request itself (4xx other than 401/403/429)."""


class LLMFailureError(StageError):
    """Too many requests failed after their retries (``max_failure_fraction``)."""


@dataclass(frozen=True)
class ChatSettings:
    """Everything the client needs; built from the stage's ``llm`` section."""

    base_url: str
    model: str
    api_key_env: str | None = None
    system: str | None = None
    max_tokens: int = 512
    temperature: float = 0.7
    concurrency: int = 8
    max_retries: int = 5
    timeout_s: float = 60.0
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    cache_path: str | None = None
    max_failure_fraction: float = 0.1
    failure_min_requests: int = 20
    response_format: str | None = None
    """A JSON ``response_format`` object (as text) sent with each request, or None (not sent)."""


def template_fields(template: str) -> list[str]:
    """Column names used by a ``str.format`` template (``{text}``, ``{title}``)."""
    names = []
    for _, name, spec, conv in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conv:
            raise ValueError(f"template fields must be plain column names, got {{{name}}}")
        names.append(name)
    return list(dict.fromkeys(names))


def render_prompts(template: str, rows: Iterable[dict[str, Any]]) -> list[str]:
    """The prompt of each row: the template with its fields (nulls as empty text)."""
    fields = template_fields(template)
    return [template.format(**{f: "" if r.get(f) is None else r[f] for f in fields}) for r in rows]


def request_key(settings: ChatSettings, prompt: str) -> str:
    """Cache key: sha256 of everything that determines the answer (not the URL or the key)."""
    parts: list[Any] = [
        settings.model,
        settings.system,
        prompt,
        settings.max_tokens,
        settings.temperature,
    ]
    if settings.response_format is not None:  # keys of requests without one stay as they were
        parts.append(settings.response_format)
    blob = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class PromptCache:
    """Answers by request key in SQLite (WAL: safe for several worker processes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, text TEXT NOT NULL)"
        )
        self.db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        uniq = list(dict.fromkeys(keys))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            marks = ",".join("?" * len(part))
            for k, v in self.db.execute(
                f"SELECT key, text FROM answers WHERE key IN ({marks})", part
            ):
                found[k] = v
        return found

    def put(self, key: str, text: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, text))

    def commit(self) -> None:
        self.db.commit()

    def close(self) -> None:
        self.db.commit()
        self.db.close()


class _Transient(Exception):
    """A failure worth retrying (429, 5xx, timeout, dropped connection, malformed reply).

    ``code`` names the cause for counters (``http_500``, ``timeout``, ``connection``,
    ``malformed_reply``, ``unreachable``); ``why`` is already scrubbed.
    """

    def __init__(
        self,
        why: str,
        code: str,
        retry_after: float | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(why)
        self.why = why
        self.code = code
        self.retry_after = retry_after
        self.unreachable = unreachable


def _snippet(data: bytes, secrets: Sequence[str], limit: int = 200) -> str:
    """The start of a response body, scrubbed before it is cut (a cut key would not match)."""
    text = scrub(data[: 1 << 20].decode("utf-8", "replace"), secrets)
    return " ".join(text.split())[:limit]


class ChatClient:
    """Sends chat-completion requests with bounded concurrency, retries and a prompt cache."""

    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        self._secrets: tuple[str, ...] = ()
        if url_credentials(settings.base_url):
            raise ConfigError(
                "llm.base_url must not carry credentials, got " + redact_url(settings.base_url),
                hint="put the key in an environment variable and name it in llm.api_key_env",
            )
        url = urlsplit(settings.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise CurateError(
                f"llm.base_url must be an http(s) URL, got {redact_url(settings.base_url)!r}",
                hint="for example https://api.openai.com/v1 or http://127.0.0.1:8000/v1",
            )
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port
        self._path = url.path.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise LLMAuthError(
                    f"environment variable {settings.api_key_env} (llm.api_key_env) is not set",
                    hint=f"export {settings.api_key_env}=... or set llm.api_key_env: null for "
                    "endpoints without authentication",
                )
            self._headers["Authorization"] = f"Bearer {key}"
            self._secrets = (key,)
        self._local = threading.local()
        self._conns: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.stats: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        """Requests that failed after their retries, by cause (``http_500``, ``timeout``...)."""
        self.failure_examples: dict[str, str] = {}
        """One scrubbed message per cause in :attr:`failures`."""

    def _scrub(self, text: str) -> str:
        """``text`` without the key or anything that looks like a credential."""
        return scrub(text, self._secrets)

    # ------------------------------------------------------------ one request

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.settings.timeout_s)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _post(self, body: bytes) -> str:
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=body, headers=self._headers)
            resp = conn.getresponse()
            data = resp.read()
        # Exceptions here are re-raised ``from None`` with scrubbed text: an http.client error
        # can quote what the server sent (a status line), and a chained original would carry it.
        except (ConnectionRefusedError, socket.gaierror) as err:
            self._drop_connection()
            why = self._scrub(f"cannot connect: {err}")
            raise _Transient(why, "unreachable", unreachable=True) from None
        except TimeoutError as err:
            self._drop_connection()
            raise _Transient(self._scrub(f"timeout: {err}"), "timeout") from None
        except (OSError, http.client.HTTPException) as err:
            self._drop_connection()
            raise _Transient(self._scrub(f"{type(err).__name__}: {err}"), "connection") from None
        status = resp.status
        line = self._scrub(f"HTTP {status} {resp.reason or ''}".rstrip())
        if resp.getheader("Connection", "").lower() == "close":
            self._drop_connection()
        if status in (401, 403):
            raise LLMAuthError(
                f"llm endpoint {redact_url(self.settings.base_url)} refused the credentials "
                f"({line}): {_snippet(data, self._secrets)}",
                hint=f"check the key in ${self.settings.api_key_env}"
                if self.settings.api_key_env
                else "the endpoint needs a key: set llm.api_key_env to the variable that holds it",
            )
        if status == 429 or status >= 500:
            retry_after = None
            header = resp.getheader("Retry-After")
            if header:
                try:
                    retry_after = max(0.0, float(header))
                except ValueError:
                    retry_after = None
            body = _snippet(data, self._secrets)
            why = f"{line}: {body}" if body else line
            raise _Transient(why, f"http_{status}", retry_after=retry_after)
        if status >= 400:
            raise LLMRequestError(
                f"llm endpoint rejected the request ({line}): {_snippet(data, self._secrets)}",
                hint="check llm.model and llm.max_tokens against what the endpoint serves",
            )
        try:
            reply = json.loads(data)
            content = reply["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise _Transient(f"malformed reply: {type(err).__name__}", "malformed_reply") from None
        if not isinstance(content, str):
            raise _Transient("malformed reply: content is not a string", "malformed_reply")
        usage = reply.get("usage") if isinstance(reply, dict) else None
        if isinstance(usage, dict):  # cost accounting: the server's own token counts
            for name in ("prompt_tokens", "completion_tokens"):
                n = usage.get(name)
                if isinstance(n, int) and n >= 0:
                    self._bump(name, n)
        if self._secrets:
            # a server that echoes the request would put the key into the data and the cache
            clean = scrub(content, self._secrets, patterns=False)
            if clean != content:
                self._bump("answers_scrubbed")
                content = clean
        return content

    def _body(self, prompt: str) -> bytes:
        s = self.settings
        messages = [{"role": "system", "content": s.system}] if s.system else []
        messages.append({"role": "user", "content": prompt})
        payload: dict[str, Any] = {
            "model": s.model,
            "messages": messages,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
        }
        if s.response_format is not None:
            payload["response_format"] = json.loads(s.response_format)
        return json.dumps(payload, ensure_ascii=False).encode()

    def complete(self, prompt: str) -> str | None:
        """One completion with retries; None when transient failures outlast the retries."""
        out = self._complete(prompt)
        if isinstance(out, _Transient):
            self._record_failure(out)
            return None
        return out

    def _record_failure(self, err: _Transient) -> None:
        with self._lock:
            self.failures[err.code] += 1
            self.failure_examples.setdefault(err.code, err.why)

    def _complete(self, prompt: str) -> str | _Transient | None:
        """The answer, the last transient error once retries are spent, or None when abandoned."""
        body = self._body(prompt)
        s = self.settings
        unreachable = 0
        for attempt in range(s.max_retries + 1):
            try:
                text = self._post(body)
                self._bump("requests_ok")
                return text
            except _Transient as err:
                last = attempt == s.max_retries or self._stop.is_set()
                self._bump("requests_failed" if last else "requests_retried")
                unreachable += err.unreachable
                if last:
                    if unreachable == attempt + 1 and not self._stop.is_set():
                        raise LLMUnreachableError(
                            f"llm endpoint {redact_url(s.base_url)} is unreachable ({err.why})",
                            hint="check llm.base_url and that the server is running and reachable",
                        ) from None
                    log.debug("llm request failed after %d attempts: %s", attempt + 1, err.why)
                    return err
                delay = min(s.max_backoff_s, s.backoff_s * (2**attempt)) * random.uniform(0.5, 1.0)
                if err.retry_after is not None:
                    delay = min(s.max_backoff_s, err.retry_after)
                if self._stop.wait(delay):  # the call is being abandoned: send nothing more
                    return None
        return None

    def _bump(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.stats[name] += n

    # ------------------------------------------------------------ failure threshold

    def too_many_failures(self, done: int, failed: int, total: int) -> bool:
        """Whether ``failed`` of ``done`` finished requests (of ``total``) already fail the call.

        Counts are of distinct prompts; answers from the cache count as succeeded requests.

        Certain to exceed ``max_failure_fraction`` of a call of at least ``failure_min_requests``
        requests; or the first ``failure_min_requests`` all failed (fail fast); or, at the end of
        a smaller call, every request failed. ``max_failure_fraction: 1`` never fails.
        """
        s = self.settings
        frac, least = s.max_failure_fraction, s.failure_min_requests
        if failed == 0 or failed <= frac * done:
            return False
        if total >= least and failed > frac * total:
            return True
        if done >= least and failed == done:
            return True
        return done == total and failed == total

    def failure_summary(self, done: int, failed: int, total: int, cached: int = 0) -> str:
        """One line: how many requests, how many failed, the most common cause (scrubbed)."""
        s = self.settings
        head = f"{failed} of {done} llm requests failed after {s.max_retries} retries"
        if cached:
            head += f" ({cached} answered from the cache)"
        if done < total:
            head += f" (stopped early, {total - done} not sent)"
        head += f", more than llm.max_failure_fraction={s.max_failure_fraction:g}"
        if self.failures:
            code, n = self.failures.most_common(1)[0]
            head += f"; most common error ({n} of {failed}): {self.failure_examples[code]}"
        return self._scrub(head)

    # ------------------------------------------------------------ many requests

    def complete_many(self, prompts: Sequence[str]) -> list[str | None]:
        """Answers in prompt order: cache hits first, the rest through ``concurrency`` threads."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        keys = [request_key(self.settings, p) for p in prompts]
        cache = PromptCache(self.settings.cache_path) if self.settings.cache_path else None
        answers: dict[str, str | None] = {}
        try:
            if cache is not None:
                answers.update(cache.get_many(keys))
                self.stats["cache_hits"] += sum(k in answers for k in keys)
            todo = {k: p for k, p in zip(keys, prompts, strict=True) if k not in answers}
            cached = len(set(keys)) - len(todo)  # answered earlier: succeeded requests
            if todo:
                pool = ThreadPoolExecutor(
                    max_workers=max(1, min(self.settings.concurrency, len(todo)))
                )
                futures = {pool.submit(self._complete, p): k for k, p in todo.items()}
                pending = set(futures)
                finished = failed = 0
                try:
                    for fut in as_completed(futures):
                        pending.discard(fut)
                        out = fut.result()  # re-raises auth and unreachable errors
                        text = None if isinstance(out, _Transient) else out
                        if isinstance(out, _Transient):
                            self._record_failure(out)  # only here: counts match ``failed``
                        answers[futures[fut]] = text
                        finished += 1
                        failed += text is None
                        if cache is not None and text is not None:
                            # committed one by one (WAL: cheap): a killed run loses no answer
                            # it received, so a resumed run never pays for one twice
                            cache.put(futures[fut], text)
                            cache.commit()
                        judged = (cached + finished, failed, cached + len(todo))
                        if text is None and self.too_many_failures(*judged):
                            raise LLMFailureError(
                                self.failure_summary(*judged, cached=cached),
                                hint="check the endpoint (llm.base_url) and its logs"
                                + ("; answers received so far are cached" if cache else "")
                                + "; raise llm.max_failure_fraction to accept more failures",
                            )
                finally:
                    self._stop.set()  # requests still in flight stop retrying
                    pool.shutdown(wait=True, cancel_futures=True)
                    self._stop.clear()
                    if cache is not None:  # keep answers paid for while stopping
                        for fut in pending:
                            if fut.done() and not fut.cancelled() and fut.exception() is None:
                                text = fut.result()
                                if isinstance(text, str):
                                    cache.put(futures[fut], text)
                if failed:
                    log.warning(
                        "llm: %d of %d requests failed after retries (%s); their rows are dropped",
                        failed,
                        len(todo),
                        ", ".join(f"{code}: {n}" for code, n in self.failures.most_common()),
                    )
        finally:
            if cache is not None:
                cache.close()
            self.close()
        return [answers.get(k) for k in keys]

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
