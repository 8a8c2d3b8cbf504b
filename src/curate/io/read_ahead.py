"""Run a reader on a thread of its own, a bounded number of items ahead of its consumer.

Decoding a Parquet file (pyarrow, which releases the GIL) and checking the rows it gives (ingest's
``finalize_chunk``) are serial work on one thread otherwise: a one-file `curate dedup` spent its
ingest decoding, then checking, then decoding again while the second core waited.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterator[T] | Callable[[], Iterator[T]], depth: int = 1, name: str = "curate-read") -> Iterator[T]:
    """Yield what ``items`` yields, in order, computed on a daemon thread at most ``depth`` items
    ahead (plus the one it is computing). ``items`` may be a callable that makes the iterator: it
    is then called on that thread too (opening the file, say). An exception ``items`` raises is
    raised here at the same position. Closing this generator early (an error downstream,
    ``break``) stops the thread after its current item, and closes ``items``.

    The thread starts when this is called, not at the first ``next``: a caller may start it
    early and consume it later (``curate.io.prefetch``)."""
    return _Consumer(_start(items, depth, name))


def _start(items: Iterator[T] | Callable[[], Iterator[T]], depth: int, name: str) -> tuple[queue.Queue[object], threading.Event, threading.Thread]:
    ready: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source: Iterator[T] | None = None
        try:
            source = items() if callable(items) else items
            for item in source:
                if not put(item):
                    return
            put(_END)
        except BaseException as err:  # handed to the consumer, raised there
            put(_Failed(err))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    return ready, stop, worker


class _Consumer(Iterator[T]):
    """The consuming end: items in order; ``close`` (also when garbage-collected) stops the thread."""

    def __init__(self, started: tuple[queue.Queue[object], threading.Event, threading.Thread]) -> None:
        self._ready, self._stop, self._worker = started
        self._done = False

    def __iter__(self) -> _Consumer[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._ready.get()
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Failed):
            self.close()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the thread after its current item and wait for it (it closes its iterator)."""
        if not self._done:
            self._done = True
            self._stop.set()
            self._worker.join()

    def __del__(self) -> None:
        self.close()
