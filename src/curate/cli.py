"""The command line: parse -> load config -> build plan -> engine.run -> render. Nothing else."""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from curate import __version__
from curate.errors import ConfigError, CurateError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="curate",
    help="Curate text for training language models: ingest, dedup, score, filter, augment, export.\n\n"
    "Run a whole pipeline with `curate run config.yaml`, or one stage at a time "
    "(`curate ingest`, `curate export`) to chain steps from shell scripts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
class _LazyConsole:
    """A rich ``Console`` made on first use: most commands print nothing through one unless they
    fail (rich's import and set-up: ~15 ms of every command's start-up)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


err_console = _LazyConsole(stderr=True, highlight=False)
out_console = _LazyConsole(highlight=False)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")]
Workers = Annotated[int | None, typer.Option("--workers", "-w", min=1, help="Worker processes (default: config, else all cores).")]
Resume = Annotated[bool, typer.Option("--resume", help="Reuse shards and steps completed by an earlier, interrupted run.")]


def _default(model: str, field: str) -> str:
    """A config model field's default, for help texts: flags never restate (and so never drift from)
    it. Read from the precomputed table (curate/cli_defaults.py): no stage module is imported
    to print help or to start a command."""
    from curate.cli_defaults import lookup

    return f"(default: {lookup(model, field)})"


def _given(**values: Any) -> dict[str, Any]:
    """Only the flags the user gave: every other value comes from the config model's default."""
    return {k: v for k, v in values.items() if v is not None}


def handle_errors(fn: F) -> F:
    """User errors become `error:`/`hint:` lines on stderr and an exit code; bugs keep tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug"))
        logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        try:
            return fn(*args, **kwargs)
        except CurateError as err:
            if debug:
                raise
            err_console.print(f"error: {err.message}", markup=False, soft_wrap=True)
            if err.hint:
                err_console.print(f"hint: {err.hint}", markup=False, soft_wrap=True)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted; rerun with --resume to continue where it stopped", markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        print(f"curate {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Curate text for training language models."""


def _execute(
    cfg: Any, *, resume: bool, quiet: bool, from_step: str | None = None, until_step: str | None = None, shards_output: Path | None = None,
    overwrite: bool = False,
) -> Any:
    """Every command ends here: one plan, one runner (the executor the config names)."""
    from curate.io import store
    from curate.io.remote_run import RemoteRun
    from curate.pipeline import build_plan
    from curate.report import make_reporter
    from curate.runner import run_plan

    remote = RemoteRun.prepare(cfg, shards_output, resume, overwrite)
    if remote is None:
        plan = build_plan(cfg, resume=resume, from_step=from_step, until_step=until_step, shards_output=shards_output)
        _collect_cycles()
        return plan, run_plan(plan, reporter=make_reporter(quiet))
    # the workdir's lease taken and its state pulled before the plan reads it; a fresh run
    # reuses no step, so their shards stay in the store (unless its input is the workdir's ingest)
    remote.start(pull_steps=resume or from_step is not None or cfg.input is None)
    try:
        plan = build_plan(remote.cfg, resume=resume, from_step=from_step, until_step=until_step, shards_output=remote.shards_output)
        _collect_cycles()
        report = run_plan(plan, reporter=make_reporter(quiet), on_commit=remote.on_commit)
    except BaseException:
        remote.abort()
        remote.close()
        raise
    try:
        remote.finish(report.manifest.get("run_id", ""))
    finally:
        remote.close()
    for out in remote.outputs:
        if out.published is not None:
            report.manifest["published"] = f"{out.url} ({out.published})"
            report.manifest["report_url"] = store.join(out.url, out.published, "report.html")
            if not quiet:
                err_console.print(f"published {out.url}: release {out.published}")
        elif not quiet:
            err_console.print(f"{out.url}: unchanged (its release already holds this result)")
    return plan, report


def _summary(report: Any, quiet: bool) -> None:
    from curate.report import summary_table

    if not quiet:
        out_console.print(summary_table(report.steps, report.wall_seconds))


@app.command()
@handle_errors
def run(
    config: Annotated[Path, typer.Argument(help="Pipeline config (YAML).")],
    resume: Resume = False,
    from_step: Annotated[str | None, typer.Option("--from", help="Start at this step (kind, index or folder); earlier steps must be complete.")] = None,
    until_step: Annotated[str | None, typer.Option("--until", help="Stop after this step.")] = None,
    workers: Workers = None,
    engine: Annotated[str | None, typer.Option("--engine", help="Override `engine.kind`: local or ray.")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (implies --engine ray).")] = None,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Override `workdir`.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Override `output.path`.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty output folder.")] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Run a pipeline: ingest -> stages -> export, as the config says."""
    from curate.config import load_config

    cfg = _overrides(load_config(config), workers, workdir, output, overwrite, engine, address)
    _, report = _execute(cfg, resume=resume, quiet=quiet, from_step=from_step, until_step=until_step)
    _summary(report, quiet)
    if not quiet and report.manifest.get("report"):
        from curate.reporting import summary_lines

        lines = summary_lines(Path(report.manifest["report"]))
        if report.manifest.get("report_url"):  # published to a store: name the report there
            lines[0] = f"report: {report.manifest['report_url']}"
        print("\n".join(lines))


def _overrides(
    cfg: Any,
    workers: int | None,
    workdir: Path | None,
    output: Path | None,
    overwrite: bool,
    engine: str | None = None,
    address: str | None = None,
) -> Any:
    update: dict[str, Any] = {}
    engine_update: dict[str, Any] = {}
    if workers is not None:
        engine_update["workers"] = workers
    if engine is not None:
        if engine not in ("local", "ray"):
            raise ConfigError(f"--engine: {engine!r} is not an engine; allowed: local, ray")
        engine_update["kind"] = engine
    if address is not None:
        engine_update.update(kind="ray", address=address)
    if engine_update:
        update["engine"] = cfg.engine.model_copy(update=engine_update)
    if workdir is not None:
        update["workdir"] = str(workdir)
    if output is not None or overwrite:
        if cfg.output is None:
            if output is None:
                raise ConfigError("--overwrite: the config has no `output:` section")
            from curate.config import OutputConfig

            update["output"] = OutputConfig(path=str(output), overwrite=overwrite)
        else:
            change: dict[str, Any] = {}
            if output is not None:
                change["path"] = str(output)
            if overwrite:
                change["overwrite"] = True
            update["output"] = cfg.output.model_copy(update=change)
    return cfg.model_copy(update=update)


@app.command()
@handle_errors
def validate(
    config: Annotated[Path, typer.Argument(help="Pipeline config (YAML).")],
    debug: Debug = False,
) -> None:
    """Check a config and its inputs without reading data, and print the plan."""
    from curate.config import load_config
    from curate.io.remote_run import RemoteRun
    from curate.pipeline import build_plan

    cfg = load_config(config)
    remote = RemoteRun.prepare(cfg, None, resume=True)  # URLs: overlaps, buckets; local stand-ins, nothing written
    plan = build_plan(cfg if remote is None else remote.cfg, resume=True)
    print(f"{config}: valid")
    for line in plan.describe():
        print(line if remote is None else remote.display(line))


def run_to_folder(
    inputs: list[str],
    out: Path,
    stages: list[Any],
    *,
    source: dict[str, Any] | None = None,
    input_options: dict[str, Any] | None = None,
    output: Any = None,
    workers: int | None = None,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> Any:
    """What every single-stage command does: a one-stage config, the same runner as `run`.

    Kept shards land in OUT/, removed records in OUT/rejected/ (one file per step and shard),
    the run manifest, which lists them, in OUT/_manifest.json; the runner publishes them as one
    transaction. The workdir is a hidden folder beside OUT, removed after success (kept after a
    failure, for --resume).
    """
    from curate.config import EngineConfig, InputConfig, RunConfig, SourceConfig
    from curate.io import store

    for p in inputs:  # an input may be in a store (s3://bucket/prefix/): never with credentials in it
        if store.is_remote(p):
            store.check_url(p, "input")
    if store.is_remote(str(out)):  # checked and published by the remote run; the workdir stays local
        from curate.io.remote_workdir import mirror_for

        out = Path(store.normalise(str(out)))
        work = mirror_for(str(out), "command") / "work"
    else:
        if out.is_file():
            raise ConfigError(f"--output: {out} is a file, expected a folder")
        work = command_workdir(out)
        if out.is_dir() and any(out.iterdir()) and not (resume or overwrite):
            raise ConfigError(f"--output: {out} is not empty", hint="choose an empty folder or pass --overwrite")
    src = SourceConfig(paths=inputs, **(source or {}))
    engine = EngineConfig() if workers is None else EngineConfig(workers=workers)
    cfg = RunConfig(
        input=InputConfig(sources=[src], **(input_options or {})),
        workdir=str(work),
        output=output,
        engine=engine,
        seed=seed,
        stages=stages,
    )
    _, report = _execute(cfg, resume=resume, quiet=quiet, shards_output=None if output is not None else out, overwrite=overwrite)
    shutil.rmtree(work, ignore_errors=True)
    return report


def command_workdir(out: Path) -> Path:
    """A single command's workdir: hidden beside its output (never inside it)."""
    out = out.absolute()
    return out.parent / f".{out.name}.curate-work"


