"""The local engine: every step's shards in a pool of worker processes, resumable at shard level."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from curate.config import stable_digest
from curate.engines import base
from curate.engines.base import ChainLink, RunReport, shard_names
from curate.errors import CurateError
from curate.export import (
    active_splits,
    count_shard,
    dataset_card,
    file_name,
    output_schema,
    plan_files,
    rows_per_file,
    write_file,
)
from curate.io.shards import (
    clean_temporaries,
    read_json,
    remove_tree,
    write_bytes_atomic,
    write_json_atomic,
)
from curate.manifest import StageStats, StepResult, versions
from curate.pipeline import Plan, Step
from curate.report import NullReporter, Reporter
from curate.stages.base import MapStage


def _init_worker(threads: int) -> None:
    import pyarrow

    pyarrow.set_cpu_count(threads)
    pyarrow.set_io_thread_count(threads)


class LocalEngine:
    """Runs a plan on this machine; ``workers=1`` runs everything in this process.

    Step orchestration (resume, manifests, routing, export) lives here; *where* units of work run
    is only ``_map``, which the Ray engine overrides, so both engines produce the same files.
    """

    kind = "local"

    def __init__(self, workers: int = 1, reporter: Reporter | None = None) -> None:
        self.run_id: str | None = None
        self.workers = max(1, workers)
        self.reporter = reporter or NullReporter()
        self._pool: ProcessPoolExecutor | None = None

    # ------------------------------------------------------------ scheduling

    def _map(self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: Callable[[Any], None]) -> list[Any]:
        """Run ``fn(*args)`` for every args tuple; results in submission order."""
        calls = list(calls)
        if self.workers == 1 or len(calls) <= 1:
            out = []
            for args in calls:
                r = fn(*args)
                on_done(r)
                out.append(r)
            return out
        pool = self._get_pool()
        futures: dict[Future, int] = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
        results: list[Any] = [None] * len(calls)
        try:
            for fut in as_completed(futures):
                r = fut.result()
                results[futures[fut]] = r
                on_done(r)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return results

    def _map_shards(
        self, fn: Callable[..., Any], calls: Iterable[tuple], on_done: Callable[[Any], None], links: list[ChainLink]
    ) -> list[Any]:
        """Map chains over shards: ``links`` say which stages the workers set up. Here, like any
        other work; the Ray engine runs them in Ray Data actor pools."""
        return self._map(fn, calls, on_done)

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(threads,),
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # ------------------------------------------------------------ the run

    def run(self, plan: Plan) -> RunReport:
        t_start = time.monotonic()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        plan.workdir.mkdir(parents=True, exist_ok=True)
        self._prepare_workdir(plan)
        self.run_id = _run_id(plan)
        results: list[StepResult] = []
        try:
            active = [s for s in plan.steps if plan.first <= s.index <= plan.last]
            for s in plan.steps:
                if s.index < plan.first:
                    results.append(self._previous_result(s))
            i = 0
            while i < len(active):
                step = active[i]
                if step.kind == "ingest":
                    results.append(self._run_ingest(plan, step))
                    i += 1
                elif step.kind == "export":
                    results.append(self._run_export(plan, step, results, started, t_start))
                    i += 1
                elif step.is_global:
                    results.append(self._run_global(plan, step))
                    i += 1
                else:
                    chain = [step]
                    while i + len(chain) < len(active) and active[i + len(chain)].is_map:
                        chain.append(active[i + len(chain)])
                    results.extend(self._run_chain(plan, chain))
                    i += len(chain)
        finally:
            self.close()
            self.reporter.close()
        wall = time.monotonic() - t_start
        manifest = run_manifest(plan, results, started, wall, self.kind)
        write_json_atomic(manifest, plan.workdir / "_run.json")
        return RunReport(results, wall, manifest)

    def _prepare_workdir(self, plan: Plan) -> None:
        """Fresh runs clear the steps they will run; resumed runs keep completed work."""
        for step in plan.steps:
            if step.index < plan.first or step.index > plan.last:
                continue
            if plan.resume:
                clean_temporaries(step.folder)
            else:
                remove_tree(step.folder)
        (plan.workdir / "logs").mkdir(exist_ok=True)

    def _previous_result(self, step: Step) -> StepResult:
        data = read_json(step.folder / "_manifest.json") or {}
        stats = StageStats.from_json(data.get("counts", {}))
        return StepResult(step.index, step.kind, step.folder.name, data.get("fingerprint", ""), stats, 0.0, True, step.config_json)

    def _completed(self, plan: Plan, step: Step) -> StepResult | None:
        if not plan.resume:
            return None
        data = read_json(step.folder / "_manifest.json")
        if data and data.get("fingerprint") == step.fingerprint and data.get("complete"):
            result = StepResult(step.index, step.kind, step.folder.name, step.fingerprint, StageStats.from_json(data["counts"]), 0.0, True, step.config_json)
            self.reporter.step_started(step.folder.name, 0)
            self.reporter.step_finished(result)
            return result
        return None

    def _finish(self, plan: Plan, step: Step, stats: StageStats, t0: float, input_fp: str) -> StepResult:
        result = StepResult(step.index, step.kind, step.folder.name, step.fingerprint, stats, time.monotonic() - t0, False, step.config_json)
        data = result.to_json() | {"input_fingerprint": input_fp, "versions": versions(), "complete": True}
        write_json_atomic(data, step.folder / "_manifest.json")
        self.reporter.step_finished(result)
        return result

    def _input_fp(self, plan: Plan, step: Step) -> str:
        return plan.steps[step.index - 1].fingerprint if step.index > 0 else ""

    # ------------------------------------------------------------ steps

    def _run_ingest(self, plan: Plan, step: Step) -> StepResult:
        done = self._completed(plan, step)
        if done:
            return done
        t0 = time.monotonic()
        cfg = plan.config.input
        assert cfg is not None
        step.folder.mkdir(parents=True, exist_ok=True)
        calls = []
        stats = StageStats()
        for task in plan.read_tasks:
            prior = base.done_stats(step.folder, f"task-{task.index:05d}", step.fingerprint) if plan.resume else None
            if prior is not None:
                stats = stats + prior
                continue
            src = cfg.sources[task.source_index]
            calls.append((task, src, cfg, plan.default_sources[task.source_index], step.folder, step.fingerprint))
        self.reporter.step_started(step.folder.name, len(calls), "read tasks")
        for r in self._map(base.ingest_task, calls, lambda r: self.reporter.step_progress(1, r.docs_in)):
            stats = stats + r
        return self._finish(plan, step, stats, t0, "")

    def _link(self, plan: Plan, step: Step) -> ChainLink:
        assert step.stage is not None
        source = plan.steps[step.index - 1].folder
        return ChainLink(step.stage, step.index, step.folder, source, step.fingerprint, plan.config.seed, self.run_id)  # type: ignore[arg-type]

    def _run_chain(self, plan: Plan, chain: list[Step]) -> list[StepResult]:
        pending = [s for s in chain if self._completed(plan, s) is None]
        skipped = [s for s in chain if s not in pending]
        results = {s.index: self._completed(plan, s) for s in skipped}
        if pending:
            t0 = time.monotonic()
            shards = shard_names(plan.steps[pending[0].index - 1].folder)
            links = [self._link(plan, s) for s in pending]
            for s in pending:
                s.folder.mkdir(parents=True, exist_ok=True)
            name = " + ".join(s.folder.name for s in pending)
            self.reporter.step_started(name, len(shards))
            per_shard = self._map_shards(
                base.map_chain_task,
                [(shard, links) for shard in shards],
                lambda r: self.reporter.step_progress(1, r[0].docs_in),
                links,
            )
            for k, s in enumerate(pending):
                stats = sum((r[k] for r in per_shard), StageStats())
                results[s.index] = self._finish(plan, s, stats, t0, self._input_fp(plan, s))
        return [results[s.index] for s in chain]  # type: ignore[misc]

    def _run_global(self, plan: Plan, step: Step) -> StepResult:
        done = self._completed(plan, step)
        if done:
            return done
        t0 = time.monotonic()
        link = self._link(plan, step)
        shards = shard_names(link.source)
        step.folder.mkdir(parents=True, exist_ok=True)
        self.reporter.step_started(f"{step.folder.name} keys", len(shards))
        key_stats = self._map(
            base.keys_task, [(s, i, link) for i, s in enumerate(shards)], lambda r: self.reporter.step_progress(1)
        )
        resolve_stats = base.resolve_global(link, shards, self._map)
        self.reporter.step_started(f"{step.folder.name} apply", len(shards))
        applied = self._map(base.apply_task, [(s, link) for s in shards], lambda r: self.reporter.step_progress(1, r.docs_in))
        stats = sum(applied, StageStats()) + sum(key_stats, StageStats()) + resolve_stats
        return self._finish(plan, step, stats, t0, self._input_fp(plan, step))

    def _run_export(self, plan: Plan, step: Step, results: list[StepResult], started: str, t_start: float) -> StepResult:
        out = plan.config.output
        assert out is not None
        target = Path(out.path)
        published = read_json(target / "_manifest.json")
        if plan.resume and published and published.get("export_fingerprint") == step.fingerprint:
            stats = StageStats.from_json(next(s for s in published["steps"] if s["stage"] == "export")["counts"])
            result = StepResult(step.index, step.kind, step.folder.name, step.fingerprint, stats, 0.0, True, step.config_json)
            self.reporter.step_finished(result)
            return result
        t0 = time.monotonic()
        source = plan.steps[step.index - 1].folder
        parts = [str(source / f"{s}.parquet") for s in shard_names(source)]
        step.folder.mkdir(parents=True, exist_ok=True)
        seed = plan.config.seed
        counts_dir = step.folder / "_counts"
        calls = []
        for p in parts:
            if read_json(counts_dir / f"{Path(p).stem}.json") is None:
                calls.append((p, out, seed))
        self.reporter.step_started(f"{step.folder.name} split", len(parts))

        def keep_counts(r: dict) -> None:
            self.reporter.step_progress(1, sum(r["splits"].values()))

        fresh = self._map(count_shard, calls, keep_counts)
        for (p, _, _), r in zip(calls, fresh, strict=True):
            write_json_atomic(r, counts_dir / f"{Path(p).stem}.json")
        counts = [read_json(counts_dir / f"{Path(p).stem}.json") for p in parts]
        splits = active_splits(out)
        schema = output_schema(parts, out.columns)
        files = plan_files(parts, [c["splits"] for c in counts], rows_per_file(parts, out), splits)
        data_dir = step.folder / "data"
        todo = []
        for f in files:
            name = file_name(f, len(files), out)
            if not (plan.resume and base.done_stats(data_dir, name.replace("/", "__"), step.fingerprint)):
                todo.append((f, name))
        self.reporter.step_started(f"{step.folder.name} write", len(todo))
        written = self._map(
            _export_one,
            [(f, name, str(data_dir), schema, out, seed, step.fingerprint) for f, name in todo],
            lambda r: self.reporter.step_progress(1, r),
        )
        del written
        split_rows: dict[str, int] = {s: sum(c["splits"][s] for c in counts) for s in splits}
        total = sum(split_rows.values())
        stats = StageStats(total, total, shards=len(files))
        sources: Counter[str] = Counter()
        for c in counts:
            sources.update(c["sources"])
        result = StepResult(step.index, step.kind, step.folder.name, step.fingerprint, stats, time.monotonic() - t0, False, step.config_json)
        manifest = run_manifest(plan, [*results, result], started, time.monotonic() - t_start, self.kind)
        manifest["export_fingerprint"] = step.fingerprint
        manifest["splits"] = split_rows
        manifest["sources"] = dict(sorted(sources.items()))
        write_json_atomic(manifest, data_dir / "_manifest.json")
        if out.card:
            card = dataset_card(manifest, split_rows, sources, plan.config.model_dump(mode="json"), out)
            write_bytes_atomic(card.encode(), data_dir / "README.md")
        shutil.rmtree(data_dir / "_stats", ignore_errors=True)
        _publish(data_dir, target)
        write_json_atomic(result.to_json() | {"versions": versions(), "complete": True, "published_to": str(target)}, step.folder / "_manifest.json")
        self.reporter.step_finished(result)
        return result


def _run_id(plan: Plan) -> str:
    """A new id per run, kept by --resume (so stateful stages can tell a retry from a new run)."""
    import uuid

    path = plan.workdir / "_run_id"
    if plan.resume and path.is_file():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex
    write_bytes_atomic(run_id.encode(), path)
    return run_id


def _export_one(f: Any, name: str, folder: str, schema: Any, out: Any, seed: int, fingerprint: str) -> int:
    rows = write_file(f, name, folder, schema, out, seed)
    base.save_stats(Path(folder), name.replace("/", "__"), fingerprint, StageStats(rows, rows, shards=1))
    return rows


def _publish(data_dir: Path, target: Path) -> None:
    """Move the finished export into place; an old output is replaced only once the new one is complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(data_dir, target)
    except OSError:
        shutil.copytree(data_dir, target)
        shutil.rmtree(data_dir)
    shutil.rmtree(old, ignore_errors=True)


def run_manifest(plan: Plan, results: list[StepResult], started: str, wall: float, engine: str = "local") -> dict[str, Any]:
    """The run's manifest: config and its hash, versions, per-step counts and timings."""
    first = results[0].stats if results else StageStats()
    last = results[-1].stats if results else StageStats()
    return {
        "config_hash": plan.run_fingerprint,
        "seed": plan.config.seed,
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 3),
        "engine": {"kind": engine, "workers": plan.config.engine.workers},
        "versions": versions(),
        "totals": {
            "docs_in": first.docs_in,
            "docs_out": last.docs_kept,
            "docs_rejected": sum(r.stats.docs_rejected for r in results),
            "docs_added": sum(r.stats.docs_added for r in results),
        },
        "steps": [r.to_json() for r in results],
        "config": plan.config.model_dump(mode="json"),
        "run_id": stable_digest([plan.run_fingerprint, started]),
    }


__all__ = ["LocalEngine", "MapStage", "CurateError"]
