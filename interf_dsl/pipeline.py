"""Composition (above every stage, beside the CLI): run a plan and write its run directory.

`execute` computes and caches steps; `report` writes run directories. Neither imports the other: this module joins
them, so the CLI, the tests and library users get one call that does both.
"""

from __future__ import annotations

from typing import Any

from interf_dsl.execute.record import RunRecord
from interf_dsl.execute.run import execute_plan
from interf_dsl.plan.ir import Plan
from interf_dsl.report.rundir import write_run_directory


def run_plan(plan: Plan, **kw: Any) -> RunRecord:
    """`execute.execute_plan(plan, **kw)`, writing the run directory (tables, run.json, figures, report)."""
    return execute_plan(plan, write_run_dir=write_run_directory, **kw)
