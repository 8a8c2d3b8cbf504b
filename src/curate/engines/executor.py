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
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

from curate.errors import StageError

if TYPE_CHECKING:
    from curate.io.discovery import ReadTask

OnDone = Callable[[Any], None]


POLARS_ALLOCATOR = "oversize_threshold:0,dirty_decay_ms:2000,muzzy_decay_ms:2000"
"""jemalloc settings for polars in a ``curate`` command (the runner and every worker it starts).

polars' own (``dirty_decay_ms:500,muzzy_decay_ms:1000``, and blocks over 8 MiB in an arena that
returns them at once) hand a shard's freed string buffers back to the system before the next
shard a second later asks for as much again: every page is faulted in and zeroed anew. On the 1M
full pipeline that was ~2.6 million page faults in quality_score alone and a quarter of the
command's CPU time in the kernel. Kept for 2 s instead (the big blocks too), a step reuses its
pages: 1M full pipeline, local engine, on a loaded machine, CPU time in the kernel 52.6 -> 29.0 s,
peak RSS of the process tree 1,445 -> 1,500 MiB (5 s: 27.3 s, 1,640 MiB; never returned: 22.2 s,
2,554 MiB); benchmarks/RESULTS.md, "Full pipeline, fourth round"."""


def configure_allocator(one_process: bool = False) -> None:
    """Give polars' allocator ``POLARS_ALLOCATOR``, before polars is imported (its allocator
    reads ``_RJEM_MALLOC_CONF`` once, when it loads); workers, forked or spawned, inherit it.
    A value the user set is kept (polars' own default, which a parent process that imported
    polars passes on, is not one), and a process that imported polars already is left as it is.

    A command that will run in one process (``one_process``: a small `curate dedup`, see
    ``ONE_PROCESS_BYTES``) keeps polars' own setting: its units share the pages freed anyway, and
    pages kept 2 s are held to its end. `curate dedup` of 100,000 documents: the same 2.4 s and
    3.6 CPU s, peak RSS 576 instead of 690 MiB (medians of 5 alternating runs); of 1M documents
    in two workers, polars' own setting took 33.5-34.4 s instead of 30.9-32.2."""
    current = os.environ.get("_RJEM_MALLOC_CONF")
    if "polars" in sys.modules or (current and current != _POLARS_DEFAULT_ALLOCATOR) or one_process:
        return
    os.environ["_RJEM_MALLOC_CONF"] = POLARS_ALLOCATOR


ONE_PROCESS_BYTES = 64 * 1024 * 1024
"""Input bytes up to which a single dedup command (``curate dedup``: exact and MinHash) not told
its workers runs in one process, its units on threads (``runner.one_process``). On 100,000
documents (a 32 MB Parquet file, 127 MB of text, 2 shared cores) one process used 0.2-0.9 CPU s
less than two forked workers, peaked 200-270 MiB lower (~520 against ~720-790 MiB over the process
tree) and took the same or less wall time: each step's units are too short for a second process to
pay for its start, its copied pages and the frames it sends back (benchmarks/dedup/RESULTS-dedup.md);
on two threads it also takes ~1.4x less wall time than on one. Its output is the same bytes
whatever the worker or thread count."""


def configure_blas() -> None:
    """One OpenBLAS thread for numpy, before numpy is imported (a value the user set is kept).

    curate does no linear algebra, but numpy's OpenBLAS starts a thread per core when it loads, and
    they spin a while: ~0.1 CPU s in every process that imports numpy (the runner and each worker),
    taken from the cores doing the work (a `curate dedup` of 100,000 documents: 2.5 % of its
    CPU samples in ``blas_thread_server``)."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


_POLARS_DEFAULT_ALLOCATOR = "dirty_decay_ms:500,muzzy_decay_ms:1000"
"""What ``import polars`` (1.x, 2.x) writes to ``_RJEM_MALLOC_CONF`` when nobody set it."""


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


_on_unit_thread = threading.local()


def unit_cpu_seconds() -> float:
    """The CPU clock a unit of work reports its ``cpu_seconds`` by: the process's (the threads of
    polars' and Arrow's pools that work for it included), or, on a ``ThreadExecutor`` thread,
    whose process runs other units at the same time, that thread's own (those pools' CPU time
    then goes uncounted: a floor, never a double count)."""
    return time.thread_time() if on_unit_thread() else time.process_time()


def _mark_unit_thread() -> None:
    _on_unit_thread.shared = True


def on_unit_thread() -> bool:
    """Whether this thread is one of a ``ThreadExecutor``'s (its units share the process)."""
    return bool(getattr(_on_unit_thread, "shared", False))


