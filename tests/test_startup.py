"""Start-up cost a user pays on every command: nothing heavy is imported that the work does not need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

SCRIPT = """
import atexit, sys
sys.argv = ["curate", *sys.argv[1:]]
atexit.register(lambda: print("pandas" in sys.modules))  # the command ends the process
from curate.cli import main
main()
"""


def test_ingest_and_dedup_never_import_pandas(tmp_path: Path) -> None:
    """pyarrow imports pandas behind ``pa.array``, ``pa.scalar``, ``Schema.empty_table`` and a
    boolean ``to_numpy``: ~0.5 s of a command's start-up, in every worker process."""
    texts = ["Ünïcödé café " * 20, "plain ascii text here " * 20, "e\u0301 decomposed " * 20, "plain ascii text here " * 20]
    src = tmp_path / "in.parquet"
    pl.DataFrame({"text": texts}).write_parquet(src)
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, "dedup", str(src), "-o", str(tmp_path / "out"), "-q", "-w", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "False"


def test_help_and_version_import_no_stage_module() -> None:
    """Help texts show config defaults from a precomputed table: `curate --version` or `--help`
    never imports a stage (each pulled numpy, polars and its own tables: over a second)."""
    code = (
        "import atexit, sys\nsys.argv = ['curate', '--help']\nfrom curate.cli import main\n"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.startswith('curate.stages') or m in ('numpy', 'polars'))))\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_the_help_defaults_table_equals_the_config_models() -> None:
    """`python -m curate.cli_defaults` (make docs) regenerates it when a default changes."""
    import json

    from curate.cli_defaults import FILE, table

    shipped = json.loads(FILE.read_text())
    assert shipped.keys() == table().keys(), "run `make docs` to regenerate src/curate/cli_defaults.json"
    for key, value in table().items():
        assert f"{shipped[key]}" == f"{value}", f"{key}: run `make docs`"


def _stage_modules_after(code: str, cwd: Path) -> list[str]:
    """The ``curate.stages.*`` modules a fresh interpreter holds after running ``code`` (shown on the
    way out: ``code`` may end the process, as the `curate` command does)."""
    probe = "import atexit, sys\natexit.register(lambda: print(sorted(m for m in sys.modules if m.startswith('curate.stages.'))))\n" + code
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert run.returncode == 0, run.stderr
    return eval(run.stdout.strip().splitlines()[-1])  # noqa: S307 - our own repr of a list of str


def test_an_ingest_export_config_and_its_worker_code_import_no_stage_module(tmp_path: Path) -> None:
    """A spawned worker imports ``curate.config`` and the task code; with a config that has no
    stages, neither loads any stage module (augment, pii, select... each cost every worker time)."""
    (tmp_path / "run.yaml").write_text("input: {paths: [in.jsonl]}\noutput: {path: out}\n")
    code = "from curate.config import load_config\nload_config('run.yaml')\nimport curate.engines.base, curate.runner\n"
    assert _stage_modules_after(code, tmp_path) == ["curate.stages.base"]


def test_a_whole_ingest_export_run_imports_no_stage_module(tmp_path: Path) -> None:
    """The runner (planning, ingest, export, report) of a config without stages loads none either."""
    (tmp_path / "in.jsonl").write_text('{"text": "one document"}\n{"text": "another document"}\n')
    (tmp_path / "run.yaml").write_text("input: {paths: [in.jsonl]}\nworkdir: w\noutput: {path: out}\nengine: {workers: 1}\n")
    code = "import sys\nsys.argv = ['curate', 'run', 'run.yaml', '-q']\nfrom curate.cli import main\nmain()\n"
    assert _stage_modules_after(code, tmp_path) == ["curate.stages.base"]
    assert (tmp_path / "out" / "_manifest.json").is_file()


