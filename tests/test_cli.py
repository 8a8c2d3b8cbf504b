"""The command line: help, version, exit codes, and user errors as messages (never tracebacks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import make_records, read_dir, write_config, write_jsonl
from curate import __version__


def test_version(cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"curate {__version__}"


def test_help_lists_the_commands(cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("run", "validate", "ingest", "export", "stages"):
        assert command in result.stdout


def test_unknown_option_is_a_usage_error(cli) -> None:
    result = cli("run", "--no-such-flag")
    assert result.exit_code == 2


def test_missing_config_file(cli, tmp_path: Path) -> None:
    result = cli("run", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert "config file not found" in result.stderr


def test_validate_prints_the_plan(cli, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", make_records(3))
    cfg = write_config(tmp_path, {"input": {"paths": ["d.jsonl"]}, "output": {"path": "out"}, "stages": [{"kind": "exact_dedup"}]})
    result = cli("validate", cfg)
    assert result.exit_code == 0, result.output
    assert "00_ingest" in result.stdout and "01_exact_dedup" in result.stdout and "02_export" in result.stdout


def test_run_overrides_workdir_output_and_workers(cli, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", make_records(20, dup_every=4))
    cfg = write_config(tmp_path, {"input": {"paths": ["d.jsonl"]}, "output": {"path": "ignored"}, "stages": [{"kind": "exact_dedup"}]})
    result = cli("run", cfg, "--workdir", tmp_path / "w", "--output", tmp_path / "o", "--workers", "1")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "train").is_dir() and (tmp_path / "w" / "_run.json").is_file()
    assert not (tmp_path / "ignored").exists()
    assert "exact_duplicate" in result.stdout


def test_stages_describes_every_key(cli) -> None:
    listing = cli("stages")
    assert listing.exit_code == 0 and "exact_dedup" in listing.stdout
    detail = cli("stages", "exact_dedup")
    assert "| `keep` | str | 'first' |" in detail.stdout
    assert cli("stages", "nope").exit_code == 2


def test_single_stage_commands_chain(cli, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", make_records(30, dup_every=3), raw_lines={2: b"{bad"})
    assert cli("ingest", tmp_path / "d.jsonl", "-o", tmp_path / "ingested", "-w", "1", "-q").exit_code == 0
    assert (tmp_path / "ingested" / "rejected").is_dir()
    result = cli("export", tmp_path / "ingested", "-o", tmp_path / "final", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    ingested = read_dir(tmp_path / "ingested")
    final = read_dir(tmp_path / "final")
    assert final["id"].to_list() == ingested["id"].to_list()


def test_importing_the_cli_imports_no_optional_heavy_module() -> None:
    code = "import sys, curate.cli; print([m for m in ('ray', 'fasttext', 'httpx', 'datasets', 'torch') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_progress_is_plain_text_when_not_a_terminal(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", make_records(5))
    out = subprocess.run([sys.executable, "-m", "curate", "ingest", "d.jsonl", "-o", "o", "-w", "1"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0
    assert "[ingest] done: 5 in, 5 kept, 0 rejected" in out.stderr
    assert "\x1b[" not in out.stderr