@app.command()
@handle_errors
def ingest(
    inputs: Annotated[list[str], typer.Argument(help="Files, folders or globs (JSON Lines [.gz/.zst], Parquet, CSV/TSV, .txt, WARC/WET [.gz], .html).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the Parquet shards.")],
    fmt: Annotated[str, typer.Option("--format", help="auto, jsonl, parquet, csv, tsv, txt, warc or html.")] = "auto",
    extractor: Annotated[str | None, typer.Option("--extractor", help="HTML to text for WARC and HTML inputs: resiliparse, trafilatura, justext or union (default: resiliparse).")] = None,
    non_html: Annotated[str | None, typer.Option("--non-html", help="WARC responses that are not HTML: skip (counted) or reject (default: skip).")] = None,
    text_field: Annotated[str | None, typer.Option("--text-field", help="Field holding the text (default: text).")] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", help="Field holding a unique id (default: `id` if present, else derived).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Value of the `source` column.")] = None,
    max_chars: Annotated[int | None, typer.Option("--max-chars", help="Reject longer texts " + _default("curate.config.InputConfig", "max_chars"))] = None,
    rows_per_shard: Annotated[int | None, typer.Option("--rows-per-shard", help="Rows per output shard at most " + _default("curate.config.InputConfig", "rows_per_shard"))] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first malformed record (exit 1).")] = False,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty output folder.")] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Raw files -> validated, normalised Parquet shards with ids (malformed records -> rejected/)."""
    from curate.config import FORMATS

    if fmt not in FORMATS:
        raise ConfigError(f"--format: {fmt!r} is not a format; allowed: {', '.join(FORMATS)}")
    for flag, value, allowed in (("--extractor", extractor, ("resiliparse", "trafilatura", "justext", "union")), ("--non-html", non_html, ("skip", "reject"))):
        if value is not None and value not in allowed:
            raise ConfigError(f"{flag}: {value!r} is not allowed; allowed: {', '.join(allowed)}")
    report = run_to_folder(
        inputs,
        output,
        [],
        source={
            "format": fmt, "id_field": id_field, "source": source,
            **_given(text_field=text_field, non_html=non_html), **({"html": {"extractor": extractor}} if extractor else {}),
        },
        input_options=_given(max_chars=max_chars, rows_per_shard=rows_per_shard, strict=strict),
        workers=workers,
        resume=resume,
        overwrite=overwrite,
        quiet=quiet,
    )
    _summary(report, quiet)


@app.command()
@handle_errors
def export(
    inputs: Annotated[list[str], typer.Argument(help="Shards from an earlier step (or any ingestible input).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Dataset folder to write.")],
    fmt: Annotated[str, typer.Option("--format", help="parquet or jsonl.")] = "parquet",
    compression: Annotated[str, typer.Option("--compression", help="zstd, snappy, gzip or none.")] = "zstd",
    rows_per_shard: Annotated[int | None, typer.Option("--rows-per-shard", help="Rows per output file (default: by --bytes-per-shard).")] = None,
    bytes_per_shard: Annotated[int | None, typer.Option("--bytes-per-shard", help="Target bytes per output file " + _default("curate.config.OutputConfig", "bytes_per_shard"))] = None,
    validation: Annotated[float | None, typer.Option("--validation", help="Fraction for the validation split " + _default("curate.config.SplitConfig", "validation"))] = None,
    test: Annotated[float | None, typer.Option("--test", help="Fraction for the test split " + _default("curate.config.SplitConfig", "test"))] = None,
    columns: Annotated[str | None, typer.Option("--columns", help="Comma-separated columns to export, in order.")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the split.")] = 0,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty output folder.")] = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Shards -> the final dataset: Parquet or JSON Lines, split by id hash, with a dataset card."""
    from pydantic import ValidationError

    from curate.config import OutputConfig, format_validation_error

    try:
        out_cfg = OutputConfig.model_validate(
            _given(
                path=str(output),
                format=fmt,
                compression=compression,
                rows_per_shard=rows_per_shard,
                bytes_per_shard=bytes_per_shard,
                split=_given(validation=validation, test=test),
                columns=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
                overwrite=overwrite,
            )
        )
    except ValidationError as err:
        raise ConfigError("; ".join(format_validation_error(err, OutputConfig, prefix="--"))) from None
    work = command_workdir(output)
    from curate.config import EngineConfig, InputConfig, RunConfig, SourceConfig

    cfg = RunConfig(
        input=InputConfig(sources=[SourceConfig(paths=inputs)]),
        workdir=str(work),
        output=out_cfg,
        engine=EngineConfig() if workers is None else EngineConfig(workers=workers),
        seed=seed,
    )
    _, report = _execute(cfg, resume=resume, quiet=quiet)
    shutil.rmtree(work, ignore_errors=True)
    _summary(report, quiet)


Inputs = Annotated[list[str], typer.Argument(help="Shards from an earlier step, or any ingestible input (files, folders, globs).")]
Output = Annotated[Path, typer.Option("--output", "-o", help="Folder for kept shards; removed records go to OUT/rejected/.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty output folder.")]
Seed = Annotated[int, typer.Option("--seed", min=0, help="Seed for every random choice.")]
_MH = "curate.stages.minhash_dedup.MinhashDedupConfig"


def _stage_config(kind: str, values: dict[str, Any]) -> Any:
    """Validate flags through the stage's config model, so flags and YAML give the same errors."""
    from pydantic import ValidationError

    from curate.config import format_validation_error
    from curate.stages import REGISTRY

    model = REGISTRY[kind].Config
    try:
        return model.model_validate({"kind": kind, **values})
    except ValidationError as err:
        lines = format_validation_error(err, model, prefix=kind)
        raise ConfigError("invalid options: " + "; ".join(lines), hint=f"see `curate stages {kind}`") from None


