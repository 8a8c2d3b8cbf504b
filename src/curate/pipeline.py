"""Plan, then run: the config becomes an ordered list of steps before any data is read."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import polars as pl

from curate.config import RunConfig, SourceConfig, stable_digest
from curate.errors import ConfigError, CurateError, MissingInputError
from curate.io import store
from curate.io.discovery import (
    ReadTask,
    curated_manifest,
    curated_source,
    default_source_name,
    plan_read_tasks,
)
from curate.io.shards import read_json
from curate.path_checks import check_overlaps
from curate.schema_check import Schema, check_stage_columns, probe_input_schema, schema_after
from curate.stages import build_stage
from curate.stages.base import CORE_COLUMNS, GlobalStage, Stage, StageConfig


class StepRole(Enum):
    """What kind of unit of work a step is made of: the runner dispatches on this, not on names."""

    INGEST = "ingest"
    MAP = "map"
    GLOBAL = "global"
    EXPORT = "export"


@dataclass
class Step:
    """One step of the plan: ingest, a stage, or export; each owns a folder in the workdir."""

    index: int
    kind: str
    folder: Path
    fingerprint: str
    stage: Stage | None = None
    config_json: dict = field(default_factory=dict)
    stage_index: int = 0
    """Position in the lineage: a command reading another command's output continues its
    numbering, so per-stage random streams match one `curate run` of the whole chain."""
    edge: StepRole | None = None
    """INGEST or EXPORT for the plan's two ends; None for a stage (its role follows its class)."""

    @property
    def role(self) -> StepRole:
        if self.edge is not None:
            return self.edge
        return StepRole.GLOBAL if isinstance(self.stage, GlobalStage) else StepRole.MAP


@dataclass
class Plan:
    """Everything an engine needs: the steps in order, the read tasks and the run's identity."""

    config: RunConfig
    workdir: Path
    steps: list[Step]
    read_tasks: list[ReadTask]
    default_sources: list[str]
    run_fingerprint: str
    resume: bool = False
    first: int = 0
    last: int = 0
    lineage: list[dict] = field(default_factory=list)
    """The curate-written folders this run reads: path, run id, fingerprint and depth of each."""
    shards_output: Path | None = None
    """A single command's output folder (kept shards, rejected sets, manifest), published last."""

    def describe(self) -> list[str]:
        lines = [f"workdir: {self.config.workdir}", f"config hash: {self.run_fingerprint}"]
        if self.config.input is not None:
            n_files = len({f.path for t in self.read_tasks for f in t.files})
            lines.append(f"input: {n_files} files in {len(self.read_tasks)} read tasks")
        for s in self.steps:
            active = self.first <= s.index <= self.last
            mark = "  " if active else "- "
            extra = ""
            if s.kind == "export" and self.config.output is not None:
                extra = f" -> {self.config.output.path} ({self.config.output.format})"
            elif active and (end := self.chain_end(s)) is not s:
                extra = f" (fused: kept rows written once, by {end.folder.name})"
            lines.append(f"{mark}{s.folder.name}{extra}" + ("" if active else " (not run)"))
        return lines

    def chain_end(self, step: Step) -> Step:
        """The step that writes the kept rows of a chain that starts at ``step``: a map step or a
        global stage (whose apply heads the chain), and the map steps right after it, within
        ``--until``. The runner runs each chain as one task per shard."""
        end = step
        if step.role not in (StepRole.MAP, StepRole.GLOBAL):
            return end
        while end.index < self.last and self.steps[end.index + 1].role is StepRole.MAP:
            end = self.steps[end.index + 1]
        return end


def step_folder(workdir: Path, index: int, kind: str) -> Path:
    return workdir / f"{index:02d}_{kind}"


def _check_packages(index: int, stage: Stage) -> None:
    for module, extra in stage.requires_packages:
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"stages[{index}] ({stage.kind}) needs the Python package {module!r}, which is not installed",
                hint=f"pip install 'curate[{extra}]'",
            )


