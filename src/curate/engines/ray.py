"""The Ray executor: the runner's units of work, spread over a Ray cluster.

Stages do not change and never import Ray. Every unit of work (ingest read tasks, map chains
over shards, the keys and apply sides of global stages, the pieces of a global phase such as
MinHash's LSH bands, export files) runs as a plain Ray task on Ray's worker processes, which Ray
starts once and reuses from step to step. A worker sets a stage up (loads its models) once, the
first time one of its tasks needs it, and keeps it by the link's fingerprint
(``curate.engines.base.ready_stage``), as a local worker does. Big shared arguments (the dense
order of ids of a global phase) go to the object store once; the driver combines the compact
results (candidate pairs) with union-find.

Why not Ray Data with an actor pool per map step (what this engine did first): every step then
started fresh actor processes that imported curate, polars and pyarrow and set their stages up
again while the previous step's workers sat idle beside them, seconds per step on a small
machine and ~1 GiB more resident memory for the run (benchmarks/RESULTS.md, "Ray engine").

Shards stay the unit of work, and every unit writes the same files under the same names as on
the local engine, so outputs, manifests, rejected sets and ``--resume`` are the same (a test
compares them). Ray Data's own ``write_parquet`` is not used on purpose: it names files by block
and task, which would break byte-identical reruns and shard-level resume. Shards and the workdir
must live where every node can read and write them (a shared filesystem). Ray is imported only
when this engine runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from curate.engines.base import ChainLink
from curate.errors import ConfigError, CurateError, StageError

_SHARE_BYTES = 1 << 20
"""Arguments at least this big (numpy arrays, or dicts holding them) go to the object store once."""


_WORKER_ENV = {"POLARS_MAX_THREADS": "1", "_RJEM_MALLOC_CONF": ""}
"""Every task holds one CPU, so each uses one polars thread (as local workers use their share of
the cores); Ray already limits OpenMP/BLAS threads to the CPUs a worker holds. Ray's workers keep
polars' own allocator settings (an empty value), not the command's ``POLARS_ALLOCATOR``: on the 1M
full pipeline it gained Ray's workers no CPU time (they fault far less than local workers to begin
with) and its retained pages took the process tree to 2,006-2,081 MiB (1,910-1,929 without). A cluster's
workers get it as the job's runtime environment; a local instance started here inherits it from
this process (a job-level runtime environment would make Ray start new workers for the job
instead of the ones it prestarts with the instance: ~1 s more before the first task)."""


_LOCAL_DAEMON_ENV = {"RAY_raylet_client_connect_timeout_milliseconds": "100", "RAY_raylet_client_num_connect_attempts": "100"}
"""For the daemons of a Ray instance started here: the raylet connects to its own object store,
started by a thread of the same process, and when the store is not listening yet it retries after
``raylet_client_connect_timeout_milliseconds`` (1 s by default, then it gives up after
``raylet_client_num_connect_attempts`` tries). That race made ``ray.init`` take 2.2 or 3.2 s
about half and half on 2 cores (the raylet's log shows the second); every 100 ms and up to 100
tries (the same 10 s before it gives up), it took 2.18-2.21 s in 9 runs of 9. Values the user set
are kept."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("engine.kind: ray needs the Ray package", hint="pip install 'curate[ray]'") from None
    return ray


def _unit(fn: Callable[..., Any], *args: Any) -> Any:
    """What a Ray task runs: ``fn(*args)`` in a worker process whose thread pools are sized to the
    one CPU the task holds (as a local worker's are to its share of the cores)."""
    _size_pools()
    return fn(*args)


_POOLS_SIZED = False


def _size_pools() -> None:
    global _POOLS_SIZED
    if not _POOLS_SIZED:
        import pyarrow

        pyarrow.set_cpu_count(1)
        pyarrow.set_io_thread_count(1)
        _POOLS_SIZED = True


class RayExecutor:
    """Runs units of work on a Ray cluster (``address``/``RAY_ADDRESS``) or a Ray instance started here."""

    kind = "ray"

    def __init__(self, workers: int = 1, address: str | None = None) -> None:
        self.workers = max(1, workers)
        self.address = address or os.environ.get("RAY_ADDRESS")
        self._started = False
        self._task: Any = None  # the remote form of ``_unit``, made once

    def _connect(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            from curate.engines.ray_auth import (
                check_reachable,
                explain_auth_error,
                prepare_driver_auth,
            )

            check_reachable(self.address)
            prepare_driver_auth(self.address)  # token auth: mode, token, a quick check against the cluster
            try:
                if self.address:
                    runtime_env = {"env_vars": _WORKER_ENV}
                    ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING, runtime_env=runtime_env)
                else:
                    _quiet_default_auth_notice()
                    daemons = {k: v for k, v in _LOCAL_DAEMON_ENV.items() if k not in os.environ}
                    with _environ(_WORKER_ENV | daemons), _without_idle_head_daemons():  # Ray's daemons, then its workers, inherit it
                        ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
                    _stop_unused_daemons(ray)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise explain_auth_error(err, self.address) or ConfigError(
                    f"engine.address: cannot connect to Ray at {self.address or 'a new local instance'}: {err}",
                    hint="start a cluster with `ray start --head`, or set RAY_ADDRESS / engine.address",
                ) from None
            self._started = True
        return ray

    # ------------------------------------------------------------ tasks

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: Callable[[Any], None]) -> list[Any]:
        calls = list(calls)
        if not calls:
            return []
        ray = self._connect()
        if self._task is None:
            self._task = ray.remote(num_cpus=1)(_unit)
        shared: dict[int, Any] = {}
        refs = [self._task.remote(fn, *[_share(ray, a, shared) for a in args]) for args in calls]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    r = ray.get(ref)
                    results[index[ref]] = r
                    on_done(r)
        except ray.exceptions.RayError as err:  # a task's own error, a dead worker, a lost object
            for ref in pending:
                ray.cancel(ref, force=True)
            raise _user_error(err) from err
        return results

    def map_shards(
        self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: Callable[[Any], None], links: list[ChainLink]
    ) -> list[Any]:
        """Map chains run as plain tasks too: a worker sets each link's stage up the first time it
        runs it and keeps it for the rest of the run (``ready_stage``), so ``links`` needs nothing here."""
        return self.map(fn, calls, on_done)

    def close(self) -> None:
        if self._started:
            _ray().shutdown()
            self._started = False


