"""A real local HTTP server that speaks the chat-completions API, with scripted failures.

Used by the LLM tests and the benchmark (also runnable as ``python chat_server.py PORT LATENCY``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = str
"""ok | 429 | 500 | malformed | nochoices | 401 | 400 | close | slow, and the leaky ones:
echo500 | echo401 | echo400 (the request's headers in the body and the status line), echo (a 200
whose answer quotes the request's headers)"""


class ChatServer:
    """``with ChatServer(latency_s=0.05) as srv: srv.url`` -> http://127.0.0.1:PORT/v1.

    ``script`` gives the behaviour of the first requests in order, then ``default``;
    ``per_prompt`` overrides it for a prompt (forever). ``api_key`` makes every request
    without ``Authorization: Bearer <api_key>`` a 401.
    """

    def __init__(
        self,
        latency_s: float = 0.0,
        script: list[Behaviour] | None = None,
        default: Behaviour = "ok",
        per_prompt: Callable[[str], Behaviour | None] | None = None,
        api_key: str | None = None,
        retry_after: str = "0",
        port: int = 0,
        reply: Callable[[str], str] | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.script = list(script or [])
        self.default = default
        self.per_prompt = per_prompt
        self.api_key = api_key
        self.retry_after = retry_after
        self.reply = reply
        """prompt -> answer text (default: ``SYN[<prompt>]``)."""
        self.payloads: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.seen: Counter[str] = Counter()
        self.prompts: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_headers: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def requests(self) -> int:
        return sum(self.seen.values())

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _next(self, prompt: str) -> Behaviour:
        with self.lock:
            forced = self.per_prompt(prompt) if self.per_prompt else None
            if forced:
                return forced
            return self.script.pop(0) if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK
            # adds ~40 ms to every keep-alive reply.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(
                self,
                status: int,
                body: bytes,
                headers: dict[str, str] | None = None,
                reason: str | None = None,
            ) -> None:
                self.send_response(status, reason)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length))
                prompt = payload["messages"][-1]["content"]
                auth = self.headers.get("Authorization", "")
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    server.prompts.append(prompt)
                    server.payloads.append(payload)
                    server.auth_headers.append(auth)
                try:
                    behaviour = server._next(prompt)
                    if server.api_key is not None and auth != f"Bearer {server.api_key}":
                        behaviour = "401"
                    with server.lock:
                        server.seen[behaviour] += 1
                    if server.latency_s:
                        time.sleep(server.latency_s)
                    self._reply(behaviour, payload, prompt)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _reply(self, behaviour: Behaviour, payload: dict[str, Any], prompt: str) -> None:
                if behaviour == "429":
                    self._send(
                        429, b'{"error": "rate limited"}', {"Retry-After": server.retry_after}
                    )
                elif behaviour == "500":
                    self._send(500, b'{"error": "boom"}')
                elif behaviour == "401":
                    self._send(401, b'{"error": {"message": "invalid api key"}}')
                elif behaviour == "400":
                    self._send(400, b'{"error": {"message": "unknown model"}}')
                elif behaviour == "malformed":
                    self._send(200, b'{"choices": [ this is not json')
                elif behaviour == "nochoices":
                    self._send(200, b'{"object": "chat.completion"}')
                elif behaviour == "close":
                    self.close_connection = True
                    self.wfile.flush()
                elif behaviour in ("echo500", "echo401", "echo400"):
                    # a badly behaved proxy: the request's headers in the body and the reason
                    headers = dict(self.headers.items())
                    body = json.dumps({"error": "echo", "request_headers": headers}).encode()
                    reason = f"Failed for {headers.get('Authorization', '')}"
                    self._send(int(behaviour[4:]), body, reason=reason)
                elif behaviour == "echo":
                    content = json.dumps(dict(self.headers.items()))
                    self._send(200, _completion(payload, prompt, content))
                elif behaviour == "slow":
                    time.sleep(1.0)
                    self._send(200, _completion(payload, prompt))
                else:
                    content = server.reply(prompt) if server.reply else None
                    self._send(200, _completion(payload, prompt, content))

        return Handler


def _completion(payload: dict[str, Any], prompt: str, content: str | None = None) -> bytes:
    content = content or f"SYN[{prompt}]"
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": payload.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            # whitespace words stand in for tokens: enough to check cost accounting
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": len(content.split()),
                "total_tokens": len(prompt.split()) + len(content.split()),
            },
        }
    ).encode()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
    with ChatServer(latency_s=latency, port=port) as srv:
        print(srv.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
