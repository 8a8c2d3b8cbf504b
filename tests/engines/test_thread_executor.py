"""Units on threads of one process (``ThreadExecutor``): results in submission order, every unit
run once, a failure raised after the units already running end, none started after it."""

from __future__ import annotations

import threading
import time

import pytest

from curate.engines.executor import ThreadExecutor, unit_cpu_seconds


def slow_square(x: int) -> int:
    time.sleep(0.01 * (5 - x % 5))  # later units finish first
    return x * x


def test_results_come_back_in_submission_order_and_each_once_to_on_done() -> None:
    seen: list[int] = []
    results = ThreadExecutor(3).map(slow_square, [(i,) for i in range(10)], seen.append)
    assert results == [i * i for i in range(10)]
    assert sorted(seen) == results


def test_units_run_on_several_threads_at_once() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def meet(_: int) -> str:
        barrier.wait()  # only returns when two units run at the same time
        return threading.current_thread().name

    names = ThreadExecutor(2).map(meet, [(0,), (1,)], lambda r: None)
    assert len(set(names)) == 2 and all(n.startswith("curate-unit") for n in names)


def test_one_thread_or_one_unit_runs_here_in_order() -> None:
    here = threading.current_thread().name
    assert ThreadExecutor(1).map(lambda: threading.current_thread().name, [(), ()], lambda r: None) == [here, here]
    assert ThreadExecutor(4).map(lambda: threading.current_thread().name, [()], lambda r: None) == [here]


def test_a_failing_unit_is_raised_and_no_unit_starts_after_it() -> None:
    started: list[int] = []

    def unit(i: int) -> int:
        started.append(i)
        if i == 0:
            raise ValueError("unit 0 failed")
        time.sleep(0.05)
        return i

    with pytest.raises(ValueError, match="unit 0 failed"):
        ThreadExecutor(2).map(unit, [(i,) for i in range(50)], lambda r: None)
    assert len(started) < 50


def test_a_unit_on_a_thread_reports_its_own_thread_s_cpu_time() -> None:
    """Two units busy at once: each counts its own CPU seconds, not the process's (both)."""

    def spin(_: int) -> float:
        t0 = unit_cpu_seconds()
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            pass
        return unit_cpu_seconds() - t0

    t0, c0 = time.perf_counter(), time.process_time()
    spent = ThreadExecutor(2).map(spin, [(0,), (1,)], lambda r: None)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert sum(spent) <= cpu + 0.05  # never more than the process spent in all (no double count)
    assert all(s <= wall + 0.05 for s in spent)


def test_the_threads_serve_every_map_until_the_executor_is_closed() -> None:
    """One pool for the run: a unit of the next step reuses its thread's freed pages."""
    ex = ThreadExecutor(2)
    barrier = threading.Barrier(2, timeout=5)

    def ident(_: int) -> int | None:
        barrier.wait()
        return threading.current_thread().ident

    first = set(ex.map(ident, [(0,), (1,)], lambda r: None))
    second = set(ex.map(ident, [(0,), (1,)], lambda r: None))
    assert first == second and len(first) == 2
    ex.close()
    assert not first & {t.ident for t in threading.enumerate()}
