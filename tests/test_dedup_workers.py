"""`curate dedup` not told its workers runs a small input in one process (``ONE_PROCESS_BYTES``).

Its output is the same bytes whatever the worker count, so this only decides speed and memory;
``--workers`` always wins, and every other command keeps the engine's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import make_records, write_jsonl
from curate import runner
from curate.engines.executor import make_executor


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The worker counts the runner asks the executor for, recorded."""
    asked: list[int] = []

    def recording(kind: str, n: int, *args: Any) -> Any:
        asked.append(n)
        return make_executor(kind, n, *args)

    monkeypatch.setattr(runner, "make_executor", recording)
    return asked


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "d.jsonl", make_records(120, seed=4, dup_every=5))


def parquet_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


def test_a_small_dedup_not_told_its_workers_runs_in_one_process(cli: Any, data: Path, tmp_path: Path, workers: list[int]) -> None:
    result = cli("dedup", data, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert workers == [1]


def test_workers_given_are_used_and_the_output_is_the_same_bytes(cli: Any, data: Path, tmp_path: Path, workers: list[int]) -> None:
    assert cli("dedup", data, "-o", tmp_path / "one", "-q").exit_code == 0
    assert cli("dedup", data, "-o", tmp_path / "two", "-q", "-w", "2").exit_code == 0
    assert workers == [1, 2]
    assert parquet_bytes(tmp_path / "one") == parquet_bytes(tmp_path / "two")


def test_a_dedup_over_more_input_keeps_the_engine_s_default(
    cli: Any, data: Path, tmp_path: Path, workers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "ONE_PROCESS_BYTES", data.stat().st_size - 1)
    assert cli("dedup", data, "-o", tmp_path / "out", "-q").exit_code == 0
    from curate.config import EngineConfig

    assert workers == [EngineConfig().workers]


def test_another_command_keeps_the_engine_s_default(cli: Any, data: Path, tmp_path: Path, workers: list[int]) -> None:
    assert cli("ingest", data, "-o", tmp_path / "out", "-q").exit_code == 0
    from curate.config import EngineConfig

    assert workers == [EngineConfig().workers]