def _release_arrow_memory() -> None:
    import pyarrow

    pyarrow.default_memory_pool().release_unused()


class ThreadExecutor:
    """Units on up to ``threads`` threads of this process, results in submission order.

    For runs too small for a second process to pay for itself (``runner.one_process``): a dedup
    step's units spend their time in code that releases the GIL (Parquet reads and writes, polars,
    the compiled hash, MinHash and verification kernels), so two threads use both cores with no
    process start, no copied pages and no results sent between processes. On 100,000 documents
    (2 cores) ``curate dedup`` took 2.7-2.9 s instead of 3.9-4.5 s in one thread, for ~100 MiB
    more at its peak (two shards in flight). Units write only their own files, under names that do
    not depend on the thread: the same bytes as any other executor. A unit that fails stops the
    units not yet started; those running finish (a thread cannot be stopped), then it is raised.

    The threads live as long as the executor, and Arrow's freed pages go back to the system once
    a map has finished, not after each unit (as a worker process's units do, ``base.
    _gives_memory_back``): the next unit on the same thread reuses them instead of faulting and
    zeroing fresh ones. `curate dedup` of 100,000 documents: 2.31 -> 2.11 s, 0.95 -> 0.71 s of
    system time, peak RSS 577 -> 599 MiB (medians of 6 alternating runs).
    """

    kind = "local"

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._serial = SerialExecutor()
        self._pool: ThreadPoolExecutor | None = None

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone) -> list[Any]:
        calls = list(calls)
        if self.threads == 1 or len(calls) < 2:
            return self._serial.map(fn, calls, on_done)
        results: list[Any] = [None] * len(calls)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="curate-unit", initializer=_mark_unit_thread)
        pool = self._pool
        futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        try:
            for fut in as_completed(futures):
                r = fut.result()
                results[futures[fut]] = r
                on_done(r)
        except BaseException:
            for f in futures:
                f.cancel()
            for f in futures:
                if not f.cancelled():
                    f.exception()  # wait for the units already running
            raise
        finally:
            _release_arrow_memory()  # once a step, not after each unit: see the class's docstring
        return results

    def map_shards(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone, links: list[Any]) -> list[Any]:
        return self.map(fn, calls, on_done)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


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
    # a forked worker has not started polars' thread pool (see _fork_safe), but polars read its
    # settings when the runner imported it: read again, its pool gets this worker's share of the
    # cores when it starts (a spawned worker read the variable the runner set before spawning)
    if "POLARS_MAX_THREADS" not in os.environ:
        os.environ["POLARS_MAX_THREADS"] = str(threads)
        if "polars" in sys.modules:
            sys.modules["polars"].Config.reload_env_vars()
    import pyarrow

    pyarrow.set_cpu_count(threads)
    pyarrow.set_io_thread_count(threads)


# Threads that importing numpy, pyarrow and polars starts and that survive a fork: jemalloc's
# background threads (pyarrow's and polars' jemalloc re-arm them through pthread_atfork) and polars'
# spill-file cleaner (an unbounded channel that only out-of-core spills feed; curate never spills).
# Threads named like the process itself are OpenBLAS's (numpy; stopped and restarted around a fork
# by its atfork handler) or Arrow's pools (Arrow rebuilds its pools in a forked child).
_FORK_SAFE_THREADS = frozenset({"jemalloc_bg_thd", "polars-ooc-clea"})