@app.command()
@handle_errors
def augment(
    inputs: Inputs,
    output: Output,
    op: Annotated[list[str], typer.Option("--op", help="Operator (repeatable): typo, typo_substitute, typo_insert, typo_delete, typo_transpose, ocr, casing, whitespace, punctuation, word_dropout, word_swap, sentence_shuffle.")] = [],  # noqa: B006
    rate: Annotated[list[float], typer.Option("--rate", help="Rate of each --op (one value for all, or one per --op).")] = [],  # noqa: B006
    fraction: Annotated[float | None, typer.Option("--fraction", help="Fraction of documents used as sources " + _default("curate.stages.augment.AugmentConfig", "fraction"))] = None,
    max_synthetic_fraction: Annotated[float | None, typer.Option("--max-synthetic-fraction", help="Cap on synthetic rows in the output (with --originals separate: in the output and the originals together) " + _default("curate.stages.augment.AugmentConfig", "max_synthetic_fraction"))] = None,
    pairs: Annotated[str | None, typer.Option("--pairs", help="none, correction (noisy, clean) or preference (degraded responses) " + _default("curate.stages.augment.AugmentConfig", "pairs"))] = None,
    degrade: Annotated[list[str], typer.Option("--degrade", help="Meaning-changing degradation for pairs (repeatable), NAME or NAME=GRADE: truncate, drop_step, reorder_steps, perturb_numbers, swap_units, negate, swap_answer, shuffle_list.")] = [],  # noqa: B006
    field: Annotated[str | None, typer.Option("--field", help="Response column " + _default("curate.stages.augment.AugmentConfig", "field"))] = None,
    prompt_field: Annotated[str | None, typer.Option("--prompt-field", help="Prompt column (preference pairs get it as `prompt`).")] = None,
    originals: Annotated[str | None, typer.Option("--originals", help="keep, or separate: originals to OUT/rejected/ as pair_source " + _default("curate.stages.augment.AugmentConfig", "originals"))] = None,
    seed: Seed = 0,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Add flagged, capped synthetic rows: noise operators or error-injection pairs (originals unchanged)."""
    rates = rate or [0.05]
    if len(rates) not in (1, len(op)):
        raise ConfigError(f"--rate: give one value, or one per --op ({len(op)}); got {len(rates)}")
    ops = [{"op": name, "rate": rates[0] if len(rates) == 1 else rates[i]} for i, name in enumerate(op)]
    cfg = _stage_config(
        "augment",
        _given(ops=ops or None, fraction=fraction, max_synthetic_fraction=max_synthetic_fraction, pairs=pairs, field=field, prompt_field=prompt_field, originals=originals,
               degradations=[{"name": n, **({"grade": g} if g else {})} for n, _, g in (d.partition("=") for d in degrade)] or None),
    )
    report = run_to_folder(inputs, output, [cfg], workers=workers, seed=seed, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


_TA = "curate.stages.targeted_augment.TargetedAugmentConfig"
_LLM = "curate.stages.augment.AugmentLLMConfig"


@app.command(name="targeted-augment")
@handle_errors
def targeted_augment(
    inputs: Inputs,
    output: Output,
    predictions: Annotated[Path, typer.Option("--predictions", help="The student's predictions on the seeds: id, prompt, reference, prediction (JSON Lines, JSON, Parquet or CSV).")],
    base_url: Annotated[str, typer.Option("--base-url", help="Teacher endpoint root, e.g. http://127.0.0.1:8000/v1.")],
    model: Annotated[str, typer.Option("--model", help="Teacher model name.")],
    round_: Annotated[int | None, typer.Option("--round", help="This round's number " + _default(_TA, "round"))] = None,
    check: Annotated[str | None, typer.Option("--check", help="exact, numeric, regex or llm " + _default(_TA, "check"))] = None,
    tolerance: Annotated[float | None, typer.Option("--tolerance", help="numeric: absolute tolerance " + _default(_TA, "tolerance"))] = None,
    pattern: Annotated[str | None, typer.Option("--pattern", help="Regex whose first group is the answer (regex: required).")] = None,
    k: Annotated[int | None, typer.Option("-k", help="New examples per failed seed " + _default(_TA, "k"))] = None,
    prompt_field: Annotated[str | None, typer.Option("--prompt-field", help="Prompt column " + _default(_TA, "prompt_field"))] = None,
    field: Annotated[str | None, typer.Option("--field", help="Answer column " + _default(_TA, "field"))] = None,
    max_synthetic_fraction: Annotated[float | None, typer.Option("--max-synthetic-fraction", help="Cap on synthetic rows in the output " + _default(_TA, "max_synthetic_fraction"))] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="Name of the environment variable holding the key (never the key).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Requests in flight " + _default(_LLM, "concurrency"))] = None,
    cache: Annotated[str | None, typer.Option("--cache", help="SQLite answer cache " + _default(_LLM, "cache_path"))] = None,
    seed: Seed = 0,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """LLM2LLM round: a teacher writes k new examples per seed the student got wrong (no training here)."""
    from curate.stages.augment import AugmentLLMConfig

    teacher: dict[str, Any] = {"base_url": base_url, "model": model, **_given(api_key_env=api_key_env, concurrency=concurrency)}
    default_cache = AugmentLLMConfig.model_fields["cache_path"].default
    teacher["cache_path"] = str(Path(cache or default_cache).resolve())
    values = {
        "predictions": str(predictions.resolve()),
        "teacher": teacher,
        **_given(round=round_, check=check, tolerance=tolerance, pattern=pattern, k=k, prompt_field=prompt_field, field=field, max_synthetic_fraction=max_synthetic_fraction),
    }
    report = run_to_folder(inputs, output, [_stage_config("targeted_augment", values)], workers=workers, seed=seed, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


_LG = "curate.stages.lab_generate.LabGenerateConfig"


@app.command(name="lab-generate")
@handle_errors
def lab_generate(
    inputs: Inputs,
    output: Output,
    taxonomy: Annotated[Path, typer.Option("--taxonomy", help="InstructLab taxonomy folder (qna.yaml files), or our YAML/JSON Lines of seeds.")],
    base_url: Annotated[str, typer.Option("--base-url", help="Teacher endpoint root, e.g. http://127.0.0.1:8000/v1.")],
    model: Annotated[str, typer.Option("--model", help="Teacher model name.")],
    questions: Annotated[int | None, typer.Option("--questions", help="Questions per leaf " + _default(_LG, "questions_per_leaf"))] = None,
    min_score: Annotated[int | None, typer.Option("--min-score", help="Judge score (1-5) to keep a pair " + _default(_LG, "min_score"))] = None,
    min_kept_share: Annotated[float | None, typer.Option("--min-kept-share", help="Fail fast below this kept share " + _default(_LG, "min_kept_share"))] = None,
    yield_check: Annotated[int | None, typer.Option("--yield-check", help="Probe N questions per leaf first; stop when even their kept share's upper 95% bound is below --min-kept-share " + _default(_LG, "yield_check"))] = None,
    max_synthetic_fraction: Annotated[float | None, typer.Option("--max-synthetic-fraction", help="Cap on synthetic rows in the output " + _default(_LG, "max_synthetic_fraction"))] = None,
    documents_root: Annotated[Path | None, typer.Option("--documents-root", help="Folder holding knowledge documents (a clone of their repository).")] = None,
    prompt_field: Annotated[str | None, typer.Option("--prompt-field", help="Question column " + _default(_LG, "prompt_field"))] = None,
    field: Annotated[str | None, typer.Option("--field", help="Answer column " + _default(_LG, "field"))] = None,
    response_format: Annotated[str | None, typer.Option("--judge-response-format", help="json_schema, json_object or none " + _default(_LG, "judge_response_format"))] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="Name of the environment variable holding the key (never the key).")] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Requests in flight " + _default(_LLM, "concurrency"))] = None,
    cache: Annotated[str | None, typer.Option("--cache", help="SQLite answer cache " + _default(_LLM, "cache_path"))] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Yield check: run --probe questions per leaf, print estimated requests, tokens and kept share; write nothing.")] = False,
    probe: Annotated[int, typer.Option("--probe", min=1, help="Questions per leaf in a --dry-run (their answers are cached for the real run).")] = 2,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """LAB: questions and answers from a taxonomy's seeds, judged by a rubric, capped (progress per leaf)."""
    from curate.stages.augment import AugmentLLMConfig

    teacher: dict[str, Any] = {"base_url": base_url, "model": model, **_given(api_key_env=api_key_env, concurrency=concurrency)}
    teacher["cache_path"] = str(Path(cache or AugmentLLMConfig.model_fields["cache_path"].default).resolve())
    values = {
        "taxonomy": str(taxonomy.resolve()),
        "teacher": teacher,
        **_given(questions_per_leaf=questions, min_score=min_score, min_kept_share=min_kept_share, yield_check=yield_check, max_synthetic_fraction=max_synthetic_fraction,
                 documents_root=str(documents_root.resolve()) if documents_root else None, prompt_field=prompt_field, field=field, judge_response_format=response_format),
    }
    cfg = _stage_config("lab_generate", values)
    say = (lambda line: None) if quiet else (lambda line: err_console.print(line, markup=False, highlight=False))
    if dry_run:
        from curate.stages.lab_generate import yield_check

        for line in yield_check(cfg, probe, progress=say):
            print(line)
        return
    if not quiet:
        logging.getLogger("curate.stages.lab_generate").setLevel(logging.INFO)
    report = run_to_folder(inputs, output, [cfg], workers=1, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


@app.command()
@handle_errors
def dedup(
    inputs: Inputs,
    output: Output,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Jaccard similarity at which two texts are near duplicates " + _default(_MH, "threshold"))] = None,
    num_perm: Annotated[int | None, typer.Option("--num-perm", help="MinHash permutations " + _default(_MH, "num_perm"))] = None,
    ngram: Annotated[int | None, typer.Option("--ngram", help="Shingle length (words, or characters with --shingle char) " + _default(_MH, "ngram"))] = None,
    shingle: Annotated[str | None, typer.Option("--shingle", help="word or char " + _default(_MH, "shingle"))] = None,
    index: Annotated[str | None, typer.Option("--index", help="Folder of an index of kept documents, for incremental runs.")] = None,
    keep: Annotated[str | None, typer.Option("--keep", help="Which copy survives: first (smallest id), longest, highest:COLUMN " + _default(_MH, "keep"))] = None,
    exact: Annotated[bool, typer.Option("--exact/--no-exact", help="Remove exact copies first (cheap).")] = True,
    near: Annotated[bool, typer.Option("--near/--no-near", help="Remove near duplicates with MinHash LSH.")] = True,
    verify: Annotated[bool | None, typer.Option("--verify/--no-verify", help="Check LSH candidates before joining them (see --verify-by) " + _default(_MH, "verify"))] = None,
    verify_by: Annotated[str | None, typer.Option("--verify-by", help="jaccard (the shingle sets' Jaccard, exact) or signature (agreement of signature values, an estimate) " + _default(_MH, "verify_by"))] = None,
    seed: Seed = 0,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Remove exact copies and near duplicates (MinHash LSH); removed records name their survivor."""
    stage_cfgs = []
    if exact:
        stage_cfgs.append(_stage_config("exact_dedup", _given(keep=keep)))
    if near:
        values: dict[str, Any] = _given(threshold=threshold, num_perm=num_perm, ngram=ngram, shingle=shingle, keep=keep, verify=verify, verify_by=verify_by)
        if index:
            values["index"] = str(Path(index).resolve())
        stage_cfgs.append(_stage_config("minhash_dedup", values))
    if not stage_cfgs:
        raise ConfigError("--no-exact and --no-near together leave nothing to do")
    report = run_to_folder(
        inputs, output, stage_cfgs, input_options={"shard_text_bytes": DEDUP_SHARD_TEXT_BYTES},
        workers=workers, seed=seed, resume=resume, overwrite=overwrite, quiet=quiet,
    )
    _summary(report, quiet)


@app.command()
@handle_errors
def score(
    inputs: Inputs,
    output: Output,
    heuristics: Annotated[str, typer.Option("--heuristics", help="Comma-separated families: gopher_quality, gopher_repetition, c4_quality, fineweb_quality (or gopher, c4, fineweb); '' for none.")] = "gopher,c4,fineweb",
    fasttext: Annotated[list[str], typer.Option("--fasttext", help="A fastText scorer NAME=PATH[:LABEL] (repeatable); adds column fasttext_NAME.")] = [],  # noqa: B006
    langid: Annotated[bool, typer.Option("--langid", help="Add `lang` and `lang_score` (the shipped fastText lid.176.ftz, or --langid-backend).")] = False,
    langid_model: Annotated[str | None, typer.Option("--langid-model", help="fastText language-ID model (lid.176.bin/.ftz).")] = None,
    langid_backend: Annotated[str | None, typer.Option("--langid-backend", help="fasttext or py3langid " + _default("curate.stages.quality_score.QualityScoreConfig", "langid_backend"))] = None,
    langid_max_chars: Annotated[int | None, typer.Option("--langid-max-chars", help="Language ID reads only each text's first N characters (default: the whole text).")] = None,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Add quality signal columns: Gopher, C4, FineWeb heuristics, fastText scores, language ID."""
    scorers = []
    for spec in fasttext:
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise ConfigError(f"--fasttext {spec!r}: expected NAME=PATH[:LABEL]")
        path, _, label = rest.partition(":")
        scorers.append({"name": name, "path": str(Path(path).resolve()), **({"label": label} if label else {})})
    values: dict[str, Any] = {
        "heuristics": [h.strip() for h in heuristics.split(",") if h.strip()],
        "fasttext": scorers,
        "langid": langid,
        "langid_model": str(Path(langid_model).resolve()) if langid_model else None,
        **_given(langid_backend=langid_backend, langid_max_chars=langid_max_chars),
    }
    report = run_to_folder(inputs, output, [_stage_config("quality_score", values)], workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


_TOK = "curate.stages.tokens.TokensConfig"


@app.command()
@handle_errors
def tokens(
    inputs: Inputs,
    output: Output,
    tokenizer: Annotated[str | None, typer.Option("--tokenizer", help="cl100k_base, o200k_base or whitespace (BPE ranks ship with curate: no download) " + _default(_TOK, "tokenizer"))] = None,
    tokenizer_file: Annotated[Path | None, typer.Option("--tokenizer-file", help="A Hugging Face tokenizer.json to count with instead (implies --tokenizer file).")] = None,
    column: Annotated[str | None, typer.Option("--column", help="Name of the added column " + _default(_TOK, "column"))] = None,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Add a `token_count` column (tiktoken cl100k_base/o200k_base, a tokenizer.json or whitespace words); totals per source in the manifest."""
    values: dict[str, Any] = _given(tokenizer=tokenizer, column=column)
    if tokenizer_file is not None:
        values.setdefault("tokenizer", "file")
        values["path"] = str(tokenizer_file.resolve())
    report = run_to_folder(inputs, output, [_stage_config("tokens", values)], workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


_PII = "curate.stages.pii.PiiConfig"


def _pairs(option: str, specs: list[str], what: str) -> dict[str, str]:
    """``NAME=VALUE`` flags -> a dict (the config model checks names and values)."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{option} {spec!r}: expected {what}")
        out[name.strip()] = value.strip()
    return out


def _default_csv(model: str, field: str) -> str:
    """A list field's default as ``A,B,C``, for help texts."""
    from curate.cli_defaults import lookup

    return ",".join(lookup(model, field))


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@app.command()
@handle_errors
def pii(
    inputs: Inputs,
    output: Output,
    types: Annotated[str | None, typer.Option("--types", help="Comma-separated types: email, phone, ipv4, ipv6, credit_card, iban, secret (default: all).")] = None,
    policy: Annotated[list[str], typer.Option("--policy", help="TYPE=POLICY (repeatable); policies: placeholder, pseudonym (key in $CURATE_PII_KEY), mask, drop_document, tag_only.")] = [],  # noqa: B006
    default_policy: Annotated[str | None, typer.Option("--default-policy", help="Policy of every type without --policy " + _default(_PII, "default_policy"))] = None,
    regions: Annotated[str | None, typer.Option("--regions", help="Comma-separated regions whose national phone formats are tried, e.g. DE,AT (default: the document's `lang`, then " + _default_csv(_PII, "default_regions") + ").")] = None,
    custom: Annotated[list[str], typer.Option("--custom", help="An extra type NAME=REGEX (repeatable), e.g. employee_id='EMP-\\d{6}'.")] = [],  # noqa: B006
    spans: Annotated[bool, typer.Option("--spans", help="Add `pii_spans`: start, end (code points of the original text) and type of every span.")] = False,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Find PII and secrets (e-mail, phone, IPs, cards, IBANs, keys) and redact, pseudonymise, mask, tag or drop."""
    values: dict[str, Any] = _given(
        types=_csv(types),
        policy=_pairs("--policy", policy, "TYPE=POLICY") or None,
        default_policy=default_policy,
        regions=_csv(regions),
        custom=_pairs("--custom", custom, "NAME=REGEX") or None,
    )
    if spans:
        values["spans"] = True
    report = run_to_folder(inputs, output, [_stage_config("pii", values)], workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


_HTML = "curate.html.options.HtmlOptions"


@app.command("extract-html")
@handle_errors
def extract_html(
    inputs: Inputs,
    output: Output,
    extractor: Annotated[str | None, typer.Option("--extractor", help="resiliparse, trafilatura, justext or union " + _default(_HTML, "extractor"))] = None,
    union_of: Annotated[str | None, typer.Option("--union-of", help="The two extractors of union mode, preferred first (default: " + _default_csv(_HTML, "union_of") + ").")] = None,
    timeout_s: Annotated[float | None, typer.Option("--timeout", help="Hard cap on one page's extraction, seconds (0: none) " + _default(_HTML, "timeout_s"))] = None,
    min_chars: Annotated[int | None, typer.Option("--min-chars", help="Shorter extracted text is rejected as no_main_content " + _default(_HTML, "min_chars"))] = None,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """HTML in `text` -> the page's main text (boilerplate-only pages, timeouts -> rejected/)."""
    values = _given(extractor=extractor, union_of=_csv(union_of), timeout_s=timeout_s, min_chars=min_chars)
    stage = _stage_config("extract_html", values)
    report = run_to_folder(inputs, output, [stage], workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


@app.command("url-filter")
@handle_errors
def url_filter(
    inputs: Inputs,
    output: Output,
    block: Annotated[list[str], typer.Option("--block", help="A block list: a file (domains, or host/path lines) or a UT1 folder (repeatable).")] = [],  # noqa: B006
    allow: Annotated[list[str], typer.Option("--allow", help="An allow list, same format: exceptions to the block lists (repeatable).")] = [],  # noqa: B006
    only_allowed: Annotated[bool, typer.Option("--only-allowed", help="Keep only documents whose URL is on an allow list.")] = False,
    url_dedup: Annotated[bool, typer.Option("--url-dedup", help="Keep one document per normalised URL.")] = False,
    max_per_domain: Annotated[int | None, typer.Option("--max-per-domain", help="Keep at most N documents per host (seeded draw).")] = None,
    url_column: Annotated[str | None, typer.Option("--url-column", help="Column holding the URL (default: url).")] = None,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Filter documents by URL: block/allow lists (UT1 format), URL dedup, a cap per domain."""
    values = _given(blocklist=block or None, allowlist=allow or None, max_per_domain=max_per_domain, url_column=url_column)
    if only_allowed:
        values["only_allowed"] = True
    if url_dedup:
        values["url_dedup"] = True
    stage = _stage_config("url_filter", values)
    report = run_to_folder(inputs, output, [stage], workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


@app.command(name="filter")
@handle_errors
def filter_(
    inputs: Inputs,
    output: Output,
    rule: Annotated[list[str], typer.Option("--rule", help="A named rule NAME='EXPRESSION' (repeatable), e.g. min_words='gopher_word_count >= 50'.")] = [],  # noqa: B006
    preset: Annotated[list[str], typer.Option("--preset", help="gopher_quality, gopher_repetition, c4_quality or fineweb_quality (repeatable), or a published chain: gopher, c4 (C4 line cleaning, rewrites text), fineweb (FineWeb's heuristic chain); scoring is added when the input lacks the signals.")] = [],  # noqa: B006
    explain: Annotated[bool, typer.Option("--explain", help="Record every failing rule in reject_detail, not only the first.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report what each rule would remove, with examples; write no data.")] = False,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Examples per rule with --dry-run.")] = 3,
    bad_words: Annotated[list[str], typer.Option("--bad-words", help="A word list LANG=PATH (repeatable): then reject documents holding one of its words (C4's matching; the language from the `lang` column, else en).")] = [],  # noqa: B006
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Keep or reject documents by named rules over any column (signals, metadata) or presets."""
    rules: dict[str, str] = {}
    for spec in rule:
        name, sep, expr = spec.partition("=")
        if not sep or not name.strip() or not expr.strip():
            raise ConfigError(f"--rule {spec!r}: expected NAME=EXPRESSION")
        rules[name.strip()] = expr.strip()
    values: dict[str, Any] = {"rules": rules, "explain": explain}
    if preset:
        values["preset"] = preset if len(preset) > 1 else preset[0]
    stage_cfgs = [] if bad_words and not (rules or preset) else [_stage_config("filter", values)]
    if bad_words:
        lists = {lang: str(Path(path).resolve()) for lang, path in _pairs("--bad-words", bad_words, "LANG=PATH").items()}
        stage_cfgs.append(_stage_config("bad_words", {"lists": lists}))
    if dry_run and (len(stage_cfgs) > 1 or len(stage_cfgs[0].expand_chains()) > 1):
        raise ConfigError("--dry-run reports rules of one filter; the chain presets c4 and fineweb and --bad-words are other stages", hint="run without --dry-run and read the rejected sets and the manifest's counters")
    cfg = stage_cfgs[0]
    if not dry_run:
        report = run_to_folder(inputs, output, stage_cfgs, workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
        _summary(report, quiet)
        return
    import tempfile

    from curate.dry_run import filter_dry_run

    with tempfile.TemporaryDirectory(prefix="curate-dry-run-") as tmp:
        text = filter_dry_run(inputs, cfg, Path(tmp), workers=workers, examples=examples, quiet=quiet, run=run_to_folder)
    print(text)


_DC = "curate.stages.decontaminate.DecontaminateConfig"


def _eval_spec(spec: str) -> dict[str, Any]:
    """``NAME=PATH[:FIELD,FIELD]`` -> an eval set's config values (paths made absolute)."""
    import re

    name, sep, rest = spec.partition("=")
    if not sep or not name.strip() or not rest.strip():
        raise ConfigError(f"--against {spec!r}: expected NAME=PATH[:FIELD,FIELD...]")
    path, fields = rest, None
    head, colon, tail = rest.rpartition(":")
    if colon and head and re.fullmatch(r"[\w.-]+(,[\w.-]+)*", tail):
        path, fields = head, tail.split(",")
    return {"name": name.strip(), "path": str(Path(path).resolve()), **({"fields": fields} if fields else {})}


@app.command()
@handle_errors
def decontaminate(
    inputs: Inputs,
    output: Output,
    against: Annotated[list[str], typer.Option("--against", help="An eval set NAME=PATH[:FIELD,FIELD] (repeatable): JSON Lines, Parquet or CSV; fields joined by newlines (default: text).")],
    mode: Annotated[str | None, typer.Option("--mode", help="drop, span or coverage " + _default(_DC, "mode"))] = None,
    ngram: Annotated[int | None, typer.Option("--ngram", help="n-gram length in words " + _default(_DC, "ngram"))] = None,
    min_words: Annotated[int | None, typer.Option("--min-words", help="Shorter items are matched whole from this many words " + _default(_DC, "min_words"))] = None,
    coverage: Annotated[float | None, typer.Option("--coverage", help="coverage mode: share of an item's n-grams that removes a document " + _default(_DC, "coverage"))] = None,
    window: Annotated[int | None, typer.Option("--window", help="span mode: characters cut on each side of a match " + _default(_DC, "window"))] = None,
    min_fragment: Annotated[int | None, typer.Option("--min-fragment", help="span mode: shorter fragments are dropped " + _default(_DC, "min_fragment"))] = None,
    max_splits: Annotated[int | None, typer.Option("--max-splits", help="span mode: a document cut more often is removed " + _default(_DC, "max_splits"))] = None,
    max_doc_frequency: Annotated[int | None, typer.Option("--max-doc-frequency", help="Ignore n-grams found in more documents than this (0: never) " + _default(_DC, "max_doc_frequency"))] = None,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Remove benchmark contamination: documents (or spans) holding eval items' n-grams."""
    values: dict[str, Any] = {
        "evals": [_eval_spec(spec) for spec in against],
        **_given(mode=mode, ngram=ngram, min_words=min_words, coverage=coverage, window=window, min_fragment=min_fragment, max_splits=max_splits),
    }
    if max_doc_frequency is not None:
        values["max_doc_frequency"] = max_doc_frequency or None
    report = run_to_folder(inputs, output, [_stage_config("decontaminate", values)], workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


_DS = "curate.stages.dsir_score.DsirScoreConfig"


def _target_spec(spec: str) -> dict[str, Any]:
    """``PATH[:FIELD,FIELD]`` -> a DSIR target's config values (path made absolute)."""
    import re

    if not spec.strip():
        raise ConfigError("--target '': expected PATH[:FIELD,FIELD...]")
    path, fields = spec, None
    head, colon, tail = spec.rpartition(":")
    if colon and head and re.fullmatch(r"[\w.-]+(,[\w.-]+)*", tail):
        path, fields = head, tail.split(",")
    return {"path": str(Path(path).resolve()), **({"fields": fields} if fields else {})}


@app.command()
@handle_errors
def dsir(
    inputs: Inputs,
    output: Output,
    target: Annotated[list[str], typer.Option("--target", help="A target file PATH[:FIELD,FIELD] (repeatable): JSON Lines, Parquet or CSV; fields joined by newlines (default: text).")],
    buckets: Annotated[int | None, typer.Option("--buckets", help="Hash buckets of the n-gram features " + _default(_DS, "buckets"))] = None,
    ngrams: Annotated[int | None, typer.Option("--ngrams", help="1: words; 2: words and word pairs " + _default(_DS, "ngrams"))] = None,
    fit: Annotated[str | None, typer.Option("--fit", help="Fit file: scored against when it exists and was made from the same --target, else (re)written after the run.")] = None,
    column: Annotated[str | None, typer.Option("--column", help="Output column " + _default(_DS, "column"))] = None,
    seed: Seed = 0,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """DSIR importance scores: log p_target/p_raw of hashed word n-grams per document (resample with `select`)."""
    values: dict[str, Any] = {
        "target": [_target_spec(spec) for spec in target],
        **_given(buckets=buckets, ngrams=ngrams, column=column, fit=str(Path(fit).resolve()) if fit else None),
    }
    report = run_to_folder(inputs, output, [_stage_config("dsir_score", values)], workers=workers, seed=seed, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


_LS = "curate.stages.learnability.LearnabilityScoreConfig"


@app.command()
@handle_errors
def learnability(
    inputs: Inputs,
    output: Output,
    target: Annotated[list[str], typer.Option("--target", help="A target file PATH[:FIELD,FIELD] (repeatable): the reference model's text; fields joined by newlines (default: text).")],
    mode: Annotated[str | None, typer.Option("--mode", help="static (RHO/CoLoR) or online (JEST super-batches) " + _default(_LS, "mode"))] = None,
    order: Annotated[int | None, typer.Option("--order", help="n-gram order of both models " + _default(_LS, "order"))] = None,
    table_bits: Annotated[int | None, typer.Option("--table-bits", help="log2 of each count table's buckets " + _default(_LS, "table_bits"))] = None,
    min_words: Annotated[int | None, typer.Option("--min-words", help="Shorter documents score null " + _default(_LS, "min_words"))] = None,
    super_batch: Annotated[int | None, typer.Option("--super-batch", help="online: documents per super-batch " + _default(_LS, "super_batch"))] = None,
    keep_fraction: Annotated[float | None, typer.Option("--keep-fraction", help="online: share of each super-batch kept and learnt " + _default(_LS, "keep_fraction"))] = None,
    column: Annotated[str | None, typer.Option("--column", help="Output column " + _default(_LS, "column"))] = None,
    seed: Seed = 0,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Learnability scores: learner minus reference n-gram cross-entropy per document (select with `select`)."""
    values: dict[str, Any] = {
        "target": [_target_spec(spec) for spec in target],
        **_given(mode=mode, order=order, table_bits=table_bits, min_words=min_words, super_batch=super_batch, keep_fraction=keep_fraction, column=column),
    }
    report = run_to_folder(inputs, output, [_stage_config("learnability_score", values)], workers=workers, seed=seed, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


_SEL = "curate.stages.select.SelectConfig"


def _mixture(spec: str) -> dict[str, float]:
    """``web=0.6,books=0.4`` -> {source: weight} (the config model checks the sum)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        name, sep, value = part.rpartition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not part or not sep or not name.strip() or weight is None:
            raise ConfigError(f"--mixture {spec!r}: expected SOURCE=WEIGHT,SOURCE=WEIGHT (e.g. web=0.6,books=0.4)")
        out[name.strip()] = weight
    return out


@app.command(name="select")
@handle_errors
def select_(
    inputs: Inputs,
    output: Output,
    score: Annotated[str | None, typer.Option("--score", help="Column (or expression) to rank by; none: a seeded random order.")] = None,
    method: Annotated[str | None, typer.Option("--method", help="threshold, top_k, top_fraction or gumbel (weighted sampling) " + _default(_SEL, "method"))] = None,
    k: Annotated[int | None, typer.Option("--k", help="Documents to keep (split over --mixture).")] = None,
    fraction: Annotated[float | None, typer.Option("--fraction", help="Share of the input to keep, in --unit.")] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="threshold method: the lowest score kept.")] = None,
    budget: Annotated[str | None, typer.Option("--budget", help="Amount to keep in --unit: 10000, 500M, 2B.")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="documents or tokens " + _default(_SEL, "unit"))] = None,
    tokens_column: Annotated[str | None, typer.Option("--tokens-column", help="Token count column for --unit tokens " + _default(_SEL, "tokens_column"))] = None,
    mixture: Annotated[str | None, typer.Option("--mixture", help="Share per source, e.g. web=0.6,books=0.3,code=0.1 (sums to 1).")] = None,
    max_epochs: Annotated[int | None, typer.Option("--max-epochs", help="Upsampling cap: times a document may repeat " + _default(_SEL, "max_epochs"))] = None,
    shortfall: Annotated[str | None, typer.Option("--shortfall", help="A target beyond max_epochs times the pool: error or allow " + _default(_SEL, "shortfall"))] = None,
    tolerance: Annotated[float | None, typer.Option("--tolerance", help="--unit tokens: stop this close below the target " + _default(_SEL, "tolerance"))] = None,
    weight: Annotated[str | None, typer.Option("--weight", help="gumbel: weight from the score, score or exp " + _default(_SEL, "weight"))] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="gumbel: key = log(weight) / temperature + noise " + _default(_SEL, "temperature"))] = None,
    seed: Seed = 0,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Keep a subset by a score: threshold, top-k, Gumbel-top-k sampling, per-source quotas, upsampling."""
    values: dict[str, Any] = _given(
        score=score, method=method, k=k, fraction=fraction, threshold=threshold, budget=budget, unit=unit,
        tokens_column=tokens_column, mixture=_mixture(mixture) if mixture is not None else None, max_epochs=max_epochs,
        shortfall=shortfall, tolerance=tolerance, weight=weight, temperature=temperature,
    )
    report = run_to_folder(inputs, output, [_stage_config("select", values)], workers=workers, seed=seed, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


@app.command(name="train-classifier")
@handle_errors
def train_classifier(
    positive: Annotated[list[str], typer.Option("--positive", "-p", help="High-quality documents: Parquet/JSONL with `text`, or .txt one per line (repeatable).")],
    negative: Annotated[list[str], typer.Option("--negative", "-n", help="Random or low-quality documents, same formats (repeatable).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.bin).")],
    valid_fraction: Annotated[float, typer.Option("--valid-fraction", min=0.01, max=0.5, help="Held-out share for precision, recall and ROC AUC.")] = 0.1,
    epoch: Annotated[int, typer.Option("--epoch", min=1, help="Training epochs.")] = 5,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="Learning rate.")] = 0.1,
    word_ngrams: Annotated[int, typer.Option("--word-ngrams", min=1, max=5, help="Word n-gram features.")] = 2,
    dim: Annotated[int, typer.Option("--dim", min=2, help="Embedding size.")] = 100,
    thread: Annotated[int, typer.Option("--thread", min=1, help="Training threads (1 is reproducible).")] = 1,
    seed: Seed = 0,
    debug: Debug = False,
) -> None:
    """Train a fastText quality classifier (DCLM-style); the file then works as a `--fasttext` scorer."""
    from curate.quality.fasttext_model import train_classifier as train

    for flag, paths in (("--positive", positive), ("--negative", negative)):
        for p in paths:
            if not Path(p).exists():
                raise ConfigError(f"{flag}: file not found: {p}")
    report = train(positive, negative, output, valid_fraction=valid_fraction, epoch=epoch, lr=lr, word_ngrams=word_ngrams, dim=dim, thread=thread, seed=seed)
    print(f"model: {report.output}")
    print(f"trained on {report.n_train:,} documents, validated on {report.n_valid:,}")
    print(f"precision {report.precision:.3f}  recall {report.recall:.3f}  ROC AUC {report.roc_auc:.3f}  (threshold {report.threshold})")
    print(f"use it: curate score INPUT -o OUT --fasttext hq={report.output}")


@app.command()
@handle_errors
def report(
    path: Annotated[Path, typer.Argument(help="A release, a command's output, a workdir or a step folder.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Folder for report.html and report.json (default: PATH itself).")] = None,
    debug: Debug = False,
) -> None:
    """Write report.html and report.json for a folder curate wrote, and print the page's path."""
    from curate.io import store
    from curate.reporting import write_report
    from curate.reporting.collect import build_report
    from curate.reporting.folders import open_folder

    remote_out = output is not None and store.is_remote(str(output))
    if store.is_remote(str(path)) and output is None:
        raise ConfigError(
            f"{store.normalise(str(path))} is in an object store and a published release is never changed",
            hint="give -o: a local folder, or a prefix in the store, for report.html and report.json",
        )
    folder = open_folder(path)
    if folder.kind == "files":
        raise ConfigError(f"{path}: not a folder curate wrote (no _manifest.json or _run.json)", hint="`curate inspect` reads plain Parquet files")
    data = build_report(folder)
    path = folder.path if store.is_remote(str(path)) else path  # a store's release: its local copy
    earlier = path / "report.json" if path.is_dir() else None
    if earlier is not None and earlier.is_file():  # the gates' verdict and the diff were made at publish time: kept
        import json

        try:
            previous = json.loads(earlier.read_text())
        except ValueError:
            previous = {}
        data.update({k: previous.get(k) for k in ("gates", "diff")})
    if remote_out:  # written beside the local copy, then uploaded
        import tempfile

        with tempfile.TemporaryDirectory(prefix="curate-report-") as tmp:
            page = write_report(data, Path(tmp))
            store.parallel([(store.upload, p, store.join(str(output), p.name)) for p in sorted(Path(tmp).iterdir()) if p.is_file()])
        print(store.join(str(output), page.name))
        return
    target = output or (path if path.is_dir() else path.parent)
    if output is not None and folder.kind == "workdir":
        page = write_report(data, target)
    else:
        page = write_report(data, target, link_base="workdir" if folder.kind == "workdir" else None)
    print(page)


@app.command()
@handle_errors
def inspect(
    path: Annotated[Path, typer.Argument(help="A release, a command's output, a workdir, a step folder, a rejected set or Parquet files.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Show rejected documents with this reason.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Show documents of this source.")] = None,
    where: Annotated[str | None, typer.Option("--where", help="Show documents matching a rule (filter's grammar), e.g. \"gopher_word_count < 80\".")] = None,
    rejected: Annotated[bool, typer.Option("--rejected", help="Show rejected documents instead of kept ones.")] = False,
    doc_id: Annotated[str | None, typer.Option("--id", help="Show one document and its lineage: which step removed it and why.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Documents to show.")] = 5,
    debug: Debug = False,
) -> None:
    """Counts, schema and sample documents of a folder curate wrote."""
    from curate.reporting import inspect as view
    from curate.reporting.folders import open_folder

    folder = open_folder(path)
    if doc_id is not None:
        found = view.find(folder, doc_id)
        print("\n".join(view.show_find(found)))
        if found["status"] == "not found":  # like grep: a lookup that finds nothing exits 1
            raise typer.Exit(1)
        return
    lines = view.summary(folder)
    what, frame = view.rows(folder, reason=reason, source=source, where=where, limit=limit, rejected=rejected)
    counts = view.reason_counts(folder) if reason is not None and frame.height == 0 else {}
    if reason is not None and frame.height == 0 and reason not in counts:  # like --id: no such reason exits 1
        print("\n".join([*lines, "", view.show_no_reason(reason, counts)]))
        raise typer.Exit(1)
    if limit:
        lines += ["", *view.show_rows(what, frame)]
    print("\n".join(lines))


@app.command()
@handle_errors
def diff(
    old: Annotated[Path, typer.Argument(help="The previous release.")],
    new: Annotated[Path, typer.Argument(help="The new release.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    gates: Annotated[Path | None, typer.Option("--gates", help="A YAML file with a `gates:` section (a pipeline config will do): check NEW against them (exit 1 when one fails).")] = None,
    debug: Debug = False,
) -> None:
    """What changed between two releases: documents by source and reason, tokens, score shifts."""
    import json

    from curate.reporting.collect import build_report
    from curate.reporting.diff import diff as compare
    from curate.reporting.diff import diff_text
    from curate.reporting.folders import open_folder
    from curate.reporting.gates import evaluate, failure, load_gates

    a, b = open_folder(old), open_folder(new)
    for name, f in (("OLD", a), ("NEW", b)):
        if f.kind not in ("release", "shards"):
            raise ConfigError(f"{name}: {f.path} is not a release or a command's output (no curate_dataset manifest)")
    result = compare(a, b)
    checked = None
    if gates is not None:
        checked = evaluate(load_gates(gates), build_report(b), result)
        result["gates"] = checked
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(diff_text(result))
        if checked is not None:
            print("\ngates:")
            for r in checked["results"]:
                verdict = "pass" if r["passed"] else ("not checked" if r["passed"] is None else "FAIL")
                print(f"  {r['gate']}: {verdict}: {r['message']}")
    err = failure(checked) if checked else None
    if err is not None:
        err.message = err.message.replace("; the release was not published", "")
        err.hint = None
        raise err


_CHK = "curate.stages.chunk.ChunkConfig"
_GRAPH = "curate.graph.GraphSettings"
MaxTokens = Annotated[int | None, typer.Option("--max-tokens", help="Most tokens per chunk " + _default(_CHK, "max_tokens"))]
ChunkOverlap = Annotated[int | None, typer.Option("--overlap", help="Tokens repeated from the previous chunk, whole sentences " + _default(_CHK, "overlap"))]
ChunkTokenizer = Annotated[str | None, typer.Option("--tokenizer", help="cl100k_base, o200k_base or whitespace (BPE ranks ship with curate) " + _default(_CHK, "tokenizer"))]
ChunkTokenizerFile = Annotated[Path | None, typer.Option("--tokenizer-file", help="A Hugging Face tokenizer.json to count with instead (implies --tokenizer file).")]


def _chunk_values(max_tokens: int | None, overlap: int | None, tokenizer: str | None, tokenizer_file: Path | None) -> dict[str, Any]:
    values: dict[str, Any] = _given(max_tokens=max_tokens, overlap=overlap, tokenizer=tokenizer)
    if tokenizer_file is not None:
        values.setdefault("tokenizer", "file")
        values["path"] = str(tokenizer_file.resolve())
    return values


@app.command()
@handle_errors
def chunk(
    inputs: Inputs,
    output: Output,
    max_tokens: MaxTokens = None,
    overlap: ChunkOverlap = None,
    tokenizer: ChunkTokenizer = None,
    tokenizer_file: ChunkTokenizerFile = None,
    workers: Workers = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Split documents into token-sized chunks with overlap, at paragraph/sentence boundaries (rows load as graphrag's text_units)."""
    cfg = _stage_config("chunk", _chunk_values(max_tokens, overlap, tokenizer, tokenizer_file))
    report = run_to_folder(inputs, output, [cfg], workers=workers, resume=resume, overwrite=overwrite, quiet=quiet)
    _summary(report, quiet)


@app.command()
@handle_errors
def graph(
    inputs: Inputs,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for entities.parquet, relationships.parquet, text_units.parquet, graph_stats.json (and chunks/).")],
    max_tokens: MaxTokens = None,
    overlap: ChunkOverlap = None,
    tokenizer: ChunkTokenizer = None,
    tokenizer_file: ChunkTokenizerFile = None,
    window: Annotated[int | None, typer.Option("--window", help="Sentences apart two mentions may be to co-occur, 0: same sentence " + _default(_GRAPH, "window"))] = None,
    min_count: Annotated[int | None, typer.Option("--min-count", help="Fewest shared sentence windows for an edge " + _default(_GRAPH, "min_count"))] = None,
    min_npmi: Annotated[float | None, typer.Option("--min-npmi", help="Lowest normalised PMI for an edge " + _default(_GRAPH, "min_npmi"))] = None,
    max_degree: Annotated[int | None, typer.Option("--max-degree", help="Most edges per entity " + _default(_GRAPH, "max_degree"))] = None,
    min_frequency: Annotated[int | None, typer.Option("--min-frequency", help="Fewest chunks an entity occurs in " + _default(_GRAPH, "min_frequency"))] = None,
    gazetteer: Annotated[Path | None, typer.Option("--gazetteer", help="Known names and types: JSON/YAML {TYPE: [names]} or TSV name<TAB>TYPE.")] = None,
    aliases: Annotated[Path | None, typer.Option("--aliases", help="Aliases: JSON/YAML {canonical: [aliases]} or TSV alias<TAB>canonical.")] = None,
    extractor: Annotated[str | None, typer.Option("--extractor", help="rules (offline, default) or llm (a chat endpoint: --base-url, --model).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="LLM extractor: OpenAI-compatible endpoint root, e.g. http://127.0.0.1:8000/v1.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="LLM extractor: model name.")] = None,
    api_key_env: Annotated[str | None, typer.Option("--api-key-env", help="LLM extractor: name of the environment variable holding the key.")] = None,
    llm_cache: Annotated[Path | None, typer.Option("--llm-cache", help="LLM extractor: SQLite answer cache; a rerun resumes from it.")] = None,
    max_chunks: Annotated[int | None, typer.Option("--max-chunks", help="LLM extractor: most chunks sent.")] = None,
    summarize: Annotated[bool, typer.Option("--summarize", help="LLM extractor: one model-written description per entity/edge seen in several chunks.")] = False,
    workers: Workers = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    """Build an entity-relationship graph offline (rule-based, no model) in graphrag's table schema; chunks first unless given chunks."""
    from curate.graph.command import graph_summary, run_graph

    cfg = _stage_config("chunk", _chunk_values(max_tokens, overlap, tokenizer, tokenizer_file))
    values = _given(window=window, min_count=min_count, min_npmi=min_npmi, max_degree=max_degree, min_frequency=min_frequency)
    values.update(_given(gazetteer=str(gazetteer) if gazetteer else None, aliases=str(aliases) if aliases else None, extractor=extractor))
    llm = _given(base_url=base_url, model=model, api_key_env=api_key_env, cache_path=str(llm_cache) if llm_cache else None, max_chunks=max_chunks)
    if summarize:
        llm["summarize"] = True
    if llm:
        values["llm"] = llm
    stats = run_graph(inputs, output, cfg, values, workers=workers, overwrite=overwrite, quiet=quiet)
    if not quiet:
        out_console.print(graph_summary(stats))


@app.command()
@handle_errors
def stages(
    kind: Annotated[str | None, typer.Argument(help="A stage kind, or `input`/`output`/`engine` for those sections.")] = None,
    debug: Debug = False,
) -> None:
    """List stage kinds, or every config key of one stage with its type, default and meaning."""
    from curate.docs import describe_kind, list_kinds

    print(describe_kind(kind) if kind else list_kinds())


index_app = typer.Typer(name="index", help="Incremental dedup indexes.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(index_app)


@index_app.command("info")
@handle_errors
def index_info(
    path: Annotated[Path, typer.Argument(help="Folder of a MinHash index (`--index`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    debug: Debug = False,
) -> None:
    """Documents, releases, parameters and format version of a MinHash index."""
    import json

    from curate.dedup.index import info

    data = info(path)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    print(f"index: {data['path']}")
    print(f"format: {data['format']}")
    print(f"documents: {data['documents']}")
    print(f"releases: {len(data['releases'])}")
    for r in data["releases"]:
        print(f"  {r['run_id']}: {r['documents']} documents, added {r['added_at']}")
    print("params: " + ", ".join(f"{k}={v}" for k, v in data["params"].items()))


def main() -> None:
    """Console entry point."""
    from curate.engines.executor import configure_allocator, configure_blas

    if sys.argv[1:2] and sys.argv[1] in PLAN_COMMANDS:
        gc.disable()  # until the plan runs: see _collect_cycles
    small_dedup = _a_small_dedup(sys.argv[1:])
    configure_allocator(small_dedup)  # before anything imports polars: see POLARS_ALLOCATOR
    configure_blas()
    if small_dedup:
        _prefetch_dedup_input(sys.argv[2:])
    try:
        app_for(sys.argv[1:])()
    except SystemExit as done:
        _exit_without_teardown(done.code)
    _exit_without_teardown(0)


def app_for(args: list[str]) -> typer.Typer:
    """The app typer runs ``args`` with: ``app`` holding only the command ``args`` name, if they
    name one. typer builds every registered command's click parameters (their annotations
    evaluated, a pydantic adapter each) before it looks at the command line: ~35 ms of start-up for
    24 commands unused. A command's own help, parsing and errors are the same either way; anything
    else (no command, ``--help``, a group, a misspelt name) gets the whole app."""
    wanted = [c for c in app.registered_commands if args and (c.name or typer.main.get_command_name(c.callback.__name__)) == args[0]]
    if len(wanted) != 1:
        return app
    one = copy.copy(app)
    one.registered_commands = wanted
    one.registered_groups = []
    return one


PLAN_COMMANDS = frozenset(
    {"run", "ingest", "export", "augment", "targeted-augment", "lab-generate", "dedup", "score", "tokens", "pii",
     "extract-html", "url-filter", "filter", "decontaminate", "dsir", "learnability", "select", "chunk"}
)
"""The commands that build a config and run a plan (through ``_execute``). Not `graph`: given chunk
shards, it runs no plan and builds its graph in Python, which should not run without the collector."""


def _collect_cycles() -> None:
    """Turn Python's cycle collector back on, every object that exists so far frozen out of its passes.

    ``main`` turns it off for a command that runs a plan, until ``_execute`` starts the run: loading
    typer, pydantic, polars and the stages, parsing the command line and building the config and
    plan allocate some 300,000 objects that are never garbage, and the collector's passes over them
    cost CPU on the one core that start-up uses (curate's imports alone: 0.44 -> 0.41 s, min of 15
    runs; `curate dedup` of 100,000 documents: 1.98 -> 1.88 s, medians of 12 alternating runs).
    Frozen, they are also left out of the run's own full collections. A command that stops before
    its run (a config error) ends with the collector still off."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _a_small_dedup(args: list[str]) -> bool:
    """Whether ``args`` look like a `curate dedup` that ``runner.one_process`` will keep in one
    process (not told its workers, at most ``ONE_PROCESS_BYTES`` of input), judged before anything
    heavy is imported: the local files, folders and globs among its arguments, the output's aside.
    A value it cannot judge (a store URL) counts as nothing; one it overcounts (an option's existing
    folder) only keeps the allocator setting of larger runs."""
    import glob

    from curate.engines.executor import ONE_PROCESS_BYTES

    if not args or args[0] != "dedup" or any(a in ("-w", "--workers") or a.startswith("--workers=") for a in args):
        return False
    def sizes(arg: str) -> Iterator[int]:
        for path in glob.glob(arg) if any(c in arg for c in "*?[") else [arg]:
            if os.path.isfile(path):
                yield os.path.getsize(path)
            for folder, _, files in os.walk(path):  # nothing for a file or a missing path
                yield from (os.path.getsize(os.path.join(folder, f)) for f in files)

    size, skip = 0, False
    for arg in args[1:]:
        if skip or arg.startswith("-"):
            skip = arg in ("-o", "--output")
            continue
        for n in sizes(arg):
            size += n
            if size > ONE_PROCESS_BYTES:
                return False
    return True


DEDUP_SHARD_TEXT_BYTES = 32 << 20
"""`curate dedup`'s shards hold at most 32 MiB of text: a dedup worker holds ~5x its shard's text
(MinHash keys, joins)."""


def _prefetch_dedup_input(args: list[str]) -> None:
    """A small `curate dedup` of one local Parquet file: begin ingest's read of it now, while
    typer, pydantic, polars and the stages load (``curate.io.prefetch``; ingest takes it only if it
    makes that very read, so a guess gone wrong costs a little CPU, never a wrong row)."""
    from curate.cli_defaults import lookup

    inputs, skip = [], False
    for arg in args:
        if skip or arg.startswith("-"):
            skip = arg in ("-o", "--output")
            continue
        inputs.append(arg)
    if len(inputs) != 1 or not inputs[0].lower().endswith(".parquet") or not os.path.isfile(inputs[0]):
        return
    from curate.io import prefetch

    prefetch.start(inputs[0], "text", int(lookup("curate.config.InputConfig", "rows_per_shard")), DEDUP_SHARD_TEXT_BYTES)


def _exit_without_teardown(code: object) -> NoReturn:
    """End the process as Python's own exit does (other threads joined, ``atexit`` handlers run,
    output flushed), but without the interpreter's teardown of every module and object, which the
    system frees at once anyway: ~0.1 s of a ~2.5 s `curate dedup` once polars, pyarrow and numpy
    are loaded (benchmarks/RESULTS.md, issue 12, fifth round)."""
    import atexit
    import threading

    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what SystemExit("message") prints
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


if __name__ == "__main__":
    main()
