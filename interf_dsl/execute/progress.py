"""Execute stage: progress display for a run. Rich bars (count, throughput, ETA) on a terminal; a quiet,
line-oriented log for CI and files (`--quiet`, or automatically when stdout or stderr is not a terminal).

Everything goes to stderr, so `interf run` keeps stdout for its result (the run directory, on the last line).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class LineTask:
    """Quiet-mode progress of one step: a line at 0, about every 10 s or every quarter, and at the end."""

    def __init__(self, out: IO[str], total: int, description: str, every_s: float = 10.0) -> None:
        self.out, self.total, self.description, self.every_s = out, max(total, 0), description, every_s
        self.done = 0
        self.start = self._last = time.monotonic()
        self._last_quarter = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        quarter = 4 * self.done // self.total if self.total else 0
        now = time.monotonic()
        if self.done >= self.total or quarter > self._last_quarter or now - self._last >= self.every_s:
            self._last, self._last_quarter = now, quarter
            self.out.write(self.line() + "\n")
            self.out.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 and self.total else None
        return f"  {self.description}: {self.done}/{self.total} ({rate:.1f}/s, eta {_fmt_eta(eta)})"


class RunProgress:
    """Progress and log lines of one run."""

    def __init__(self, *, quiet: bool | None = None, out: IO[str] | None = None) -> None:
        self.out = out or sys.stderr
        if quiet is None:
            quiet = not (sys.stdout.isatty() and self.out.isatty())
        self.quiet = quiet
        self._rich = None

    def __enter__(self) -> RunProgress:
        if not self.quiet:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._rich = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("[cyan]{task.fields[rate]}"),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=Console(file=self.out), transient=False,
            )
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def log(self, message: str) -> None:
        """One log line (above the bars on a terminal)."""
        if self._rich is not None:
            self._rich.console.print(message, markup=False, highlight=False)
        else:
            self.out.write(message + "\n")
            self.out.flush()

    def task(self, total: int, description: str) -> LineTask | RichTask:
        """A progress handle for `total` units of work."""
        if self._rich is not None:
            return RichTask(self._rich, total, description)
        self.log(f"  {description}: 0/{total}")
        return LineTask(self.out, total, description)


class RichTask:
    """Terminal progress of one step: a rich bar with a human throughput field (rich's speed column is bytes)."""

    def __init__(self, progress: Any, total: int, description: str) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total, rate="")
        self._start = time.monotonic()
        self._done = 0

    def advance(self, n: int = 1) -> None:
        self._done += n
        rate = self._done / max(time.monotonic() - self._start, 1e-9)
        self._progress.update(self._task, advance=n, rate=f"{rate:.1f}/s")