def _fork_safe() -> bool:
    """Whether this process may fork its workers: Linux, one Python thread, and no native thread
    but those above. polars' own pool (threads `polars-N`, started by the first polars query) or
    its async runtime (`tokio-rt-worker`) would be copied as locks and queues whose threads do not
    exist in the child, which can hang it: a process that has run polars spawns its workers."""
    if sys.platform != "linux" or threading.active_count() != 1:
        return False
    try:
        tasks = os.listdir("/proc/self/task")
        main = _thread_name(os.getpid())
        names = [_thread_name(int(t)) for t in tasks if int(t) != os.getpid()]
    except (OSError, ValueError):
        return False
    return all(n in _FORK_SAFE_THREADS or n == main for n in names)


def _thread_name(tid: int) -> str:
    with open(f"/proc/self/task/{tid}/comm") as fh:
        return fh.read().strip()


class PoolExecutor:
    """A pool of ``workers`` processes on this machine; one worker runs in-process.

    Created in a process that has only imported its libraries (the CLI, before the run starts: see
    ``_fork_safe``), the workers are forked at once: each starts with the modules already imported
    (no interpreter start, no imports: ~0.9 CPU s and ~50 MiB less per worker than a spawned one)
    and shares their pages with the runner. Otherwise (a process that has run polars, e.g. a
    notebook or the tests) they are spawned, on demand, when the first step with two units or more
    runs. Either way a unit runs the same function on the same arguments: the same bytes.
    """

    kind = "local"

    def __init__(self, workers: int = 1, units: int | None = None) -> None:
        # never more processes than a step can have units (``units_hint``): an idle forked worker
        # costs no CPU but ~100 MiB of RSS (~30 MiB PSS); with one, everything runs here
        self.workers = max(1, min(workers, units) if units else workers)
        self._pool: ProcessPoolExecutor | None = None
        self._serial = SerialExecutor()
        self.start_method = "spawn"
        if self.workers > 1 and _fork_safe():
            self.start_method = "fork"
            self._get_pool().submit(os.getpid)  # the first submit forks every worker, now, before any work

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: OnDone) -> list[Any]:
        calls = list(calls)
        # one unit runs here, unless the workers are forked already: a unit sent to one of them
        # costs no start-up, and this process does not keep the unit's memory for the rest of the
        # run (the allocators hold freed pages for a while: ~150 MiB after ingesting a 63 MB shard)
        if not calls or self.workers == 1 or (len(calls) == 1 and self._pool is None):
            return self._serial.map(fn, calls, on_done)
        pool = self._get_pool()
        futures: dict[Future, int] = {}
        results: list[Any] = [None] * len(calls)
        try:
            for i, args in enumerate(calls):  # a worker killed while idle breaks the pool: submit raises
                futures[pool.submit(fn, *args)] = i
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
            if self.start_method == "fork" and not _fork_safe():  # a pool made again after work ran here
                self.start_method = "spawn"
            if self.start_method == "spawn":  # a spawned worker may size polars' pool while importing
                os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(self.start_method),
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


UNIT_BYTES = 4 * 1024 * 1024
"""Raw input bytes per unit of work, at least: a shard holds up to 50,000 documents (4 MiB of JSON
Lines holds ~50,000 of 80 bytes) and up to 32-64 MB of text (read from about as many bytes of JSON
Lines, or a quarter of that of compressed Parquet): an estimate that errs towards more units."""


def units_hint(read_tasks: Sequence[ReadTask]) -> int | None:
    """About how many units of work a step of a run over ``read_tasks`` can have at most: one per
    read task (each is one ingest unit and gives its own shards), or one per ``UNIT_BYTES`` of
    raw input if that is more; None when the run reads no input (its shards are in the workdir)."""
    if not read_tasks:
        return None
    size = 0
    for t in read_tasks:
        size += (t.end - t.start) if t.end is not None else sum(f.size for f in t.files)
    return max(len(read_tasks), -(-size // UNIT_BYTES))


def make_executor(kind: str, workers: int, address: str | None = None, units: int | None = None) -> Executor:
    """The executor an engine config names (Ray is imported only when it is asked for); ``units``
    (``units_hint``) caps the local engine's processes."""
    if kind == "ray":
        from curate.engines.ray import RayExecutor

        return RayExecutor(workers, address)
    return PoolExecutor(workers, units)
