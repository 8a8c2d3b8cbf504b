"""The runner: one path behind every front door (`curate run`, each single command, tests).

It owns the plan's execution: the workdir lock, resume, routing, manifests, fused map chains,
global stages, export, the checks that every document is accounted for, publishing, and side
state. Where a unit of work runs is the executor's business (``curate.engines.executor``); what
a stage does to a frame is the stage's. Picture and rules: CONTRIBUTING.md, "Runner, executor,
stage".

Resume cannot be wrong: every step folder carries the fingerprint of everything its content
depends on (``_step.json``, written before any work); a folder whose fingerprint differs is
removed and recomputed, never reused. Each step lists its data shards in its manifest and the
next step reads exactly those.

Text is written once per fused chain: consecutive map stages run as one task per shard, and only
the chain's last step writes kept rows; the steps before it write their rejected rows, stats and
manifest, and their manifest says ``materialized: false``. Whatever must read such a step (a
step after ``--from``, ``--until`` or a removed stage, export, a command's output) gets it
recomputed from the nearest step that holds data files (``_materialize``); stages never know.
A global stage whose apply only joins its decisions (``replay_cheap``) and that is followed by
another global stage writes no kept rows either: its apply tasks compute the next stage's keys
(``_following_global``), and that stage replays it. Workdir shards no command publishes are lz4
(uncompressed for the step the export reads).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curate import side_state
from curate.config import stable_digest
from curate.engines import base
from curate.engines.base import ChainLink, RunReport, shard_names
from curate.engines.executor import (
    ONE_PROCESS_BYTES,
    Executor,
    SerialExecutor,
    ThreadExecutor,
    make_executor,
    units_hint,
)
from curate.errors import ConfigError, CurateError, StageError
from curate.export import (
    active_splits,
    count_shard,
    dataset_card,
    file_name,
    output_schema,
    plan_files,
    rows_per_file,
    token_totals,
    write_file,
)
from curate.io import prefetch, shard_cache
from curate.io.lock import FolderLock
from curate.io.shards import (
    EXPORT_INPUT_COMPRESSION,
    PARQUET_COMPRESSION,
    SMALL_RUN_COMPRESSION,
    WORK_COMPRESSION,
    clean_temporaries,
    read_json,
    read_shard,
    remove_tree,
    temporary_name,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from curate.manifest import StageStats, StepResult, versions
from curate.pipeline import Plan, Step, StepRole
from curate.publish import count_rows, publish_target, recover, space_error, staging_dir, swap_in
from curate.report import NullReporter, Reporter
from curate.reporting import release_report, workdir_report
from curate.secrets import redact_config
from curate.unique_ids import check_unique_ids

DATASET_FORMAT = 1
"""Version of the ``curate_dataset`` block that marks a folder curate wrote (see io/discovery)."""
_STEP_FOLDER = re.compile(r"^\d{2}_[a-z0-9_]+$")


SHARD_CACHE_BYTES = 512 * 1024 * 1024
"""Frames a run whose units share its process keeps of the shards it wrote, for the steps that
read them back (``curate.io.shard_cache``). A one-process `curate dedup` reads at most 64 MiB of
input: its frames fit (100,000 documents, 127 MB of text: ~135 MB of ingest frames, ~80 MB of
MinHash keys), and a run of highly compressible input stops keeping at this bound."""


@dataclass
class _Pending:
    """A verified output waiting in its staging folder for the swap."""

    staged: Path
    target: Path


def run_plan(
    plan: Plan, executor: Executor | None = None, reporter: Reporter | None = None, on_commit: Callable[[Path], None] | None = None
) -> RunReport:
    """Run ``plan`` with ``executor`` (default: ``executor_for(plan)``); ``on_commit`` is told of
    each step folder once its manifest is written (a remote workdir pushes it then)."""
    return Runner(plan, executor or executor_for(plan), reporter, on_commit).run()


def executor_for(plan: Plan) -> Executor:
    """The executor the config names, except for a run ``one_process`` keeps in this process (on
    threads: ``ThreadExecutor``)."""
    engine = plan.config.engine
    if one_process(plan):
        return ThreadExecutor(engine.workers)
    return make_executor(engine.kind, engine.workers, engine.address, units_hint(plan.read_tasks))


_ONE_PROCESS_STAGES = frozenset({"exact_dedup", "minhash_dedup"})


def one_process(plan: Plan) -> bool:
    """Whether ``plan`` runs in this process: a single dedup command over at most
    ``ONE_PROCESS_BYTES`` of input, on the local engine, not told its workers (``--workers`` or
    the config's ``engine.workers`` always win)."""
    engine = plan.config.engine
    if "workers" in engine.model_fields_set or engine.kind != "local" or plan.shards_output is None or not plan.read_tasks:
        return False
    kinds = {s.kind for s in plan.steps if s.stage is not None}
    if not kinds or not kinds <= _ONE_PROCESS_STAGES:
        return False
    size = sum((t.end - t.start) if t.end is not None else sum(f.size for f in t.files) for t in plan.read_tasks)
    return size <= ONE_PROCESS_BYTES


class Runner:
    """Runs one plan; see the module docstring for what it owns."""

    def __init__(
        self, plan: Plan, executor: Executor | None = None, reporter: Reporter | None = None, on_commit: Callable[[Path], None] | None = None
    ) -> None:
        self.plan = plan
        self.on_commit = on_commit
        self.executor = executor or SerialExecutor()
        self.reporter = reporter or NullReporter()
        self.run_id = ""
        self._small = one_process(plan)
        self._results: dict[int, StepResult] = {}
        """Each step's result once known (resumed or run), so a rematerialised step says so."""

    # ------------------------------------------------------------ the run

    def run(self) -> RunReport:
        plan = self.plan
        try:  # the executor's workers may exist already (forked): closed however this ends
            try:
                plan.workdir.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise space_error(err, plan.workdir) or CurateError(f"workdir {plan.workdir}: {err.strerror}") from None
            with FolderLock(plan.workdir):
                if isinstance(self.executor, ThreadExecutor):  # units in this process: frames shared
                    shard_cache.enable(SHARD_CACHE_BYTES)
                try:
                    return self._run()
                except OSError as err:
                    self._keep_held_work()
                    clear = space_error(err, Path(err.filename) if err.filename else plan.workdir)
                    if clear is None:
                        raise
                    raise clear from None
                except BaseException:
                    self._keep_held_work()
                    raise
        finally:
            shard_cache.clear()
            self.executor.close()
            self.reporter.close()

    def _run(self) -> RunReport:
        plan = self.plan
        t_start = time.monotonic()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        self.run_id = _run_id(plan)
        for target in self._targets():
            recover(target)  # a swap cut short by a crash: the previous output goes back first
        self._prepare_workdir()
        results: list[StepResult] = []
        for s in plan.steps:
            if s.index < plan.first:
                results.append(self._previous_result(s))
        active = [s for s in plan.steps if plan.first <= s.index <= plan.last]
        pending: _Pending | None = None
        i = 0
        while i < len(active):
            step = active[i]
            if step.role is StepRole.INGEST:
                try:
                    results.append(self._run_ingest(step))
                finally:
                    prefetch.discard()  # a read begun early that ingest did not take (curate.io.prefetch)
                i += 1
            elif step.role is StepRole.EXPORT:
                result, pending = self._run_export(step, results, started, t_start)
                results.append(result)
                i += 1
            else:  # a global stage's apply and the map steps after it, or map steps: one fused chain
                chain = plan.steps[step.index : plan.chain_end(step).index + 1]
                results.extend(self._run_global(chain) if step.role is StepRole.GLOBAL else self._run_chain(chain))
                i += len(chain)
        check_conservation(results)
        if pending is not None:
            release_report(plan, pending.staged, pending.target)  # report + gates; a failing gate publishes nothing
            swap_in(pending.staged, pending.target)
            export = results[-1]
            write_json_atomic(
                export.to_json() | {"versions": versions(), "complete": True, "published_to": str(pending.target)},
                plan.steps[export.index].folder / "_manifest.json",
            )
        if plan.shards_output is not None and plan.last == plan.steps[-1].index:
            self._publish_shards(results, plan.shards_output)
        committed = self._commit_side_state()
        wall = time.monotonic() - t_start
        manifest = run_manifest(plan, results, started, wall, self.executor.kind, self.run_id)
        if committed:
            manifest["side_state"] = committed
        write_json_atomic(manifest, plan.workdir / "_run.json")
        if plan.shards_output is None:  # a single command's output is reported by `curate report OUT`
            if pending is None:
                workdir_report(plan, self._targets()[0] if plan.config.output is not None and plan.last == plan.steps[-1].index else None)
            manifest["report"] = str((pending.target if pending is not None else plan.workdir) / "report.html")
        return RunReport(results, wall, manifest)

    def _targets(self) -> list[Path]:
        plan = self.plan
        targets = [publish_target(Path(plan.config.output.path))] if plan.config.output is not None else []
        if plan.shards_output is not None:
            targets.append(publish_target(plan.shards_output))
        return targets

    def _commit_side_state(self) -> list[str]:
        """Commit staged side state once the whole plan has completed (never after --until): the
        writes of every step whose complete manifest matches this plan, so a step completed by an
        earlier attempt of the same plan is committed too, and one of another plan never."""
        plan = self.plan
        if plan.last != plan.steps[-1].index:
            return []
        folders = []
        for s in plan.steps:
            data = read_json(s.folder / "_manifest.json") or {}
            if s.stage is not None and data.get("complete") and data.get("fingerprint") == s.fingerprint:
                folders.append(s.folder)
        return side_state.commit_all(folders)

    def _prepare_workdir(self) -> None:
        """Fresh runs clear the steps they will run; a resumed run keeps only what it can trust.

        Step folders of other plans (a config that had more stages) are removed either way.
        """
        plan = self.plan
        planned = {s.folder.name for s in plan.steps}
        for d in plan.workdir.iterdir():
            if d.is_dir() and _STEP_FOLDER.match(d.name) and d.name not in planned:
                remove_tree(d)
        for step in plan.steps:
            if step.index < plan.first or step.index > plan.last:
                continue
            marker = read_json(step.folder / "_step.json")
            if plan.resume and marker and marker.get("fingerprint") == step.fingerprint:
                clean_temporaries(step.folder)
            else:
                remove_tree(step.folder)
        (plan.workdir / "logs").mkdir(exist_ok=True)

    def _start(self, step: Step) -> None:
        """Claim a step folder for this fingerprint before any of its work is written."""
        step.folder.mkdir(parents=True, exist_ok=True)
        marker = step.folder / "_step.json"
        if (read_json(marker) or {}).get("fingerprint") != step.fingerprint:
            write_json_atomic({"fingerprint": step.fingerprint, "kind": step.kind}, marker)

    def _previous_result(self, step: Step) -> StepResult:
        data = read_json(step.folder / "_manifest.json") or {}
        if step.role is not StepRole.INGEST and data.get("fingerprint") != step.fingerprint:
            raise ConfigError(
                f"--from: step {step.folder.name} in {self.plan.workdir} was run with another config or input",
                hint="run without --from (with --resume, completed steps are reused when they match)",
            )
        stats = StageStats.from_json(data.get("counts", {}))
        result = StepResult(step.index, step.kind, step.folder.name, data.get("fingerprint", ""), stats, 0.0, True, step.config_json)
        result.materialized = _holds_data(data)
        self._results[step.index] = result
        return result

    def _completed(self, step: Step) -> StepResult | None:
        if not self.plan.resume:
            return None
        data = read_json(step.folder / "_manifest.json")
        if data and data.get("fingerprint") == step.fingerprint and data.get("complete") and _files_there(step.folder, data):
            result = StepResult(step.index, step.kind, step.folder.name, step.fingerprint, StageStats.from_json(data["counts"]), 0.0, True, step.config_json)
            result.materialized = _holds_data(data)
            self._results[step.index] = result
            self.reporter.step_started(step.folder.name, 0)
            self.reporter.step_finished(result)
            return result
        return None

    def _finish(
        self, step: Step, stats: StageStats, seconds: float, input_fp: str, data_files: list[str] | None = None,
        chain: tuple[Step, Step] | None = None,
    ) -> StepResult:
        """Write the step's manifest last: its counts, and the data shards the next step reads.

        ``chain`` = (source, end) marks a link inside a fused chain that holds no kept rows: its
        manifest says where they are recomputed from, and any stray kept file is removed.
        """
        result = StepResult(step.index, step.kind, step.folder.name, step.fingerprint, stats, seconds, False, step.config_json)
        result.materialized = chain is None
        if chain is None:
            files = data_files if data_files is not None else [f"{name}.parquet" for name in shard_names(step.folder)]
            block = self._dataset_block("step", files, stats.docs_kept, step) | {"materialized": True}
        else:
            for stray in shard_names(step.folder):  # kept rows of an earlier attempt that ended here
                (step.folder / f"{stray}.parquet").unlink(missing_ok=True)
            source, end = chain
            block = self._dataset_block("step", [], stats.docs_kept, step) | {
                "materialized": False,
                "recompute_from": source.folder.name,
                "chain_end": end.folder.name,
            }
        data = result.to_json() | {
            "input_fingerprint": input_fp,
            "versions": versions(),
            "complete": True,
            "run_id": self.run_id,
            "curate_dataset": block,
        }
        write_json_atomic(data, step.folder / "_manifest.json")
        if self.on_commit is not None:
            self.on_commit(step.folder)
        self._results[step.index] = result
        self.reporter.step_finished(result)
        return result

    def _dataset_block(self, layout: str, data_files: list[str], rows: int, step: Step) -> dict[str, Any]:
        """What marks a folder as curate's: its kept data files, its identity and its lineage."""
        return {
            "format": DATASET_FORMAT,
            "layout": layout,
            "data_files": data_files,
            "rows": rows,
            "run_id": self.run_id,
            "fingerprint": step.fingerprint,
            "depth": step.stage_index,
            "parents": self.plan.lineage,
        }

    def _input_fp(self, step: Step) -> str:
        return self.plan.steps[step.index - 1].fingerprint if step.index > 0 else ""

    def _shards(self, step: Step) -> list[str]:
        """The data shards a step produced, as its manifest lists them (it must hold them:
        ``_materialize`` first where it may not)."""
        data = read_json(step.folder / "_manifest.json") or {}
        if not _holds_data(data):
            raise StageError(f"internal: {step.folder.name} holds no data files; it must be rematerialised before it is read")
        listed = (data.get("curate_dataset") or {}).get("data_files")
        if listed is None:
            return shard_names(step.folder)
        return [Path(f).stem for f in listed]

    # ------------------------------------------------------------ steps

    def _run_ingest(self, step: Step) -> StepResult:
        done = self._completed(step)
        if done:
            return done
        plan = self.plan
        t0 = time.monotonic()
        cfg = plan.config.input
        assert cfg is not None
        self._start(step)
        todo = []
        stats = StageStats()
        for task in plan.read_tasks:
            prior = base.done_stats(step.folder, f"task-{task.index:05d}", step.fingerprint) if plan.resume else None
            if prior is not None:
                stats = stats + prior
            else:
                todo.append(task)
        # a core this step's units leave idle writes each unit's shards behind its reading
        behind = isinstance(self.executor, ThreadExecutor) and len(todo) < self.executor.threads
        keys_for = self._keys_at_ingest(step)
        if keys_for is not None:
            self._start(self.plan.steps[step.index + 1])  # its folder claimed before ingest writes its keys there
        hold = self._holds_ingest(step)
        calls = [
            (
                t, cfg.sources[t.source_index], cfg, plan.default_sources[t.source_index], step.folder, step.fingerprint, self._codec(step), behind,
                keys_for, hold,
            )
            for t in todo
        ]
        self.reporter.step_started(step.folder.name, len(calls), "read tasks")
        for r in self.executor.map(base.ingest_task, calls, lambda r: self.reporter.step_progress(1, r.docs_in)):
            stats = stats + r
        labels = {f"{t.index:05d}": t.label for t in plan.read_tasks}

        def where(shard: str) -> str:
            return labels.get(shard.split("-")[1], shard)

        from curate.ingest import unify_shard_schemas

        held = shard_cache.unwritten_in(step.folder)
        if held and (shard_names(step.folder) or not _one_schema(list(held.values())) or _ids_repeat(list(held.values()))):
            base.write_held_shards(step.folder, self._codec(step))  # the passes below rewrite files
            held = {}
        names = sorted(set(shard_names(step.folder)) | set(held))
        if not held:  # held shards share one schema and no id (checked above): nothing to rewrite
            unify_shard_schemas(step.folder, names)  # one schema for every shard of the step
            stats = stats + check_unique_ids(step.folder, names, cfg.strict, where)
        return self._finish(step, stats, time.monotonic() - t0, "", [f"{n}.parquet" for n in names])

    def _keep_held_work(self) -> None:
        """A failed run writes what it held in memory in place of files (keys:
        ``base.write_held_keys``; ingest's shards: ``base.write_held_shards``), so that ``--resume``
        reuses them as it would files; a failure to write them leaves them to be computed again."""
        with contextlib.suppress(Exception):  # the run's own error is the one to report
            base.write_held_keys()
            ingest = self.plan.steps[0]
            base.write_held_shards(ingest.folder, self._codec(ingest))

    def _holds_ingest(self, ingest: Step) -> bool:
        """Whether ingest holds its kept shards in memory instead of writing them: a one-process
        command (its workdir is removed once it succeeds, and nothing mirrors it elsewhere) whose
        later steps read them in this run. A crash loses them: its ingest manifest then lists
        files that are not there, and ``--resume`` reads the input again (``_completed``)."""
        return (
            self._small and isinstance(self.executor, ThreadExecutor) and self.on_commit is None
            and self.plan.shards_output is not None and self.plan.last > ingest.index
        )

    def _keys_at_ingest(self, ingest: Step) -> ChainLink | None:
        """The link of the global stage right after ingest when this run reaches it and its keys
        are cheap and read only ``id`` and ``text`` (``GlobalStage.keys_cheap``): ingest computes
        them from each shard's rows in memory. A shard that ingest's later passes rewrite gets its
        keys again from the file (``base.done_keys``). Every shard is then read once less, which
        counts where reads are dear (lz4 shards, a shared filesystem): ingest + exact_dedup of the
        1M full pipeline took 11.2-11.9 s in four local runs against 11.9-12.6 in four; on 100,000 documents
        (uncompressed shards, one process) `curate dedup` took the same time within the noise
        (before/after 1.04x and 0.97x, medians of two 5-run A/Bs; the same bytes)."""
        i = ingest.index + 1
        if i > self.plan.last or i >= len(self.plan.steps):
            return None
        following = self.plan.steps[i]
        stage = following.stage
        if following.role is not StepRole.GLOBAL or not getattr(stage, "keys_cheap", False):
            return None
        if not stage.required_columns() <= {"id", "text"}:  # type: ignore[union-attr]
            return None
        return self._link(following, ingest.folder, writes_kept=True, replay=False)

    def _link(self, step: Step, source: Path, *, writes_kept: bool, replay: bool) -> ChainLink:
        assert step.stage is not None
        return ChainLink(
            step.stage, step.index, step.folder, source, step.fingerprint, self.plan.config.seed, self.run_id, step.stage_index,  # type: ignore[arg-type]
            writes_kept, replay, self._codec(step),
        )

    def _codec(self, step: Step) -> str:
        """Parquet codec of a step's kept shards: the plan's last step may be published as it is
        (a single command's output), every other step's shards are only read by the next steps;
        those read by the export alone, which re-encodes every row, are not compressed, nor are
        any of a run small enough for one process (``SMALL_RUN_COMPRESSION``)."""
        steps = self.plan.steps
        if step is steps[-1]:
            return PARQUET_COMPRESSION
        if steps[step.index + 1].role is StepRole.EXPORT:
            return EXPORT_INPUT_COMPRESSION
        return SMALL_RUN_COMPRESSION if self._small else WORK_COMPRESSION

    def _holds_data(self, step: Step) -> bool:
        return _holds_data(read_json(step.folder / "_manifest.json") or {})

    def _data_source(self, step: Step) -> Step:
        """The nearest step before ``step`` that holds its kept rows as data files (ingest, the
        end of a chain, or a step written by ``--until``); the steps between are complete and are
        recomputed in memory from it (a global stage's apply from its saved decisions)."""
        i = step.index - 1
        while i > 0 and not self._holds_data(self.plan.steps[i]):
            between = self.plan.steps[i]
            data = read_json(between.folder / "_manifest.json") or {}
            if between.role not in (StepRole.MAP, StepRole.GLOBAL) or data.get("fingerprint") != between.fingerprint or not data.get("complete"):
                raise StageError(
                    f"{between.folder.name} holds no data files and cannot be recomputed (it has not completed with this config)",
                    hint="rerun without --from (with --resume, completed steps are reused when they match)",
                )
            i -= 1
        return self.plan.steps[i]

    def _chain_links(self, source: Step, end: Step, pending: list[Step], end_writes: bool = True) -> list[ChainLink]:
        """Links for every map step after ``source`` up to ``end``: the pending ones write their
        rejected rows and stats, the others are replayed in memory; only ``end`` writes kept rows
        (unless not ``end_writes``: a global stage right after reads them in memory)."""
        steps = self.plan.steps[source.index + 1 : end.index + 1]
        return [
            self._link(s, self.plan.steps[s.index - 1].folder if i else source.folder, writes_kept=s is end and end_writes, replay=s not in pending)
            for i, s in enumerate(steps)
        ]

    def _following_global(self, end: Step) -> Step | None:
        """The global stage right after ``end``, a global stage's apply that is cheap to replay
        (``replay_cheap``: a join of its saved decisions), when this run reaches it: it is the
        only reader of ``end``'s kept rows, so ``end`` writes none and computes that stage's keys
        from them in the same task (text is written once across global barriers); that stage
        replays ``end`` from its source. A chain of map stages still writes its kept rows:
        replaying scoring would cost more than the write."""
        i = end.index + 1
        if end.role is not StepRole.GLOBAL or not getattr(end.stage, "replay_cheap", False):
            return None
        if i > self.plan.last or i >= len(self.plan.steps) or self.plan.steps[i].role is not StepRole.GLOBAL:
            return None
        return self.plan.steps[i]

    def _kept_end(self, end: Step) -> Step:
        """The step whose data files will hold the kept rows of a chain that ends at ``end``."""
        while (following := self._following_global(end)) is not None:
            end = self.plan.chain_end(following)
        return end

    def _run_chain(self, chain: list[Step], head: tuple[StageStats, float] | None = None) -> list[StepResult]:
        """Run a fused chain's pending steps, one task per shard. ``head``: a global stage heads the
        chain and has run its keys and resolve: their counters and wall time join its apply's."""
        done = {s.index: self._completed(s) for s in chain}
        pending = [s for s in chain if done[s.index] is None]
        end = chain[-1]
        following = self._following_global(end)
        if not pending:
            if following is None:
                self._materialize(end)  # resumed, and the chain now ends at a step that held no data
            return [done[s.index] for s in chain]  # type: ignore[misc]
        t0 = time.monotonic()
        source = self._data_source(pending[0])
        shards = self._shards(source)
        links = self._chain_links(source, end, pending, end_writes=following is None)
        if following is None:  # the steps after this chain read its end's shards, not its source's
            links[0] = replace(links[0], last_read=True)
        for s in pending:
            self._start(s)
        first = len(links) - len(pending)  # the pending links are the chain's tail
        name = " + ".join(s.folder.name for s in pending)
        self.reporter.step_started(name, len(shards))
        if following is None:
            per_shard = self.executor.map_shards(
                base.map_chain_task,
                [(shard, links) for shard in shards],
                lambda r: self.reporter.step_progress(1, r[first].docs_in),
                links,
            )
        else:
            self._start(following)
            after = self._link(following, end.folder, writes_kept=True, replay=False)
            both = self.executor.map_shards(
                base.chain_keys_task,
                [(shard, links, after) for shard in shards],
                lambda r: self.reporter.step_progress(1, r[0][first].docs_in),
                [*links, after],
            )
            per_shard = [r[0] for r in both]
        wall = time.monotonic() - t0
        totals = [sum((r[first + k] for r in per_shard), StageStats()) for k in range(len(pending))]
        cpu = sum(t.cpu_seconds for t in totals) or 1.0
        results = dict(done)
        for s, stats in zip(pending, totals, strict=True):
            # each stage's own share of the fused chain's wall time, by its CPU time
            seconds = wall * stats.cpu_seconds / cpu if len(pending) > 1 else wall
            if head is not None and s is chain[0]:
                stats, seconds = stats + head[0], seconds + head[1]
            if s is end and following is None:
                results[s.index] = self._finish(s, stats, seconds, self._input_fp(s), [f"{n}.parquet" for n in shards])
            else:
                results[s.index] = self._finish(s, stats, seconds, self._input_fp(s), chain=(source, self._kept_end(end)))
        return [results[s.index] for s in chain]  # type: ignore[misc]

    def _materialize(self, step: Step) -> None:
        """Give a completed step that holds no data files its kept rows: recomputed per shard from
        the nearest step that holds data (every link between replayed in memory, their counts
        checked against the saved ones), written as the step's data files, then its manifest
        says so. Its rejected rows, stats and counts stay as they are. Resumable per shard."""
        if step.role not in (StepRole.MAP, StepRole.GLOBAL) or self._holds_data(step):
            return
        t0 = time.monotonic()
        source = self._data_source(step)
        shards = self._shards(source)
        links = self._chain_links(source, step, [])
        self.reporter.step_started(f"{step.folder.name} (rematerialise)", len(shards))
        self.executor.map_shards(base.map_chain_task, [(shard, links) for shard in shards], lambda r: self.reporter.step_progress(1), links)
        data = read_json(step.folder / "_manifest.json") or {}
        block = {k: v for k, v in data["curate_dataset"].items() if k not in ("recompute_from", "chain_end")}
        data["curate_dataset"] = block | {"data_files": [f"{n}.parquet" for n in shards], "materialized": True, "run_id": self.run_id}
        data["materialized"] = True
        write_json_atomic(data, step.folder / "_manifest.json")
        if step.index in self._results:
            self._results[step.index].materialized = True
        stats = StageStats.from_json(data.get("counts", {}))
        self.reporter.step_finished(
            StepResult(step.index, f"{step.kind} (rematerialised)", step.folder.name, step.fingerprint, stats, time.monotonic() - t0, False)
        )

    def _run_global(self, chain: list[Step]) -> list[StepResult]:
        """A global stage: keys per shard, one resolve, then apply per shard, fused with the map
        steps after it (``chain[1:]``) so that its kept rows are written only at the chain's end;
        when another global stage follows, the chain writes no kept rows at all: that stage's keys
        are computed in the same tasks (``_following_global``), their time counted here."""
        step = chain[0]
        done = self._completed(step)
        if done:
            if len(chain) == 1:
                if self._following_global(step) is None:
                    self._materialize(step)  # resumed, and the chain now ends here
                return [done]
            return [done, *self._run_chain(chain[1:])]
        t0 = time.monotonic()
        previous = self.plan.steps[step.index - 1]
        if previous.role is not StepRole.GLOBAL or not getattr(previous.stage, "replay_cheap", False):
            self._materialize(previous)  # a map chain's rows are written once rather than replayed twice
        # the nearest step holding data files; a global stage between whose apply wrote no kept
        # rows (``_following_global``) is replayed in memory by the keys tasks and the apply
        source = self._data_source(step)
        replay = tuple(self._chain_links(source, previous, [], end_writes=False)) if source is not previous else ()
        link = self._link(step, source.folder if not replay else previous.folder, writes_kept=True, replay=False)
        shards = self._shards(source)
        self._start(step)
        # resumed, or computed by ingest from the rows of the very files ``source`` holds now
        done_keys = [base.done_keys(step.folder / "_keys", s, step.fingerprint, None if replay else source.folder) for s in shards]
        todo = [s for s, done in zip(shards, done_keys, strict=True) if done is None]
        if todo:  # none when the chain before computed them (``_following_global``) or a resume found them
            self.reporter.step_started(f"{step.folder.name} keys", len(todo))
        key_stats = [done for done in done_keys if done is not None] + self.executor.map(
            base.keys_task, [(s, link, replay) for s in todo], lambda r: self.reporter.step_progress(1)
        )
        resolve_stats = base.resolve_global(link, shards, self.executor.map)
        if len(chain) > 1 or replay or self._following_global(step) is not None:
            return self._run_chain(chain, (sum(key_stats, StageStats()) + resolve_stats, time.monotonic() - t0))
        self.reporter.step_started(f"{step.folder.name} apply", len(shards))
        last = replace(link, last_read=True)  # the steps after read this step's shards
        applied = self.executor.map(base.apply_task, [(s, last) for s in shards], lambda r: self.reporter.step_progress(1, r.docs_in))
        stats = sum(applied, StageStats()) + sum(key_stats, StageStats()) + resolve_stats
        return [self._finish(step, stats, time.monotonic() - t0, self._input_fp(step), [f"{n}.parquet" for n in shards])]

    def _run_export(self, step: Step, results: list[StepResult], started: str, t_start: float) -> tuple[StepResult, _Pending | None]:
        plan = self.plan
        out = plan.config.output
        assert out is not None
        target = publish_target(Path(out.path))
        recover(target)
        published = read_json(target / "_manifest.json")
        if plan.resume and published and published.get("export_fingerprint") == step.fingerprint:
            stats = StageStats.from_json(next(s for s in published["steps"] if s["stage"] == "export")["counts"])
            result = StepResult(step.index, step.kind, step.folder.name, step.fingerprint, stats, 0.0, True, step.config_json)
            self.reporter.step_finished(result)
            return result, None
        t0 = time.monotonic()
        source_step = plan.steps[step.index - 1]
        self._materialize(source_step)
        self._start(step)
        parts = [str(source_step.folder / f"{s}.parquet") for s in self._shards(source_step)]
        staged = staging_dir(target)
        if (read_json(staged / "_staging.json") or {}).get("fingerprint") != step.fingerprint or not plan.resume:
            remove_tree(staged)
        try:
            staged.mkdir(parents=True, exist_ok=True)
            write_json_atomic({"fingerprint": step.fingerprint}, staged / "_staging.json")
            return self._export_into(step, results, started, t_start, parts, staged, t0), _Pending(staged, target)
        except OSError as err:
            clear = space_error(err, target, sum(os.path.getsize(p) for p in parts))
            if clear is None:
                raise
            remove_tree(staged)  # give the space back; the previous output was never touched
            raise clear from None

    def _export_into(
        self, step: Step, results: list[StepResult], started: str, t_start: float, parts: list[str], staged: Path, t0: float
    ) -> StepResult:
        plan = self.plan
        out = plan.config.output
        assert out is not None
        seed = plan.config.seed
        counts_dir = step.folder / "_counts"
        calls = [(p, out, seed) for p in parts if read_json(counts_dir / f"{Path(p).stem}.json") is None]
        self.reporter.step_started(f"{step.folder.name} split", len(parts))
        fresh = self.executor.map(count_shard, calls, lambda r: self.reporter.step_progress(1, sum(r["splits"].values())))
        for (p, _, _), r in zip(calls, fresh, strict=True):
            write_json_atomic(r, counts_dir / f"{Path(p).stem}.json")
        counts = [read_json(counts_dir / f"{Path(p).stem}.json") for p in parts]
        splits = active_splits(out)
        schema = output_schema(parts, out.columns)
        files = plan_files(parts, [c["splits"] for c in counts], rows_per_file(parts, out), splits)
        names = [file_name(f, len(files), out) for f in files]
        todo = [(f, name) for f, name in zip(files, names, strict=True) if not base.done_stats(staged / "_stats", name.replace("/", "__"), step.fingerprint)]
        self.reporter.step_started(f"{step.folder.name} write", len(todo))
        self.executor.map(
            _export_one,
            [(f, name, str(staged), schema, out, seed, step.fingerprint) for f, name in todo],
            lambda r: self.reporter.step_progress(1, r),
        )
        split_rows: dict[str, int] = {s: sum(c["splits"][s] for c in counts) for s in splits}
        # the files must hold exactly what the plan says, read back from the files themselves
        for f, name in zip(files, names, strict=True):
            expected = sum(count for _, _, count in f.segments)
            found = count_rows(staged / name)
            if found != expected:
                raise StageError(f"export: {name} holds {found} rows, expected {expected}; nothing was published")
        total = sum(split_rows.values())
        stats = StageStats(total, total, shards=len(files))
        rejected_files = self._stage_rejected(staged, results) if out.rejected else []
        sources: Counter[str] = Counter()
        for c in counts:
            sources.update(c["sources"])
        result = StepResult(step.index, step.kind, step.folder.name, step.fingerprint, stats, time.monotonic() - t0, False, step.config_json)
        manifest = run_manifest(plan, [*results, result], started, time.monotonic() - t_start, self.executor.kind, self.run_id)
        manifest["export_fingerprint"] = step.fingerprint
        manifest["splits"] = split_rows
        manifest["sources"] = dict(sorted(sources.items()))
        tokens = token_totals(counts, splits)
        if tokens is not None:
            manifest["tokens"] = tokens
        manifest["schema"] = {f.name: str(f.type) for f in schema}
        source_step = plan.steps[step.index - 1]
        manifest["arrow_schema"] = base64.b64encode(schema.serialize().to_pybytes()).decode()
        manifest["curate_dataset"] = self._dataset_block("release", names, total, source_step) | {
            "format_of_data": out.format,
            "columns": schema.names,
            "rejected_files": rejected_files,
        }
        shutil.rmtree(staged / "_stats", ignore_errors=True)
        (staged / "_staging.json").unlink(missing_ok=True)
        if out.card:
            card = dataset_card(manifest, split_rows, sources, redact_config(plan.config.model_dump(mode="json")), out, schema)  # type: ignore[arg-type]
            write_bytes_atomic(card.encode(), staged / "README.md")
        write_json_atomic(manifest, staged / "_manifest.json")
        self.reporter.step_finished(result)
        return result

    def _stage_rejected(self, staged: Path, results: list[StepResult]) -> list[str]:
        """Every step's rejected records into the staged release's ``_rejected/`` (linked), checked
        against the manifests' counts."""
        names = []
        for step in self.plan.steps:
            for p in sorted((step.folder / "rejected").glob("*.parquet")):
                rel = f"_rejected/{step.folder.name}-{p.name}"
                _link_or_copy(p, staged / rel)
                names.append(rel)
        found = sum(count_rows(staged / n) for n in names)
        want = sum(r.stats.docs_rejected for r in results)
        if found != want:
            raise StageError(f"export: the rejected sets hold {found} rows, the manifests {want}; nothing was published")
        return names

    def _publish_shards(self, results: list[StepResult], target: Path) -> None:
        """A single command's output: the last step's kept shards, every step's rejected set and
        a manifest that lists them, swapped in as one transaction."""
        plan = self.plan
        last = plan.steps[-1]
        self._materialize(last)  # the last step always ends its chain; after a resume it may not have
        target = publish_target(target)
        recover(target)
        staged = staging_dir(target)
        remove_tree(staged)
        data_files = []
        rejected_files = []
        try:
            staged.mkdir(parents=True)
            for name in self._shards(last):
                _publish_shard(last.folder / f"{name}.parquet", staged / f"{name}.parquet")
                data_files.append(f"{name}.parquet")
            for step in plan.steps:
                for p in sorted((step.folder / "rejected").glob("*.parquet")):
                    rel = f"rejected/{step.folder.name}-{p.name}"
                    _link_or_copy(p, staged / rel)
                    rejected_files.append(rel)
            kept = sum(count_rows(staged / f) for f in data_files)
            rejected = sum(count_rows(staged / f) for f in rejected_files)
            want_kept = results[-1].stats.docs_kept
            want_rejected = sum(r.stats.docs_rejected for r in results)
            if (kept, rejected) != (want_kept, want_rejected):
                raise StageError(
                    f"output check failed: the files hold {kept} kept and {rejected} rejected rows, the manifests "
                    f"{want_kept} and {want_rejected}; nothing was published",
                    hint="rerun without --resume; if it persists, report it",
                )
            manifest = run_manifest(plan, results, "", 0.0, self.executor.kind, self.run_id)
            manifest["curate_dataset"] = self._dataset_block("shards", data_files, kept, last) | {"rejected_files": rejected_files}
            write_json_atomic(manifest, staged / "_manifest.json")
        except OSError as err:
            remove_tree(staged)
            clear = space_error(err, target)
            if clear is None:
                raise
            raise clear from None
        swap_in(staged, target)


def _files_there(folder: Path, manifest: dict[str, Any]) -> bool:
    """Whether every data file a step's manifest lists is in its folder (a one-process command
    that was killed held its ingest shards in memory: ``Runner._holds_ingest``)."""
    listed = (manifest.get("curate_dataset") or {}).get("data_files") or []
    return all((folder / f).is_file() for f in listed)


def _one_schema(frames: list[Any]) -> bool:
    return all(f.schema == frames[0].schema for f in frames[1:])


def _ids_repeat(frames: list[Any]) -> bool:
    import polars as pl

    return bool(pl.concat([f.select("id") for f in frames]).select(pl.col("id").is_duplicated().any()).item())




def _holds_data(manifest: dict[str, Any]) -> bool:
    """Whether a step's manifest lists kept data files (every step but a link inside a fused chain)."""
    return (manifest.get("curate_dataset") or {}).get("materialized", True) is not False


def _publish_shard(src: Path, dst: Path) -> None:
    """A kept shard into a single command's output: linked as it is, unless a resume reused it
    from a step written for the workdir only (lz4): then re-encoded as a fresh run writes it, so
    a resumed output holds the same bytes as an uninterrupted one."""
    meta = pq.read_metadata(src)
    if meta.num_row_groups and meta.num_columns and meta.row_group(0).column(0).compression.lower() != PARQUET_COMPRESSION:
        write_parquet_atomic(read_shard(src), dst)  # the frame a fresh run writes, by the same writer
    else:
        _link_or_copy(src, dst)


def _link_or_copy(src: Path, dst: Path) -> None:
    """``dst``, in a staging folder, as a hard link to ``src`` (a copy across filesystems). A resumed
    export reuses the staging folder of the run it resumes: a link that run made to this very file
    is kept, and any other file at ``dst`` (a rejected set since rewritten) is replaced."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        if os.path.samefile(src, dst):
            return
        dst.unlink()
    except FileNotFoundError:
        pass
    try:
        os.link(src, dst)
    except OSError:
        tmp = temporary_name(dst)
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


def check_conservation(results: list[StepResult]) -> None:
    """Every document accounted for, per step and end to end, before anything is published."""
    problems = []
    for r in results:
        if not r.stats.balanced():
            s = r.stats
            problems.append(f"{r.folder}: {s.docs_in} in + {s.docs_added} added != {s.docs_kept} kept + {s.docs_rejected} rejected")
    for a, b in zip(results, results[1:], strict=False):
        if b.stats.docs_in != a.stats.docs_kept:
            problems.append(f"{b.folder} read {b.stats.docs_in} documents, but {a.folder} kept {a.stats.docs_kept}")
    if problems:
        raise StageError(
            "conservation check failed, nothing was published: " + "; ".join(problems),
            hint="rerun without --resume to recompute every step; if it persists, report it with the workdir's manifests",
        )


def _run_id(plan: Plan) -> str:
    """A new id per run, kept by --resume (so a retried run stages the same side state)."""
    path = plan.workdir / "_run_id"
    if plan.resume and path.is_file():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex
    write_bytes_atomic(run_id.encode(), path)
    return run_id


def _export_one(f: Any, name: str, folder: str, schema: Any, out: Any, seed: int, fingerprint: str) -> int:
    rows = write_file(f, name, folder, schema, out, seed)
    base.save_stats(Path(folder) / "_stats", name.replace("/", "__"), fingerprint, StageStats(rows, rows, shards=1))
    return rows


def run_manifest(
    plan: Plan, results: list[StepResult], started: str, wall: float, engine: str = "local", run_id: str = ""
) -> dict[str, Any]:
    """The run's manifest: config and its hash, versions, lineage, per-step counts and timings."""
    first = results[0].stats if results else StageStats()
    last = results[-1].stats if results else StageStats()
    return {
        "config_hash": plan.run_fingerprint,
        "seed": plan.config.seed,
        "run_id": run_id or stable_digest([plan.run_fingerprint, started]),
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 3),
        "engine": {"kind": engine, "workers": plan.config.engine.workers},
        "versions": versions(),
        "lineage": plan.lineage,
        "totals": {
            "docs_in": first.docs_in,
            "docs_out": last.docs_kept,
            "docs_rejected": sum(r.stats.docs_rejected for r in results),
            "docs_added": sum(r.stats.docs_added for r in results),
        },
        "steps": [r.to_json() for r in results],
        "config": redact_config(plan.config.model_dump(mode="json")),
    }


