"""Execute stage: which steps `--force` recomputes, and where the run directory goes (refusing escapes)."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from interf_dsl.errors import ExecuteError
from interf_dsl.lang.limits import MAX_NAME, path_name_problem

if TYPE_CHECKING:
    from interf_dsl.plan.ir import Plan


def forced_steps(plan: Plan, patterns: Iterable[str]) -> set[str]:
    """Ids of the steps to recompute: those matching any pattern (id or glob), plus everything downstream.

    Downstream steps are included because their cached results were computed from the old output of the forced
    step; keeping them would mix old and new results in one run directory.

    Raises:
        ExecuteError: a pattern matches no step (a silent no-op would look like a recomputation).
    """
    ids = [s.id for s in plan.steps]
    chosen: set[str] = set()
    for pat in patterns:
        hits = {i for i in ids if i == pat or fnmatch.fnmatchcase(i, pat)}
        if not hits:
            raise ExecuteError(f"--force {pat!r} matches no step of the plan", name=pat, choices=ids)
        chosen |= hits
    for s in plan.steps:  # topological order: one pass propagates to every descendant
        if any(i in chosen for i in s.inputs):
            chosen.add(s.id)
    return chosen


def new_run_id() -> str:
    """A sortable run id: UTC time plus a few random hex digits."""
    import secrets

    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def run_directory(reports_root: Path | str, experiment: str, run_id: str) -> Path:
    """`reports_root/<experiment>/<run_id>`, refusing names that could leave `reports_root`.

    Raises:
        ExecuteError: the experiment name or run id is not a plain name, the path escapes the reports root, or the
            run directory already exists.
    """
    for what, part in (("experiment name", experiment), ("run id", run_id)):
        problem = path_name_problem(part) if isinstance(part, str) else ("is not a string", 1, 1)
        if problem is not None:
            raise ExecuteError(f"refused {what} {part[:40]!r}: it {problem[0]}", hint="a plain name (letters, digits, "
                               f"'.', '_', '-', at most {MAX_NAME} characters) keeps the run directory inside the "
                               "reports folder")
    root = Path(reports_root).resolve()
    path = (root / experiment / run_id).resolve()
    if root not in path.parents:
        raise ExecuteError(f"refused run directory {path}: it escapes the reports folder {root}")
    if path.exists():
        raise ExecuteError(f"run directory {path} already exists", hint="pass another --run-id or leave it out")
    return path
