"""Execute stage: progress display for a run. Rich bars (count, throughput, ETA) on a terminal; a quiet,
line-oriented log for CI and files (`--quiet`, or automatically when stdout or stderr is not a terminal).

Everything goes to stderr, so `interf run` keeps stdout for its result (the run directory, on the last line):
while a run shows progress, what libraries print to stdout (transformer_lens' "Moving model to device ...") is
captured and logged as a line above the bars. A finished bar collapses into one summary line.
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


class _StdoutToLog:
    """A stand-in for sys.stdout during a run: complete lines go to `log`, prefixed, so third-party prints neither
    mix into the result on stdout nor break the live bars."""

    def __init__(self, log: Any, original: IO[str]) -> None:
        self._log, self._original, self._buffer = log, original, ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.strip():
                self._log(f"  (library) {line.rstrip()}")
        return len(text)

    def flush(self) -> None:
        pass

    def close_buffer(self) -> None:
        if self._buffer.strip():
            self._log(f"  (library) {self._buffer.rstrip()}")
        self._buffer = ""

    def isatty(self) -> bool:
        return self._original.isatty()

    def fileno(self) -> int:
        return self._original.fileno()


class RunProgress:
    """Progress and log lines of one run."""

    def __init__(self, *, quiet: bool | None = None, out: IO[str] | None = None) -> None:
        self.out = out or sys.stderr
        if quiet is None:
            quiet = not (sys.stdout.isatty() and self.out.isatty())
        self.quiet = quiet
        self._rich = None
        self._stdout: _StdoutToLog | None = None

    def __enter__(self) -> RunProgress:
        self._stdout = _StdoutToLog(self.log, sys.stdout)
        self._saved_stdout, sys.stdout = sys.stdout, self._stdout
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
                console=Console(file=self.out), transient=False, redirect_stdout=False,
            )
            self._rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stdout is not None:
            self._stdout.close_buffer()
            sys.stdout, self._stdout = self._saved_stdout, None
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
    """Terminal progress of one step: a rich bar with a human throughput field (rich's speed column is bytes).
    When it completes, the bar is removed and one summary line is printed in its place (finished bars would
    otherwise pile up in the live area)."""

    def __init__(self, progress: Any, total: int, description: str) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total, rate="")
        self._start = time.monotonic()
        self._done, self._total, self._description = 0, total, description

    def advance(self, n: int = 1) -> None:
        self._done += n
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self._done / elapsed
        if self._done >= self._total and self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
            self._progress.console.print(f"  {self._description}: {self._done}/{self._total} in {elapsed:.1f}s "
                                         f"({rate:.1f}/s)", markup=False, highlight=False)
        elif self._task is not None:
            self._progress.update(self._task, advance=n, rate=f"{rate:.1f}/s")
