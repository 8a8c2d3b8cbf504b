"""Synthetic text from any OpenAI-compatible chat-completions endpoint: bounded, retried, cached.

Standard library only (``http.client`` + a thread pool): generation is network-bound, so threads
reach the concurrency-bound rate, and importing curate never pulls in an HTTP library. Answers
are cached in SQLite keyed by a hash of the request, so a resumed or repeated run never pays
twice for the same prompt. The API key is read from the environment and never logged.
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
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from curate.errors import CurateError

log = logging.getLogger(__name__)


class LLMAuthError(CurateError):
    """The endpoint refused the credentials (401/403)."""


class LLMUnreachableError(CurateError):
    """Nothing answered at the configured base_url."""


class LLMRequestError(CurateError):
    """The endpoint rejected the request itself (4xx other than 401/403/429)."""


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
    blob = json.dumps(
        [settings.model, settings.system, prompt, settings.max_tokens, settings.temperature],
        ensure_ascii=False,
        separators=(",", ":"),
    )
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
    """A failure worth retrying (429, 5xx, timeout, dropped connection, malformed reply)."""

    def __init__(
        self, why: str, retry_after: float | None = None, unreachable: bool = False
    ) -> None:
        super().__init__(why)
        self.retry_after = retry_after
        self.unreachable = unreachable


class ChatClient:
    """Sends chat-completion requests with bounded concurrency, retries and a prompt cache."""

    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        url = urlsplit(settings.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise CurateError(
                f"llm.base_url must be an http(s) URL, got {settings.base_url!r}",
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
        self._local = threading.local()
        self._conns: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()

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
        except (ConnectionRefusedError, socket.gaierror) as err:
            self._drop_connection()
            raise _Transient(f"cannot connect: {err}", unreachable=True) from err
        except (TimeoutError, OSError, http.client.HTTPException) as err:
            self._drop_connection()
            raise _Transient(f"{type(err).__name__}: {err}") from err
        status = resp.status
        if resp.getheader("Connection", "").lower() == "close":
            self._drop_connection()
        if status in (401, 403):
            raise LLMAuthError(
                f"llm endpoint {self.settings.base_url} refused the credentials (HTTP {status})",
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
            raise _Transient(f"HTTP {status}", retry_after=retry_after)
        if status >= 400:
            snippet = data[:200].decode("utf-8", "replace")
            raise LLMRequestError(
                f"llm endpoint rejected the request (HTTP {status}): {snippet}",
                hint="check llm.model and llm.max_tokens against what the endpoint serves",
            )
        try:
            reply = json.loads(data)
            content = reply["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise _Transient(f"malformed reply: {type(err).__name__}") from err
        if not isinstance(content, str):
            raise _Transient("malformed reply: content is not a string")
        return content

    def _body(self, prompt: str) -> bytes:
        s = self.settings
        messages = [{"role": "system", "content": s.system}] if s.system else []
        messages.append({"role": "user", "content": prompt})
        payload = {
            "model": s.model,
            "messages": messages,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
        }
        return json.dumps(payload, ensure_ascii=False).encode()

    def complete(self, prompt: str) -> str | None:
        """One completion with retries; None when transient failures outlast the retries."""
        body = self._body(prompt)
        s = self.settings
        unreachable = 0
        for attempt in range(s.max_retries + 1):
            try:
                text = self._post(body)
                self._bump("requests_ok")
                return text
            except _Transient as err:
                self._bump("requests_retried" if attempt < s.max_retries else "requests_failed")
                unreachable += err.unreachable
                if attempt == s.max_retries:
                    if unreachable == attempt + 1:
                        raise LLMUnreachableError(
                            f"llm endpoint {s.base_url} is unreachable ({err})",
                            hint="check llm.base_url and that the server is running and reachable",
                        ) from None
                    log.warning("llm request failed after %d attempts: %s", attempt + 1, err)
                    return None
                delay = min(s.max_backoff_s, s.backoff_s * (2**attempt)) * random.uniform(0.5, 1.0)
                if err.retry_after is not None:
                    delay = min(s.max_backoff_s, err.retry_after)
                time.sleep(delay)
        return None

    def _bump(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    # ------------------------------------------------------------ many requests

    def complete_many(self, prompts: Sequence[str]) -> list[str | None]:
        """Answers in prompt order: cache hits first, the rest through ``concurrency`` threads."""
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        keys = [request_key(self.settings, p) for p in prompts]
        cache = PromptCache(self.settings.cache_path) if self.settings.cache_path else None
        answers: dict[str, str | None] = {}
        try:
            if cache is not None:
                answers.update(cache.get_many(keys))
                self.stats["cache_hits"] += sum(k in answers for k in keys)
            todo = {k: p for k, p in zip(keys, prompts, strict=True) if k not in answers}
            if todo:
                pool = ThreadPoolExecutor(
                    max_workers=max(1, min(self.settings.concurrency, len(todo)))
                )
                try:
                    futures = {pool.submit(self.complete, p): k for k, p in todo.items()}
                    pending = set(futures)
                    written = 0
                    while pending:
                        done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                        for fut in done:
                            text = fut.result()  # re-raises auth and unreachable errors
                            answers[futures[fut]] = text
                            if cache is not None and text is not None:
                                cache.put(futures[fut], text)
                                written += 1
                        if cache is not None and written:
                            cache.commit()  # at most half a second of paid answers at risk
                            written = 0
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
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