def _add_scoring_for_filters(stage_cfgs: list[StageConfig], available: set[str] | None) -> list[tuple[StageConfig, int]]:
    """Put a quality_score stage in front of a filter whose rules read signals nobody computes.

    So `curate filter --preset gopher_quality` works on unscored input: the plan adds exactly
    the heuristic families the rules need. A filter naming a chain preset (fineweb, c4) is first
    expanded into its filters and text-modifying stages. Heuristic signals present before a
    stage that rewrites ``text`` (``modifies_text``) are computed again on the new text right
    after it (merged with the scoring a following filter needs), so no column and no rule
    describes a text that is gone. Each stage comes with its index in the user's list (an added
    stage takes its filter's), so errors name the stage the user wrote.
    """
    if not stage_cfgs:  # ingest -> export: no stage module to load
        return []
    from curate.quality.signals import family_of

    # stages told apart by kind, not class: a plan without a filter or scoring stage loads neither module

    known = set(available) if available is not None else set(CORE_COLUMNS)
    stale: set[str] = set()  # families whose columns describe a text a stage rewrote
    out: list[tuple[StageConfig, int]] = []

    def score(families: set[str], user_index: int) -> None:
        from curate.stages.quality_score import QualityScoreConfig

        scoring = QualityScoreConfig(heuristics=sorted(families))  # type: ignore[arg-type]
        out.append((scoring, user_index))
        known.update(build_stage(scoring).added_columns())
        stale.difference_update(families)

    for user_index, user_cfg in enumerate(stage_cfgs):
        parts = user_cfg.expand_chains() if user_cfg.kind == "filter" else [user_cfg]  # type: ignore[attr-defined]
        for stage_cfg in parts:
            stage = build_stage(stage_cfg)
            families: set[str] = set()
            if stage.kind == "filter" and stage.required_columns() - known:
                families = set(stage.needed_signal_families())  # type: ignore[attr-defined]
            if stale and not stage.modifies_text:
                families |= stale
            if stage.kind == "quality_score":  # the user's own scoring is fresh
                families -= set(stage.families)  # type: ignore[attr-defined]
                stale.difference_update(stage.families)  # type: ignore[attr-defined]
            if families:
                score(families, user_index)
            out.append((stage_cfg, user_index))
            known |= stage.added_columns()
            if stage.modifies_text:
                stale |= {f for f in (family_of(c) for c in known) if f is not None}
    if stale:
        score(set(stale), len(stage_cfgs) - 1)
    return out


def _select(name: str | None, steps: list[Step], default: int, option: str) -> int:
    if name is None:
        return default
    for s in steps:
        if name in (s.kind, str(s.index), s.folder.name):
            return s.index
    allowed = ", ".join(s.kind for s in steps)
    raise ConfigError(f"{option} {name!r}: no such step; steps are: {allowed}")


def _read_tasks_identity(read_tasks: list[ReadTask]) -> list:
    """The read tasks in order, each with its files' identity: input order decides shard order,
    which decides which copy of an id survives and the bytes of the export."""
    return [
        [t.index, t.source_index, t.start, t.end, [(f.path, f.size, f.mtime_ns) for f in t.files]]
        for t in read_tasks
    ]


def _lineage(cfg: RunConfig) -> list[dict]:
    """The curate-written folders among the inputs (their manifests' identity and depth)."""
    parents = []
    if cfg.input is None:
        return parents
    for src in cfg.input.sources:
        for path in src.paths:
            block = None
            if store.is_remote(path):  # a curate output in a store: its current release (errors: at discovery)
                with contextlib.suppress(CurateError):
                    if (found := curated_source(path)) is not None:
                        path, block = found
            else:
                block = curated_manifest(path) if os.path.isdir(path) else None
            if block is not None:
                parents.append(
                    {"path": path if store.is_remote(path) else os.path.abspath(path), "run_id": block.get("run_id"),
                     "fingerprint": block.get("fingerprint"), "depth": int(block.get("depth") or 0), "layout": block.get("layout")}
                )
    return parents


def _source_identity(src: SourceConfig) -> dict[str, object]:
    """A source's settings in the ingest fingerprint; the web options (issue 16) only when set, so
    fingerprints of runs that never used them stay what they were."""
    out = src.model_dump(mode="json", exclude={"paths"})
    for key in ("html", "non_html"):
        if key not in src.model_fields_set:
            out.pop(key, None)
    return out