def test_a_config_imports_only_the_stage_modules_it_uses(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("input: {paths: [in.jsonl]}\nstages:\n  - kind: exact_dedup\n  - kind: chunk\n")
    code = "from curate.config import load_config\nload_config('run.yaml')\n"
    assert _stage_modules_after(code, tmp_path) == ["curate.stages.base", "curate.stages.chunk", "curate.stages.exact_dedup"]


def test_an_unknown_kind_lists_every_stage_without_importing_one(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text("stages:\n  - kind: nope\n")
    code = (
        "from curate.config import load_config\nfrom curate.errors import ConfigError\n"
        "try:\n    load_config('run.yaml')\nexcept ConfigError as err:\n    print(err)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "unknown stage kind 'nope'; allowed kinds: augment, bad_words, c4_clean" in run.stdout
    assert _stage_modules_after(code, tmp_path) == ["curate.stages.base"]


def test_every_registered_kind_names_a_class_of_that_kind() -> None:
    """The registry lists (module, class) by hand: each must import and carry the kind it is listed under."""
    from curate.stages import REGISTRY, StageRegistry
    from curate.stages.base import Stage

    for kind in REGISTRY:
        cls = REGISTRY[kind]
        assert issubclass(cls, Stage) and cls.kind == kind
        assert REGISTRY.location(kind) == (cls.__module__, cls.__name__)
    with pytest.raises(TypeError, match="has kind 'tokens', registered as 'chunk'"):
        StageRegistry({"chunk": ("curate.stages.tokens", "Tokens")})["chunk"]


def test_a_stage_config_sent_to_a_fresh_process_imports_its_module_there(tmp_path: Path) -> None:
    """Spawned workers and Ray receive stage configs pickled: unpickling imports the one module."""
    import pickle

    from curate.config import parse_stage

    cfg, errors = parse_stage({"kind": "chunk"}, 0)
    assert not errors
    (tmp_path / "cfg.pkl").write_bytes(pickle.dumps(cfg))
    code = (
        "import pickle\nfrom curate.stages import build_stage\n"
        "stage = build_stage(pickle.loads(open('cfg.pkl', 'rb').read()))\nassert stage.kind == 'chunk'\n"
    )
    assert _stage_modules_after(code, tmp_path) == ["curate.stages.base", "curate.stages.chunk"]


def test_plan_commands_are_the_commands_that_run_a_plan() -> None:
    """``main`` turns the cycle collector off for these until their run starts (``_execute``)."""
    import inspect

    from curate.cli import PLAN_COMMANDS, app

    names = {(c.name or c.callback.__name__).replace("_", "-"): c.callback for c in app.registered_commands}
    assert names.keys() >= PLAN_COMMANDS
    running = {n for n, fn in names.items() if "run_to_folder(" in inspect.getsource(fn) or "_execute(" in inspect.getsource(fn)}
    assert running == PLAN_COMMANDS  # graph (its chunk plan run through curate.graph.command) is left out on purpose


def test_a_command_runs_its_plan_with_the_cycle_collector_on_and_start_up_frozen(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"text": "one document"}\n{"text": "another document"}\n')
    code = (
        "import gc, sys\nsys.argv = ['curate', 'dedup', 'in.jsonl', '-o', 'out', '-q']\n"
        "import curate.runner\nrun = curate.runner.run_plan\n"
        "def probe(*a, **k):\n    print('collector', gc.isenabled(), gc.get_freeze_count() > 10000)\n    return run(*a, **k)\n"
        "curate.runner.run_plan = probe\nfrom curate.cli import main\nprint('before', gc.isenabled())\nmain()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["before True", "collector True True"]
    assert (tmp_path / "out" / "_manifest.json").is_file()


def test_other_commands_keep_the_cycle_collector_on() -> None:
    code = "import atexit, gc, sys\nsys.argv = ['curate', 'stages']\natexit.register(lambda: print(gc.isenabled()))\nfrom curate.cli import main\nmain()\n"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "True"


def test_a_command_parsed_by_its_own_app_helps_and_fails_as_in_the_whole_app() -> None:
    """``main`` hands typer only the command named (``app_for``): typer builds every command's
    parameters before parsing. Help, usage errors and the unknown-command answer stay the same."""
    import typer.main
    from typer.testing import CliRunner

    from curate.cli import app, app_for

    runner = CliRunner()
    names = [c.name or typer.main.get_command_name(c.callback.__name__) for c in app.registered_commands]
    assert len(names) > 20
    for name in names:
        assert len(app_for([name, "x"]).registered_commands) == 1
        for args in ([name, "--help"], [name, "--no-such-option"]):
            alone, whole = runner.invoke(app_for(args), args), runner.invoke(app, args)
            assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), args
    for args in ([], ["--help"], ["index", "--help"], ["dedupp"]):
        assert app_for(args) is app
