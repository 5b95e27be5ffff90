"""Shared errors: every user-facing failure of interf, grouped by stage, carrying its location.

All stages raise subclasses of `InterfError`. The CLI renders them with `render_error` and exits 2 for
spec/resolve/plan errors and 1 for runtime errors; anything else is an `InternalError` (a bug of ours).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A location in a source file: 1-based line and column, and the length to underline."""

    path: str
    line: int
    col: int
    length: int = 1


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """The closest valid choice to a mistyped name, or None."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


@dataclass
class ErrorItem:
    """One located problem: message, where, and how to fix it."""

    message: str
    span: Span | None = None
    hint: str | None = None
    key_path: str | None = None
    choices: Sequence[str] = field(default_factory=tuple)
    name: str | None = None

    def full_hint(self) -> str | None:
        parts = []
        if self.name is not None and self.choices:
            guess = did_you_mean(self.name, self.choices)
            if guess:
                parts.append(f"did you mean '{guess}'?")
        if self.choices:
            parts.append("valid: " + ", ".join(sorted(map(str, self.choices))))
        if self.hint:
            parts.append(self.hint)
        return " ".join(parts) or None


class InterfError(Exception):
    """Base of every error meant for the user. Holds one or more located items."""

    exit_code = 1
    label = "error"

    def __init__(self, message: str | None = None, *, items: Sequence[ErrorItem] | None = None, **kw) -> None:
        if items is None:
            items = [ErrorItem(message or "", **kw)]
        self.items = list(items)
        super().__init__("; ".join(i.message for i in self.items))


class SpecError(InterfError):
    """The spec text is malformed or names something that does not exist."""

    exit_code = 2


class ExprSyntaxError(SpecError):
    """An expression string (filter, grid, bins, hook shorthand) does not parse."""


class ResolveError(InterfError):
    """A name in the spec cannot be bound to a model, hook, SAE or target."""

    exit_code = 2


class PlanError(InterfError):
    """The resolved spec cannot be compiled into a plan (e.g. a capability mismatch)."""

    exit_code = 2


class BackendError(InterfError):
    """A model, SAE or API backend failed at run time (missing weights, hook mismatch, API failure)."""


class AuthError(BackendError):
    """An endpoint refused the credentials (HTTP 401/403). Never retried; names the target and its key variable."""

    label = "auth error"


class MalformedResponseError(BackendError):
    """An endpoint kept answering with a body that is not the JSON its API promises (names it, shows an excerpt)."""

    label = "malformed response"


class ExecuteError(InterfError):
    """The run engine failed (cache corruption it cannot repair, a refused path, a killed step)."""


class StorageError(ExecuteError):
    """A folder interf must write (reports, step cache) is not writable, or a write failed (disk full, quota,
    read-only file system). Names the path; raised before computing where it can be checked up front."""


class ReportError(InterfError):
    """A report or diff cannot be built (missing table, unmigratable schema)."""


class InternalError(InterfError):
    """A bug in interf itself."""


_SNIPPET_WIDTH = 160
"""Source lines longer than this are shown as a window around the caret."""
_UNPRINTABLE = {c: "\ufffd" for c in [*range(0x09), *range(0x0b, 0x20), 0x7f]}
"""Control characters in a snippet are shown as U+FFFD (one column each, so the caret stays aligned)."""
_SOURCE_READ_CHARS = 8 * 1024 * 1024
"""At most this much of a file is read to show a snippet (a refused, oversized file is not read whole)."""


def _snippet(span: Span, source_lines: Sequence[str] | None) -> list[str]:
    if not source_lines or not (1 <= span.line <= len(source_lines)):
        return []
    text, col, length = source_lines[span.line - 1].rstrip("\n"), span.col, max(1, span.length)
    if len(text) > _SNIPPET_WIDTH:
        start = max(0, min(col - 1 - _SNIPPET_WIDTH // 2, len(text) - _SNIPPET_WIDTH))
        window = text[start:start + _SNIPPET_WIDTH]
        col -= start
        length = max(1, min(length, len(window) - col + 1))
        text = ("…" if start else "") + window + ("…" if start + _SNIPPET_WIDTH < len(text) else "")
        col += 1 if start else 0
    text = text.translate(_UNPRINTABLE)
    gutter = f"{span.line:>4} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * (col - 1) + "^" * length
    return [gutter + text, caret]


OVERRIDE_LABEL = "--set "
"""How a span in a `--set key=value` override (parse/overrides.py) names its source: `--set <text>`, one line."""


def _source_lines(path: str) -> list[str] | None:
    if path.startswith(OVERRIDE_LABEL):
        return [path[len(OVERRIDE_LABEL):]]
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(_SOURCE_READ_CHARS).splitlines()
    except OSError:
        return None


def render_error(err: InterfError, sources: dict[str, Sequence[str]] | None = None) -> str:
    """Render every item of an error as `path:line:col: error: message`, a snippet with a caret, and a hint."""
    sources = sources or {}
    out: list[str] = []
    for item in err.items:
        where = f"{item.span.path}:{item.span.line}:{item.span.col}: " if item.span else ""
        msg = item.message
        if item.key_path:
            msg = f"{msg} (at {item.key_path})"
        out.append(f"{where}{err.label}: {msg}")
        if item.span:
            lines = sources.get(item.span.path)
            if lines is None:
                lines = _source_lines(item.span.path)
            out.extend("  " + s for s in _snippet(item.span, lines))
        hint = item.full_hint()
        if hint:
            out.append(f"  hint: {hint}")
    return "\n".join(out)
