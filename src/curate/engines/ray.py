"""The Ray executor: the runner's units of work, spread over a Ray cluster.

Stages do not change and never import Ray. What runs where:

- map chains run through Ray Data: a dataset of shard descriptors mapped by an actor pool
  (``map_batches`` with a callable class), so each actor sets its stages up once (models load
  once per actor) and then streams shards through them;
- the keys and apply sides of global stages run as Ray tasks: they load nothing heavy, and Ray's
  worker processes, already warm, start them at once (a new actor pool per step costs seconds);
- the pieces of a global phase (MinHash: one per LSH band) run as Ray tasks, the shared compact
  state (the dense order of ids) put in the object store once; the driver combines the compact
  results (candidate pairs) with union-find;
- ingest read tasks and export files run as Ray tasks too.

Shards stay the unit of work, and every unit writes the same files under the same names as on
the local engine, so outputs, manifests, rejected sets and ``--resume`` are the same (a test
compares them). Ray Data's own ``write_parquet`` is not used on purpose: it names files by block
and task, which would break byte-identical reruns and shard-level resume. Shards and the workdir
must live where every node can read and write them (a shared filesystem). Ray is imported only
when this engine runs.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from curate.engines.base import ChainLink, ready_stage
from curate.errors import ConfigError, CurateError, StageError

_SHARE_BYTES = 1 << 20
"""Arguments at least this big (numpy arrays, or dicts holding them) go to the object store once."""


_RUNTIME_ENV = {"env_vars": {"POLARS_MAX_THREADS": "1"}}
"""Every task and actor holds one CPU, so each uses one polars thread (as local workers do);
Ray already limits OpenMP/BLAS threads to the CPUs a worker holds."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("engine.kind: ray needs the Ray package", hint="pip install 'curate[ray]'") from None
    return ray


class ShardActor:
    """A Ray Data actor: sets its stages up once, then runs one unit of work per row.

    Rows carry a pickled ``args`` tuple for ``fn`` (a module-level unit of work of
    ``curate.engines.base``); the result goes back pickled, in the row's ``result`` column.
    """

    def __init__(self, fn: Callable[..., Any], links: list[ChainLink]) -> None:
        for link in links:
            ready_stage(link.stage, link.fingerprint)
        self.fn = fn

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [pickle.dumps(self.fn(*pickle.loads(blob))) for blob in batch["args"]]
        return {"i": batch["i"], "result": np.array(results, dtype=object)}


class RayExecutor:
    """Runs units of work on a Ray cluster (``address``/``RAY_ADDRESS``) or a Ray instance started here."""

    kind = "ray"

    def __init__(self, workers: int = 1, address: str | None = None) -> None:
        self.workers = max(1, workers)
        self.address = address or os.environ.get("RAY_ADDRESS")
        self._started = False
        self._remote: dict[Callable[..., Any], Any] = {}

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
                    ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING, runtime_env=_RUNTIME_ENV)
                else:
                    ray.init(
                        num_cpus=self.workers,
                        include_dashboard=False,
                        log_to_driver=False,
                        logging_level=logging.WARNING,
                        runtime_env=_RUNTIME_ENV,
                    )
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise explain_auth_error(err, self.address) or ConfigError(
                    f"engine.address: cannot connect to Ray at {self.address or 'a new local instance'}: {err}",
                    hint="start a cluster with `ray start --head`, or set RAY_ADDRESS / engine.address",
                ) from None
            self._started = True
        return ray

    def _parallelism(self, ray: Any) -> int:
        """Actors per map step: the cluster's CPUs (a local instance: ``workers``)."""
        if self._started and not self.address:
            return self.workers
        return max(1, int(ray.cluster_resources().get("CPU", self.workers)))

    # ------------------------------------------------------------ tasks

    def map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: Callable[[Any], None]) -> list[Any]:
        calls = list(calls)
        if not calls:
            return []
        ray = self._connect()
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = ray.remote(fn)
        shared: dict[int, Any] = {}
        refs = [remote.remote(*[_share(ray, a, shared) for a in args]) for args in calls]
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

    # ------------------------------------------------------------ Ray Data

    def map_shards(
        self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: Callable[[Any], None], links: list[ChainLink]
    ) -> list[Any]:
        calls = list(calls)
        if not calls:
            return []
        self._connect()
        import ray.data  # binds `ray` too

        data_log = logging.getLogger("ray.data")
        data_log.setLevel(logging.ERROR)  # setting the flags below logs a warning of its own
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the engine reports progress per shard itself
        context.print_on_execution_start = False
        data_log.setLevel(logging.WARNING)  # no per-dataset INFO lines, but real warnings
        items = [{"i": i, "args": pickle.dumps(args)} for i, args in enumerate(calls)]
        actors = min(len(calls), self._parallelism(ray))
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardActor,
            fn_constructor_args=(fn, links),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )
        results: list[Any] = [None] * len(calls)
        try:
            for row in dataset.iter_rows():
                r = pickle.loads(row["result"])
                results[int(row["i"])] = r
                on_done(r)
        except Exception as err:  # Ray Data wraps a task's exception in its own types
            raise _user_error(err) from err
        return results

    def close(self) -> None:
        if self._started:
            _ray().shutdown()
            self._started = False


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