def _quiet_default_auth_notice() -> None:
    """Drop Ray's notice that a new local instance uses token authentication by default: curate
    wants exactly that (its own instance, on this machine), and the notice printed on every
    ``--engine ray`` run, ``-q`` included. Other warnings from that logger still show."""
    log = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not any(isinstance(f, _DefaultAuthNotice) for f in log.filters):
        log.addFilter(_DefaultAuthNotice())


class _DefaultAuthNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block only (the driver's own polars pool,
    started later, keeps the size it would have had)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _without_idle_head_daemons() -> Iterator[None]:
    """While ``ray.init`` starts a local instance, its head starts no autoscaler monitor, no log
    monitor (what ``ray start --head --no-monitor --include-log-monitor=False`` does) and no
    dashboard API server, instead of starting them for ``_stop_unused_daemons`` to stop right after.
    Each is a Python process that imports Ray first: the monitors took ~1.4-1.7 CPU s of the 1M
    pipeline's run together (benchmarks/RESULTS.md, issue 12, tenth round) on cores that run the
    work, and ``ray.init`` waits for the API server to register (2.34-2.38 s with it, 1.62-1.70 s
    without, eleventh round). Tasks never reach the API server (it serves the job and state APIs);
    the head is left as Ray leaves it when that server fails to start on its own. ``ray.init`` has
    no switch for any of the three, so Ray's own node parameters and the head's start step are set
    while the call runs and restored after; a Ray without them starts all three as before."""
    try:
        from ray._private.node import Node
        from ray._private.parameter import RayParams
    except ImportError:
        yield
        return
    original = RayParams.__init__, Node.start_api_server

    def lean(self: Any, *args: Any, **kwargs: Any) -> None:
        original[0](self, *args, **kwargs)
        self.no_monitor = True
        self.include_log_monitor = False

    def no_api_server(self: Any, *args: Any, **kwargs: Any) -> None:
        self._webui_url = ""  # what a head without a dashboard reports

    RayParams.__init__ = lean  # type: ignore[method-assign]
    Node.start_api_server = no_api_server  # type: ignore[method-assign]
    try:
        yield
    finally:
        RayParams.__init__, Node.start_api_server = original  # type: ignore[method-assign]


def _stop_unused_daemons(ray: Any) -> None:
    """Stop three daemons a Ray instance started for this run alone never uses, where
    ``_without_idle_head_daemons`` could not keep them from starting (another Ray version): the
    autoscaler's monitor (a fixed-size local instance never scales), the log monitor (worker output
    is not sent to the driver: ``log_to_driver=False``) and the dashboard's API server
    (``include_dashboard=False`` still starts it, for the job and state APIs; tasks never reach
    it). ~80 MiB resident each, and their periodic polls, on a machine whose cores run the work.
    This uses the node object ``ray.init`` made; on a Ray version without it, they keep running."""
    node = getattr(getattr(ray, "_private", None), "worker", None)
    node = getattr(node, "_global_node", None)
    for stop in ("kill_monitor", "kill_log_monitor", "kill_dashboard"):
        with contextlib.suppress(Exception):  # already gone, or another Ray version: keep going
            getattr(node, stop)(check_alive=False)


def _share(ray: Any, arg: Any, shared: dict[int, Any]) -> Any:
    """Put a big argument in the object store once for all the calls that pass the same object."""
    if isinstance(arg, np.ndarray | dict) and _nbytes(arg) >= _SHARE_BYTES:
        ref = shared.get(id(arg))
        if ref is None:
            ref = shared[id(arg)] = ray.put(arg)
        return ref
    return arg


def _nbytes(arg: Any) -> int:
    if isinstance(arg, np.ndarray):
        return int(arg.nbytes)
    if isinstance(arg, dict):
        return sum(int(v.nbytes) for v in arg.values() if isinstance(v, np.ndarray))
    return 0


def _user_error(err: BaseException) -> CurateError:
    """The user error (bad record in strict mode, stage failure) behind Ray's wrappers."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CurateError):
            return current
        cause = getattr(current, "cause", None)
        if isinstance(cause, BaseException) and id(cause) not in seen:
            current = cause
            continue
        current = current.__cause__ or current.__context__
    return StageError(f"a Ray task failed: {err}", hint="rerun with --debug for the traceback")
