"""Executors only run units of work: in this process, in a local pool, or on Ray (``ray.py``).

The runner (``curate.runner``) decides *what* runs: steps, resume, routing, manifests, side
state and publishing. An executor decides only *where*: it takes a module-level function and
a list of argument tuples and returns the results in submission order, calling ``on_done``
as each finishes (for progress). ``map_shards`` is the same for map chains over shards; the
``links`` say which stages a worker should set up once (the Ray executor keeps them in actor
pools). Every executor must give the same results for the same calls: units write their own
files under names that do not depend on where they ran.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from curate.errors import StageError

OnDone = Callable[[Any], None]


class Executor(Protocol):
    """Where units of work run. Results come back in submission order."""

    kind: str

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone) -> list[Any]: ...

    def map_shards(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone, links: list[Any]) -> list[Any]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Everything in this process, in order: what tests use, and ``workers: 1``."""

    kind = "local"

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone) -> list[Any]:
        out = []
        for args in calls:
            r = fn(*args)
            on_done(r)
            out.append(r)
        return out

    def map_shards(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone, links: list[Any]) -> list[Any]:
        return self.map(fn, calls, on_done)

    def close(self) -> None:
        pass


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (a SIGKILLed runner leaves no workers)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watchdog below still ends idle workers
        pass


def _init_worker(threads: int, parent: int) -> None:
    # Ctrl-C reaches the whole process group: the runner handles it once; workers stay quiet
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    import pyarrow

    pyarrow.set_cpu_count(threads)
    pyarrow.set_io_thread_count(threads)


class PoolExecutor:
    """A pool of ``workers`` spawned processes on this machine; one worker runs in-process."""

    kind = "local"

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._serial = SerialExecutor()

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone) -> list[Any]:
        calls = list(calls)
        if self.workers == 1 or len(calls) <= 1:
            return self._serial.map(fn, calls, on_done)
        pool = self._get_pool()
        futures: dict[Future, int] = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        results: list[Any] = [None] * len(calls)
        try:
            for fut in as_completed(futures):
                r = fut.result()
                results[futures[fut]] = r
                on_done(r)
        except BrokenProcessPool:
            self._abandon(futures)
            raise StageError(
                "a worker process died (killed by the system, out of memory, or a crash in native code)",
                hint="rerun with --resume to continue; with --workers 1 the failing shard is named",
            ) from None
        except BaseException:
            self._abandon(futures)
            raise
        return results

    def map_shards(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone, links: list[Any]) -> list[Any]:
        return self.map(fn, calls, on_done)

    def _abandon(self, futures: dict[Future, int]) -> None:
        # No Future.cancel() here: killing the workers breaks the pool, and Python 3.11's pool
        # thread then sets BrokenProcessPool on every pending future, which raises (and prints a
        # traceback from that thread) for a future already cancelled.
        self.close(wait=False)

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(threads, os.getpid()),
            )
        return self._pool

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            if not wait:
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.kill()
            pool.shutdown(wait=wait, cancel_futures=wait)  # see _abandon: never cancel what a broken pool fails


def make_executor(kind: str, workers: int, address: str | None = None) -> Executor:
    """The executor an engine config names (Ray is imported only when it is asked for)."""
    if kind == "ray":
        from curate.engines.ray import RayExecutor

        return RayExecutor(workers, address)
    return PoolExecutor(workers)
