"""SIGKILL of the whole process group at many points of a run, then `--resume`: the output is
byte-identical to an uninterrupted run's, every document is accounted for, and no process of the
killed group survives.

Each point is a condition on the workdir (or the output), polled while the run goes; when it
holds, the run's process group (the main process and its workers) is killed with SIGKILL.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from faults import project
from faults.conftest import group_pids, kill_group, record, run_cli, start, wait_gone

FULL = pytest.mark.faults_full
pytestmark = pytest.mark.timeout(1200)
W = Path("work")


def _n(sub: str, pattern: str, at_least: int) -> Callable[[Path], bool]:
    return lambda root: project.count(root / W / sub, pattern) >= at_least


def _exists(rel: str) -> Callable[[Path], bool]:
    return lambda root: (root / rel).exists()


# the big project (full suite), 2 workers: name -> condition
POINTS: dict[str, Callable[[Path], bool]] = {
    "ingest_claimed": _exists("work/00_ingest/_step.json"),
    "ingest_1_task": _n("00_ingest/_stats", "*.json", 1),
    "ingest_4_tasks": _n("00_ingest/_stats", "*.json", 4),
    "ingest_8_tasks": _n("00_ingest/_stats", "*.json", 8),
    "ingest_done": _exists("work/00_ingest/_manifest.json"),
    "dedup_keys_1": _n("01_exact_dedup/_keys", "*.parquet", 1),
    "dedup_keys_20": _n("01_exact_dedup/_keys", "*.parquet", 20),
    "dedup_keys_50": _n("01_exact_dedup/_keys", "*.parquet", 50),
    "dedup_decisions": _n("01_exact_dedup/_decisions", "*", 1),
    "dedup_apply_1": _n("01_exact_dedup/_stats", "*.json", 1),
    "dedup_apply_20": _n("01_exact_dedup/_stats", "*.json", 20),
    "dedup_apply_50": _n("01_exact_dedup/_stats", "*.json", 50),
    "dedup_done": _exists("work/01_exact_dedup/_manifest.json"),
    "score_1": _n("02_quality_score/_stats", "*.json", 1),
    "score_30": _n("02_quality_score/_stats", "*.json", 30),
    "filter_10": _n("03_filter/_stats", "*.json", 10),
    "filter_50": _n("03_filter/_stats", "*.json", 50),
    "chain_done": _exists("work/03_filter/_manifest.json"),
    "export_claimed": _exists("work/04_export/_step.json"),
    "export_counts_1": _n("04_export/_counts", "*.json", 1),
    "export_counts_30": _n("04_export/_counts", "*.json", 30),
    "export_staging": _exists(".out.curate-staging"),
}

# the small project (fast subset, in `make test`), 2 workers
FAST_POINTS: dict[str, Callable[[Path], bool]] = {
    "ingest_1_task": _n("00_ingest/_stats", "*.json", 1),
    "dedup_decisions": _n("01_exact_dedup/_decisions", "*", 1),
    "export_counts_1": _n("03_export/_counts", "*.json", 1),
}


def _reference(root: Path, small: bool, engine: str = "local") -> dict[str, bytes]:
    cfg = project.make(root, small, engine={"workers": 2})
    extra = ["--engine", "ray"] if engine == "ray" else []
    result = run_cli(["run", cfg, "-q", *extra], root, timeout=900)
    assert result.returncode == 0, result.stderr
    files = project.published(root / "out")
    assert files
    return files


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _reference(tmp_path_factory.mktemp("kill-reference"), small=False)


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _reference(tmp_path_factory.mktemp("kill-reference-small"), small=True)


def kill_at(root: Path, args: list[str], condition: Callable[[Path], bool], poll: float = 0.005, timeout: float = 300) -> tuple[bool, str]:
    """Start the run, SIGKILL its process group when ``condition(root)`` holds.

    Returns (killed before it finished, why not)."""
    proc = start(args, root)
    deadline = time.monotonic() + timeout
    try:
        while not condition(root):
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                return False, f"the run ended (exit {proc.returncode}) before the point: {err[-1000:]}"
            if time.monotonic() > deadline:
                return False, "the point was not reached in time"
            time.sleep(poll)
        kill_group(proc, signal.SIGKILL)
        proc.wait(timeout=30)
        return proc.returncode == -signal.SIGKILL, f"exit {proc.returncode}"
    finally:
        if proc.poll() is None:
            kill_group(proc, signal.SIGKILL)
            proc.wait()
        survivors = wait_gone(lambda: group_pids(proc.pid), 10)
        assert not survivors, f"processes of the killed group survive: {survivors}"


def _check_point(root: Path, reference: dict[str, bytes], name: str, condition: Callable[[Path], bool], engine: str, small: bool = False) -> None:
    extra = ["--engine", "ray"] if engine == "ray" else []
    cfg = project.make(root, small, engine={"workers": 2})
    killed, why = kill_at(root, ["run", cfg, "-q", *extra], condition)
    assert killed, f"{name}: {why}"
    resumed = run_cli(["run", cfg, "--resume", "-q", *extra], root, timeout=900)
    identical = resumed.returncode == 0 and project.published(root / "out") == reference
    planted = project.SMALL_PLANTED if small else project.PLANTED
    ok, detail = project.balance(root, planted) if resumed.returncode == 0 else (False, resumed.stderr[-2000:])
    record("kill", name=f"{engine}:{'small:' if small else ''}{name}", identical=identical and ok)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert identical, f"{name}: the resumed output differs from an uninterrupted run's"
    assert ok, detail


@pytest.mark.parametrize("name", list(FAST_POINTS))
def test_sigkill_then_resume_is_identical_fast(tmp_path: Path, small_reference: dict[str, bytes], name: str) -> None:
    _check_point(tmp_path, small_reference, name, FAST_POINTS[name], "local", small=True)


@FULL
@pytest.mark.parametrize("name", list(POINTS))
def test_sigkill_then_resume_is_identical_local(tmp_path: Path, reference: dict[str, bytes], name: str) -> None:
    _check_point(tmp_path, reference, name, POINTS[name], "local")


def _ray_available() -> str | None:
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed"
    return None


@pytest.fixture(scope="module")
def ray_reference(tmp_path_factory: pytest.TempPathFactory, reference: dict[str, bytes]) -> dict[str, bytes]:
    files = _reference(tmp_path_factory.mktemp("kill-reference-ray"), small=False, engine="ray")
    assert files == reference, "the Ray engine's uninterrupted output differs from the local engine's"
    return files


@pytest.mark.ray
@FULL
@pytest.mark.skipif(_ray_available() is not None, reason=str(_ray_available()))
@pytest.mark.parametrize("name", list(POINTS))
def test_sigkill_then_resume_is_identical_ray(tmp_path: Path, ray_reference: dict[str, bytes], name: str) -> None:
    _check_point(tmp_path, ray_reference, name, POINTS[name], "ray")


def test_at_least_20_kill_points() -> None:
    assert len(POINTS) >= 20 and len(FAST_POINTS) == 3
