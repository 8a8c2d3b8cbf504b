"""The local executor's worker processes: forked from a runner that has only imported its libraries,
spawned from one that has run polars; the same bytes either way, thread limits set per worker."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import fresh_python, make_records, write_jsonl
from curate.engines.executor import UNIT_BYTES, PoolExecutor, make_executor, units_hint
from curate.errors import StageError
from curate.io.discovery import InputFile, ReadTask

CURATE = str(Path(sys.executable).parent / "curate")


def test_a_process_that_has_only_imported_its_libraries_forks_its_workers() -> None:
    """Importing numpy, pyarrow and polars starts threads (jemalloc's, polars' spill cleaner,
    OpenBLAS's) that survive a fork; the workers are the runner's children, forked before any work,
    and each sizes polars' pool for its share of the cores."""
    out = fresh_python(
        "import os, numpy, pyarrow, polars\n"
        "import curate.runner\n"
        "from curate.engines.executor import PoolExecutor, _fork_safe\n"
        "assert _fork_safe()\n"
        "ex = PoolExecutor(2)\n"
        "parents = ex.map(os.getppid, [()] * 4, lambda r: None)\n"
        "threads = ex.map(polars.thread_pool_size, [()] * 4, lambda r: None)\n"
        "ex.close()\n"
        "print(ex.start_method, all(p == os.getpid() for p in parents), set(threads) == {max(1, os.cpu_count() // 2)})"
    )
    assert out == "fork True True"


def test_a_process_that_has_run_polars_spawns_its_workers() -> None:
    """polars' pool and async runtime threads (`polars-N`, `tokio-rt-worker`) would be copied as
    state without threads: never forked. A fresh process, so no other test decides its threads."""
    out = fresh_python(
        "import polars as pl\n"
        "from curate.engines.executor import PoolExecutor, _fork_safe\n"
        "import time\n"
        "pl.DataFrame({'a': [1, 2, 3]}).select(pl.col('a').sum())\n"
        "time.sleep(0.5)  # a new thread takes its name (polars-N) a moment after it starts\n"
        "assert not _fork_safe()\n"
        "ex = PoolExecutor(2)\n"
        "try:\n"
        "    print(ex.start_method, ex.map(pow, [(2, i) for i in range(5)], lambda r: None))\n"
        "finally:\n"
        "    ex.close()"
    )
    assert out == "spawn [1, 2, 4, 8, 16]"


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.parquet"))}


def test_forked_workers_write_the_bytes_of_one_process(tmp_path: Path) -> None:
    """`curate dedup` with forked workers (the CLI's case) and with none: the same files, byte for byte."""
    records = make_records(400, seed=3, dup_every=4)
    for i in range(4):  # four read tasks, four shards: every step has units for both workers
        write_jsonl(tmp_path / "in" / f"{i}.jsonl", records[i * 100 : (i + 2) * 100])
    outs = {}
    for w in ("1", "2"):
        out = tmp_path / f"out{w}"
        done = subprocess.run(
            [CURATE, "dedup", str(tmp_path / "in"), "-o", str(out), "-q", "-w", w],
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr
        outs[w] = _digests(out)
    assert len(outs["1"]) > 2
    assert outs["1"] == outs["2"]


def _task(i: int, size: int, start: int = 0, end: int | None = None) -> ReadTask:
    return ReadTask(i, 0, (InputFile(f"/in/{i}.jsonl", f"{i}.jsonl", "jsonl", None, size, 0),), start, end)


def test_a_run_has_at_most_a_unit_per_read_task_or_per_unit_bytes_of_input() -> None:
    assert units_hint([]) is None
    assert units_hint([_task(0, 1_000)]) == 1
    assert units_hint([_task(i, 10) for i in range(5)]) == 5  # one unit per read task at least
    assert units_hint([_task(0, 3 * UNIT_BYTES + 1)]) == 4
    big = 10 * UNIT_BYTES
    assert units_hint([_task(0, big, 0, big // 2), _task(1, big, big // 2, big)]) == 10  # byte ranges of one file


def test_never_more_worker_processes_than_units() -> None:
    """A small input on a machine with many cores: one unit at a time, run in this process."""
    one = make_executor("local", 8, None, units=1)
    assert isinstance(one, PoolExecutor) and one.workers == 1
    assert one.map(os.getpid, [(), ()], lambda r: None) == [os.getpid()] * 2
    assert make_executor("local", 8, None, units=3).workers == 3
    assert make_executor("local", 2, None, units=30).workers == 2
    assert make_executor("local", 4, None, units=None).workers == 4


def test_the_progress_display_starts_no_thread_before_the_first_step() -> None:
    """On a terminal the runner's executor is made after the progress bars: their refresh thread,
    started with the first step, must not exist yet, or the workers would be spawned."""
    import threading

    from curate.report import RichReporter

    before = set(threading.enumerate())  # other tests' threads may end meanwhile: count only new ones
    reporter = RichReporter()
    assert set(threading.enumerate()) - before == set()
    reporter.step_started("00_ingest", 2)
    started = set(threading.enumerate()) - before
    assert len(started) == 1
    reporter.close()
    for t in started:  # rich's stop() tells its thread to end and does not wait for it
        t.join(timeout=5)
    assert not any(t.is_alive() for t in started)


def test_a_worker_killed_between_steps_is_a_clear_error() -> None:
    """A worker killed while idle (the OOM killer between two steps) breaks the pool; the next step
    says so in one line (the run then continues with --resume), never with a traceback."""
    ex = PoolExecutor(2)
    try:
        assert ex.map(pow, [(2, 1), (2, 2)], lambda r: None) == [2, 4]
        os.kill(next(iter(ex._pool._processes)), signal.SIGKILL)  # type: ignore[union-attr]
        time.sleep(0.5)
        with pytest.raises(StageError, match="a worker process died"):
            ex.map(pow, [(2, 3), (2, 4)], lambda r: None)
    finally:
        ex.close(wait=False)


def _python_without_allocator_setting(code: str, conf: str | None = None) -> str:
    """``code`` in a new interpreter whose environment has ``_RJEM_MALLOC_CONF`` = ``conf`` (unset
    for None; this test process imported polars, which sets it for the processes it starts)."""
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    if conf is not None:
        env["_RJEM_MALLOC_CONF"] = conf
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


_SHOW_ALLOCATOR = (  # the command ends the process: what polars reads is shown on the way out
    "import atexit, os, sys\n"
    "def show():\n"
    "    import polars\n"
    "    print(os.environ['_RJEM_MALLOC_CONF'])\n"
    "atexit.register(show)\n"
    "sys.argv = ['curate', '--version']\n"
    "from curate.cli import main\n"
    "main()"
)


def test_the_curate_command_keeps_freed_pages_for_a_while_in_polars_allocator() -> None:
    """polars' allocator reads its settings when polars loads: the command sets them first, and
    polars puts them after its own (the later setting wins)."""
    from curate.engines.executor import POLARS_ALLOCATOR

    conf = _python_without_allocator_setting(_SHOW_ALLOCATOR)
    assert conf.endswith("," + POLARS_ALLOCATOR)


def test_polars_default_passed_on_by_a_parent_process_is_replaced() -> None:
    from curate.engines.executor import _POLARS_DEFAULT_ALLOCATOR, POLARS_ALLOCATOR

    conf = _python_without_allocator_setting(_SHOW_ALLOCATOR, _POLARS_DEFAULT_ALLOCATOR)
    assert conf.endswith("," + POLARS_ALLOCATOR)


def test_an_allocator_setting_of_the_user_is_kept() -> None:
    conf = _python_without_allocator_setting(_SHOW_ALLOCATOR, "dirty_decay_ms:0")
    assert conf.endswith(",dirty_decay_ms:0")
    assert "oversize_threshold" not in conf


def test_a_process_that_imported_polars_keeps_its_allocator() -> None:
    code = (
        "import os, polars\n"
        "before = os.environ['_RJEM_MALLOC_CONF']\n"
        "from curate.engines.executor import configure_allocator\n"
        "configure_allocator()\n"
        "print(os.environ['_RJEM_MALLOC_CONF'] == before)"
    )
    assert _python_without_allocator_setting(code) == "True"


def test_a_small_dedup_command_keeps_polars_own_allocator_setting(tmp_path: Path) -> None:
    """It runs in one process, which would only hold the kept pages to its end."""
    from curate.engines.executor import _POLARS_DEFAULT_ALLOCATOR, POLARS_ALLOCATOR

    data = write_jsonl(tmp_path / "d.jsonl", make_records(20))
    show = _SHOW_ALLOCATOR.replace("['curate', '--version']", f"['curate', 'dedup', {str(data)!r}, '-o', {str(tmp_path / 'out')!r}, '-q']")
    conf = _python_without_allocator_setting(show)
    assert conf.endswith(_POLARS_DEFAULT_ALLOCATOR) and POLARS_ALLOCATOR not in conf


def test_which_dedup_commands_count_as_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate import cli
    from curate.engines import executor

    small = write_jsonl(tmp_path / "in" / "a.jsonl", make_records(20))
    big_output = tmp_path / "out"
    big_output.mkdir()
    (big_output / "old.parquet").write_bytes(b"x" * 2 * small.stat().st_size)
    monkeypatch.setattr(executor, "ONE_PROCESS_BYTES", small.stat().st_size + 10)
    assert cli._a_small_dedup(["dedup", str(small), "-o", str(big_output), "-q"])  # the output's size does not count
    assert cli._a_small_dedup(["dedup", str(tmp_path / "in"), "--threshold", "0.8"])  # a folder, an option's value
    assert cli._a_small_dedup(["dedup", str(tmp_path / "in" / "*.jsonl")])
    assert not cli._a_small_dedup(["dedup", str(small), "-w", "1"])  # told its workers
    assert not cli._a_small_dedup(["dedup", str(small), str(big_output)])  # over the bytes
    assert not cli._a_small_dedup(["ingest", str(small), "-o", str(big_output)])
    assert not cli._a_small_dedup([])


def test_the_curate_command_gives_numpy_one_blas_thread_unless_told() -> None:
    """curate does no linear algebra; OpenBLAS's pool would only spin at import."""
    show = _SHOW_ALLOCATOR.replace("_RJEM_MALLOC_CONF", "OPENBLAS_NUM_THREADS")
    unset = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for env, want in ((unset, "1"), (unset | {"OPENBLAS_NUM_THREADS": "3"}, "3")):
        out = subprocess.run([sys.executable, "-c", show], capture_output=True, text=True, timeout=120, env=env)
        assert out.stdout.strip().splitlines()[-1] == want, out.stderr
