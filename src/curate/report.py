"""Progress while a run goes (rich bars on a terminal, plain lines in CI) and the summary table."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol

from curate.manifest import StepResult

if TYPE_CHECKING:  # rich loads only for a reporter or table that draws (~15 ms of a quiet command's start-up)
    from rich.table import Table


class Reporter(Protocol):
    """What engines call to report progress; the CLI picks the implementation."""

    def step_started(self, name: str, total_units: int, unit: str = "shards") -> None: ...
    def step_progress(self, units: int = 1, docs: int = 0) -> None: ...
    def step_finished(self, result: StepResult) -> None: ...
    def close(self) -> None: ...


class NullReporter:
    """Reports nothing (``--quiet``, library use, tests)."""

    def step_started(self, name: str, total_units: int, unit: str = "shards") -> None:
        pass

    def step_progress(self, units: int = 1, docs: int = 0) -> None:
        pass

    def step_finished(self, result: StepResult) -> None:
        pass

    def close(self) -> None:
        pass


class PlainReporter:
    """One line per step and a progress line at most every ``interval`` seconds (CI logs)."""

    def __init__(self, stream=None, interval: float = 10.0) -> None:  # noqa: ANN001
        self.stream = stream or sys.stderr
        self.interval = interval
        self._name = ""
        self._total = 0
        self._done = 0
        self._docs = 0
        self._start = self._last = time.monotonic()

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def step_started(self, name: str, total_units: int, unit: str = "shards") -> None:
        self._name, self._total, self._done, self._docs = name, total_units, 0, 0
        self._start = self._last = time.monotonic()
        self._say(f"[{name}] started: {total_units} {unit}")

    def step_progress(self, units: int = 1, docs: int = 0) -> None:
        self._done += units
        self._docs += docs
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            rate = self._docs / max(now - self._start, 1e-9)
            self._say(f"[{self._name}] {self._done}/{self._total} done, {self._docs:,} docs, {rate:,.0f} docs/s")

    def step_finished(self, result: StepResult) -> None:
        s = result.stats
        how = "skipped (complete in a previous run)" if result.skipped else f"{result.wall_seconds:.1f}s"
        self._say(f"[{result.kind}] done: {s.docs_in:,} in, {s.docs_kept:,} kept, {s.docs_rejected:,} rejected, {how}")

    def close(self) -> None:
        pass


class RichReporter:
    """Rich progress bars on stderr: per step, shards done, documents, rate and ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[docs]:>12,} docs  {task.fields[rate]:>9,.0f}/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        # started with the first step, not here: its refresh thread would make the runner spawn its
        # workers instead of forking them (engines.executor._fork_safe)
        self._started = False
        self._task: int | None = None  # rich's TaskID
        self._docs = 0
        self._start = time.monotonic()

    def step_started(self, name: str, total_units: int, unit: str = "shards") -> None:
        if not self._started:
            self.progress.start()
            self._started = True
        self._docs = 0
        self._start = time.monotonic()
        self._task = self.progress.add_task(name, total=max(total_units, 1), docs=0, rate=0.0)

    def step_progress(self, units: int = 1, docs: int = 0) -> None:
        if self._task is None:
            return
        self._docs += docs
        rate = self._docs / max(time.monotonic() - self._start, 1e-9)
        self.progress.update(self._task, advance=units, docs=self._docs, rate=rate)

    def step_finished(self, result: StepResult) -> None:
        if self._task is not None:
            task = self.progress.tasks[-1]
            self.progress.update(self._task, completed=task.total, docs=max(self._docs, result.stats.docs_in))
        self._task = None

    def close(self) -> None:
        if self._started:
            self.progress.stop()


def make_reporter(quiet: bool) -> Reporter:
    if quiet:
        return NullReporter()
    if sys.stderr.isatty():
        return RichReporter()
    return PlainReporter()


def summary_table(steps: list[StepResult], wall_seconds: float) -> Table:
    """Documents in, kept and rejected (by reason) and time, per step."""
    from rich.table import Table

    table = Table(title=f"curate run: {wall_seconds:.1f}s", show_lines=False)
    table.add_column("step")
    table.add_column("in", justify="right")
    table.add_column("kept", justify="right")
    table.add_column("rejected", justify="right")
    table.add_column("reasons")
    table.add_column("time", justify="right")
    for r in steps:
        s = r.stats
        ranked = sorted(s.rejected.items(), key=lambda kv: (-kv[1], kv[0]))
        reasons = ", ".join(f"{k} {v:,}" for k, v in ranked[:3])
        if len(ranked) > 3:
            reasons += f", +{len(ranked) - 3} more (see _manifest.json)"
        added = f" (+{s.docs_added:,} added)" if s.docs_added else ""
        time_s = "resumed" if r.skipped else f"{r.wall_seconds:.1f}s"
        table.add_row(r.kind, f"{s.docs_in:,}", f"{s.docs_kept:,}{added}", f"{s.docs_rejected:,}", reasons or "-", time_s)
    return table