def run_stage_frames(
    stage: Any, shards: list[Any], workdir: Path, *, seed: int = 0, run_id: str | None = None, commit: bool = True,
    counters: Counter[str] | None = None, stage_index: int = 1, sort: bool = True,
) -> tuple[Any, Any]:
    """One stage over in-memory shards through the runner's own units of work, in this process.

    What tests use instead of emulating an engine: the shards are written as a step's data, the
    stage runs as a map chain or as keys -> resolve -> apply (the same resolve path as every
    executor), and the side state is committed as at the end of a run (``commit``). Returns
    (every row, kept and rejected, with ``_reject`` = the reason or null; the decisions of a
    global stage, else an empty frame). ``counters``, if given, receives the stage's counters;
    ``sort=False`` keeps the kept rows in shard order (then the rejected ones) instead of by id.
    """
    import polars as pl

    from curate.stages.base import REJECT, GlobalStage

    workdir = Path(workdir)
    remove_tree(workdir)
    run_id = run_id or uuid.uuid4().hex  # each call is a new run unless it retries one
    source, folder = workdir / "00_source", workdir / "01_stage"
    names = [f"part-{i:05d}-0000" for i in range(len(shards))]
    for name, frame in zip(names, shards, strict=True):
        write_parquet_atomic_frame(frame, source / f"{name}.parquet")
    folder.mkdir(parents=True)
    link = ChainLink(stage, 1, folder, source, stable_digest([stage.kind, stage.config_fingerprint()]), seed, run_id, stage_index)
    executor = SerialExecutor()
    decisions = pl.DataFrame()
    if isinstance(stage, GlobalStage):
        stats = executor.map(base.keys_task, [(s, link) for s in names], lambda r: None)
        stats.append(base.resolve_global(link, names, executor.map))
        stats += executor.map(base.apply_task, [(s, link) for s in names], lambda r: None)
        files = sorted((folder / "_decisions").glob("part-*.parquet"))
        empty = pl.DataFrame(schema={"id": pl.String, REJECT: pl.String, **stage.decision_schema()})
        decisions = pl.concat([pl.read_parquet(f) for f in files]).sort("id") if files else empty
    else:
        stats = [r[0] for r in executor.map_shards(base.map_chain_task, [(s, [link]) for s in names], lambda r: None, [link])]
    if counters is not None:
        for st in stats:
            counters.update(st.counters)
    frames = [pl.read_parquet(folder / f"{s}.parquet") for s in names]
    frames += [pl.read_parquet(p).drop("reject_stage", "reject_detail").rename({"reject_reason": REJECT}) for p in sorted((folder / "rejected").glob("*.parquet"))]
    rows = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    for column in (REJECT, *sorted(stage.reject_columns)):
        if column not in rows.columns and rows.width:
            rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    if commit:
        side_state.commit_all([folder])
    return (rows.sort("id") if rows.width and sort else rows), decisions


def write_parquet_atomic_frame(frame: Any, path: Path) -> None:
    from curate.io.shards import write_parquet_atomic

    write_parquet_atomic(frame, path)
