"""Run a reader on a thread of its own, a bounded number of items ahead of its consumer.

Decoding a Parquet file (pyarrow, which releases the GIL) and checking the rows it gives (ingest's
``finalize_chunk``) are serial work on one thread otherwise: a one-file `curate dedup` spent its
ingest decoding, then checking, then decoding again while the second core waited.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(items: Iterator[T], depth: int = 1, name: str = "curate-read") -> Iterator[T]:
    """Yield what ``items`` yields, in order, computed on a daemon thread at most ``depth`` items
    ahead (plus the one it is computing). An exception ``items`` raises is raised here at the
    same position. Closing this generator early (an error downstream, ``break``) stops the thread
    after its current item, and closes ``items``."""
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
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as err:  # handed to the consumer, raised there
            put(_Failed(err))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
