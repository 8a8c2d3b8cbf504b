"""A hard per-page time cap on HTML extraction: pages are extracted in a child process that is
killed and restarted when one page overruns.

A cap inside the worker cannot be hard: an alarm signal reaches Python code only between
bytecodes, so a page that keeps a C parser or a regular expression busy (trafilatura's own
timeout works only in its command-line tool, trafilatura#704) holds the worker for as long as it
likes. Here the worker sends a group of pages to the child and reads one result per page, each
within ``timeout_s`` of the previous one; at the deadline the child is killed (SIGKILL), the page
it was on is rejected as ``extract_timeout``, and a new child takes the rest of the group.

Frames on the pipes are an 8-byte little-endian length and a pickle. The child writes frames on
a private copy of its stdout (its fd 1 is pointed at stderr, so a library that prints cannot
corrupt the stream), ignores SIGINT (the worker owns Ctrl-C), dies with its parent (Linux
``PR_SET_PDEATHSIG``) and exits when its stdin closes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Sequence

from curate.html.extract import CRASHED, TIMEOUT, TOO_LARGE, Page, extract_page
from curate.html.options import HtmlOptions

_HEAD = struct.Struct("<Q")
GROUP_PAGES = 256
GROUP_BYTES = 64 << 20
STARTUP_S = 120.0
"""How long a new child may take to import its extractors (trafilatura: ~1 s; a loaded machine: more)."""

Item = tuple[bytes | str, str | None]


def _size(data: bytes | str) -> int:
    if isinstance(data, bytes):
        return len(data)
    return len(data) if len(data) * 4 <= 1 << 62 and data.isascii() else len(data.encode("utf-8", "surrogatepass"))


def extract_pages(items: Sequence[Item], opts: HtmlOptions) -> list[Page]:
    """Pages (bytes or str, with the charset the transport declared) -> one ``Page`` each, in order."""
    out: list[Page | None] = [None] * len(items)
    todo: list[int] = []
    for i, (data, _) in enumerate(items):
        size = _size(data)
        if size > opts.max_bytes:
            out[i] = Page(None, None, None, TOO_LARGE, f"page of {size:,} bytes, over max_bytes={opts.max_bytes:,}")
        else:
            todo.append(i)
    if opts.timeout_s == 0:
        for i in todo:
            out[i] = extract_page(items[i][0], items[i][1], opts)
    elif todo:
        pages = _watchdog().run([items[i] for i in todo], opts)
        for i, page in zip(todo, pages, strict=True):
            out[i] = page
    return out  # type: ignore[return-value]


class Watchdog:
    """The parent side: one child process, restarted after a timeout or a crash."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.buf = bytearray()
        self.restarts = 0

    def close(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        self.buf.clear()

    def _start(self) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "curate.html.watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
        )
        self.buf.clear()
        return self.proc

    def _read(self, deadline: float) -> bytes | None:
        """The next frame, or None when the deadline passes or the child dies first."""
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        while True:
            if len(self.buf) >= _HEAD.size:
                (n,) = _HEAD.unpack_from(self.buf)
                if len(self.buf) >= _HEAD.size + n:
                    frame = bytes(self.buf[_HEAD.size : _HEAD.size + n])
                    del self.buf[: _HEAD.size + n]
                    return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:  # the child died
                return None
            self.buf += chunk

    def _send(self, payload: bytes) -> bool:
        proc = self.proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write(_HEAD.pack(len(payload)) + payload)
        except (BrokenPipeError, OSError):
            return False
        return True

    def run(self, items: Sequence[Item], opts: HtmlOptions) -> list[Page]:
        """Extract ``items`` in order; a page over the deadline is rejected and the child replaced."""
        results: list[Page] = []
        options = opts.model_dump_json()
        i = 0
        while i < len(items):
            end, size = i, 0
            while end < len(items) and end - i < GROUP_PAGES and (size < GROUP_BYTES or end == i):
                size += _size(items[end][0])
                end += 1
            for attempt in range(2):
                if self.proc is None or self.proc.poll() is not None:
                    self.close()
                    self._start()
                if self._send(pickle.dumps((options, list(items[i:end])), protocol=5)):
                    break
                self.close()
                if attempt:
                    raise RuntimeError("the HTML extraction process could not be started (it exits at once)")
            if self._read(time.monotonic() + STARTUP_S) != b"ready":
                code = self.proc.poll() if self.proc else None
                self.close()
                raise RuntimeError(
                    f"the HTML extraction process did not start within {STARTUP_S:.0f} s (exit status {code})"
                )
            while i < end:
                frame = self._read(time.monotonic() + opts.timeout_s)
                if frame is None:
                    alive = self.proc is not None and self.proc.poll() is None
                    self.close()
                    self.restarts += 1
                    if alive:
                        detail = (
                            f"extraction ({'+'.join(opts.runs())}) took over timeout_s={opts.timeout_s:g} s; "
                            "the page was abandoned and the extraction process restarted"
                        )
                        results.append(Page(None, None, None, TIMEOUT, detail))
                    else:
                        detail = f"the extraction process died on this page ({'+'.join(opts.runs())}); it was restarted"
                        results.append(Page(None, None, None, CRASHED, detail))
                    i += 1
                    break
                results.append(Page(*pickle.loads(frame)))
                i += 1
        return results


_INSTANCE: Watchdog | None = None


def _watchdog() -> Watchdog:
    """This process's watchdog (one child per worker process, started on first use)."""
    global _INSTANCE
    if _INSTANCE is None or os.getpid() != _INSTANCE_PID:
        _set(Watchdog())
    assert _INSTANCE is not None
    return _INSTANCE


_INSTANCE_PID = -1


def _set(w: Watchdog) -> None:
    global _INSTANCE, _INSTANCE_PID
    _INSTANCE, _INSTANCE_PID = w, os.getpid()
    atexit.register(w.close)


# ---------------------------------------------------------------- the child


def _die_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: stdin closing still ends the child
        pass
    if os.getppid() == 1:  # the parent died before prctl
        os._exit(0)


def _read_exact(fd: int, n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 24))
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _child() -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer.fileno()

    def write(payload: bytes) -> None:
        data = _HEAD.pack(len(payload)) + payload
        while data:
            data = data[os.write(out, data) :]

    cache: dict[str, HtmlOptions] = {}
    while True:
        head = _read_exact(inp, _HEAD.size)
        if head is None:
            return
        body = _read_exact(inp, _HEAD.unpack(head)[0])
        if body is None:
            return
        options, items = pickle.loads(body)
        opts = cache.get(options) or cache.setdefault(options, HtmlOptions.model_validate_json(options))
        for name in opts.runs():  # imports before the clock starts (trafilatura: ~1 s)
            __import__({"resiliparse": "resiliparse.extract.html2text"}.get(name, name))
        write(b"ready")
        for data, declared in items:
            write(pickle.dumps(tuple(extract_page(data, declared, opts)), protocol=5))


if __name__ == "__main__":
    _child()
