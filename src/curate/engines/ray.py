"""The Ray engine: the local engine's steps, with every unit of work run as a Ray task.

Stages do not change: shards stay the unit of work, so outputs, manifests and resume are the
same as the local engine's (a test compares them). Shards and the workdir must live where every
node can read and write them (a shared filesystem). Ray is imported only when this engine runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from curate.engines.local import LocalEngine
from curate.errors import ConfigError, CurateError, StageError
from curate.report import Reporter


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("engine.kind: ray needs the Ray package", hint="pip install 'curate[ray]'") from None
    return ray


class RayEngine(LocalEngine):
    """Runs units of work as Ray tasks on a cluster (or a local Ray instance)."""

    kind = "ray"

    def __init__(self, workers: int = 1, reporter: Reporter | None = None, address: str | None = None) -> None:
        super().__init__(workers, reporter)
        self.address = address or os.environ.get("RAY_ADDRESS")
        self._started = False
        self._remote: dict[Callable[..., Any], Any] = {}

    def _connect(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            try:
                if self.address:
                    ray.init(address=self.address, log_to_driver=False)
                else:
                    ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise ConfigError(
                    f"engine.address: cannot connect to Ray at {self.address or 'a new local instance'}: {err}",
                    hint="start a cluster with `ray start --head`, or set RAY_ADDRESS / engine.address",
                ) from None
            self._started = True
        return ray

    def _map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: Callable[[Any], None]) -> list[Any]:
        calls = list(calls)
        if not calls:
            return []
        ray = self._connect()
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = ray.remote(fn)
        refs = [remote.remote(*args) for args in calls]
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
        except ray.exceptions.RayTaskError as err:
            for ref in pending:
                ray.cancel(ref, force=True)
            cause = getattr(err, "cause", None)
            if isinstance(cause, CurateError):
                raise cause from None
            raise StageError(f"a Ray task failed: {cause or err}", hint="rerun with --debug for the traceback") from err
        return results

    def close(self) -> None:
        if self._started:
            _ray().shutdown()
            self._started = False