def build_plan(
    cfg: RunConfig,
    *,
    resume: bool = False,
    from_step: str | None = None,
    until_step: str | None = None,
    shards_output: Path | None = None,
) -> Plan:
    """Validate everything that can be checked without reading data and order the steps."""
    workdir = Path(cfg.workdir)
    steps: list[Step] = []
    read_tasks: list[ReadTask] = []
    defaults: list[str] = []
    schema: Schema | None = {c: pl.String() for c in CORE_COLUMNS}
    lineage = _lineage(cfg)
    offset = max((p["depth"] for p in lineage), default=0)
    if cfg.input is not None:
        read_tasks = plan_read_tasks(cfg.input)
        defaults = [default_source_name(s.paths[0]) for s in cfg.input.sources]
        schema = probe_input_schema(read_tasks, cfg.input.sources)
        fp = stable_digest(
            ["ingest", cfg.input.model_dump(mode="json", exclude={"sources"}),
             [_source_identity(s) for s in cfg.input.sources],
             _read_tasks_identity(read_tasks), [p["fingerprint"] for p in lineage]]
        )
        steps.append(Step(0, "ingest", step_folder(workdir, 0, "ingest"), fp, None, cfg.input.model_dump(mode="json"), offset, StepRole.INGEST))
    else:
        ingest = step_folder(workdir, 0, "ingest")
        manifest = ingest / "_manifest.json"
        if not manifest.is_file():
            raise MissingInputError(
                "input: no input configured and no ingested shards in the workdir",
                hint=f"add an `input:` section, or run ingest into {workdir} first",
            )
        fp = (read_json(manifest) or {}).get("fingerprint", "")
        steps.append(Step(0, "ingest", ingest, fp, edge=StepRole.INGEST))
    prev = steps[0].fingerprint
    stage_cfgs = _add_scoring_for_filters(list(cfg.stages), None if schema is None else set(schema))
    for i, (stage_cfg, user_index) in enumerate(stage_cfgs):
        stage = build_stage(stage_cfg)
        _check_packages(user_index, stage)
        files: list[tuple[str, str]] = []
        for key, path in stage_cfg.input_paths():
            if store.is_remote(path):  # inputs may be in a store; what a stage reads is read whole, many times
                raise ConfigError(
                    f"stages[{user_index}].{stage.kind}.{key}: {path} is a URL; files a stage reads (models, lists, "
                    "evaluation sets) must be local files",
                    hint="copy it to a local file first (e.g. `aws s3 cp`, `gcloud storage cp`)",
                )
            if not Path(path).is_file():
                raise MissingInputError(
                    f"stages[{user_index}].{stage.kind}.{key}: file not found: {path}",
                    hint="relative paths are resolved against the config file's folder",
                )
            files.append((key, file_digest(Path(path), workdir)))
        if schema is not None:  # every column a stage or rule reads, with its type where known
            check_stage_columns(user_index, stage, schema)
            schema = schema_after(stage, schema)
        # the content of every file the stage reads (models, lists) is part of its identity
        fp = stable_digest([prev, stage.kind, stage.config_fingerprint(), cfg.seed, i + 1, files])
        steps.append(
            Step(i + 1, stage.kind, step_folder(workdir, i + 1, stage.kind), fp, stage, stage_cfg.model_dump(mode="json"), offset + i + 1)
        )
        prev = fp
    if cfg.output is not None:
        out = cfg.output
        fp = stable_digest([prev, "export", out.model_dump(mode="json", exclude={"path", "overwrite"}), cfg.seed])
        steps.append(
            Step(len(steps), "export", step_folder(workdir, len(steps), "export"), fp, None, out.model_dump(mode="json"), steps[-1].stage_index, StepRole.EXPORT)
        )
    first = _select(from_step, steps, 0, "--from")
    if cfg.input is None and len(steps) > 1:
        first = max(first, 1)  # the workdir's ingested shards are the input: never rerun or removed
    last = _select(until_step, steps, steps[-1].index, "--until")
    if first > last:
        raise ConfigError(f"--from {from_step!r} comes after --until {until_step!r}")
    if first > 0:
        prev_manifest = steps[first - 1].folder / "_manifest.json"
        if (read_json(prev_manifest) or {}).get("fingerprint") not in (None, steps[first - 1].fingerprint):
            raise ConfigError(
                f"--from {from_step!r}: the previous step ({steps[first - 1].folder.name}) was run with another config or input",
                hint="run without --from; with --resume every step that still matches is reused",
            )
        if not prev_manifest.is_file():
            raise ConfigError(
                f"--from {from_step!r}: the previous step ({steps[first - 1].folder.name}) has not completed in {workdir}",
                hint="run the earlier steps first, or drop --from",
            )
    if cfg.output is not None and last == steps[-1].index:
        _check_output(Path(cfg.output.path), cfg.output.overwrite, resume, cfg.fingerprint())
    outputs = [("output.path", Path(cfg.output.path))] if cfg.output is not None else []
    if shards_output is not None:
        outputs.append(("--output", shards_output))
    check_overlaps(workdir, outputs, read_tasks, cfg)
    return Plan(cfg, workdir, steps, read_tasks, defaults, cfg.fingerprint(), resume, first, last, lineage, shards_output)


def file_digest(path: Path, workdir: Path) -> str:
    """sha256 of a file's content, cached in the workdir by path, size and mtime (models are big)."""
    import hashlib

    from curate.io.shards import read_json, write_json_atomic

    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache_path = workdir / "_file_digests.json"
    cache = read_json(cache_path) or {}
    if key in cache:
        return cache[key]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    digest = h.hexdigest()[:32]
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{path.resolve()}|")} | {key: digest}
    with contextlib.suppress(OSError):  # a read-only workdir is reported when the run starts
        write_json_atomic(cache, cache_path)
    return digest


def _check_output(path: Path, overwrite: bool, resume: bool, config_hash: str) -> None:
    """An output may be replaced when it is empty, with ``overwrite``, or by ``--resume`` of the
    config that published it (a run killed after its publish); a release of another config is
    never replaced by a resume alone: loosening a filter and resuming must not silently drop the
    release the user had."""
    if path.is_file():
        raise ConfigError(f"output.path: {path} is a file, expected a folder")
    release = read_json(path / "_manifest.json") if (path / "_manifest.json").is_file() else None
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        if resume and release is not None and release.get("config_hash") not in (None, config_hash):
            raise ConfigError(
                f"output.path: {path} holds a release of another config (config hash {release.get('config_hash')}, "
                f"this config {config_hash}); --resume does not replace it",
                hint="set `output.overwrite: true` (or pass --overwrite) to replace it, or choose another output folder",
            )
        if not (resume and release is not None):
            raise ConfigError(
                f"output.path: {path} is not empty",
                hint="choose an empty folder, or set `output.overwrite: true` (or pass --overwrite)",
            )
    parent = path.parent
    if parent.exists() and not os.access(parent, os.W_OK):
        raise ConfigError(f"output.path: cannot write to {parent}")
