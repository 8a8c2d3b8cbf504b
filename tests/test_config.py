"""Config validation, table-driven: every invalid file names the key, what was expected and the allowed values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from curate.config import load_config
from curate.errors import ConfigError

HERE = Path(__file__).parent / "configs"
VALID = sorted((HERE / "valid").glob("*.yaml"))
INVALID = sorted((HERE / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_configs_load(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.input is not None


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_configs_name_the_problem(path: Path) -> None:
    expect = path.read_text().splitlines()[0].removeprefix("# expect:").strip()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert expect in err.value.message
    assert err.value.exit_code == 2


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_cli_reports_config_errors_without_traceback(cli, tmp_path: Path, path: Path) -> None:
    target = tmp_path / path.name
    shutil.copy(path, target)
    result = cli("validate", target)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    cfg_path = tmp_path / "sub" / "c.yaml"
    cfg_path.write_text("input: {paths: [data.jsonl]}\nworkdir: w\noutput: {path: ../out}\n")
    cfg = load_config(cfg_path)
    assert cfg.input.sources[0].paths == [str(tmp_path / "sub" / "data.jsonl")]
    assert cfg.output.path == str(tmp_path / "out")


def test_missing_input_names_the_key_and_exits_2(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("input: {sources: [{paths: [nothing-here/*.jsonl]}]}\n")
    result = cli("validate", cfg)
    assert result.exit_code == 2
    assert "input.sources[0].paths[0]: no input file matches" in result.stderr


def test_fingerprint_ignores_where_data_is_written(tmp_path: Path) -> None:
    from curate.config import parse_config

    a = parse_config({"input": {"paths": ["x"]}, "workdir": "a", "output": {"path": "o1"}})
    b = parse_config({"input": {"paths": ["x"]}, "workdir": "b", "output": {"path": "o2"}})
    c = parse_config({"input": {"paths": ["x"]}, "workdir": "b", "output": {"path": "o2"}, "seed": 3})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_config_reference_is_generated_from_the_models() -> None:
    from curate.docs import reference

    doc = (Path(__file__).parents[1] / "docs" / "config-reference.md").read_text()
    assert doc.strip() == reference().strip(), "run `make docs` to regenerate docs/config-reference.md"
