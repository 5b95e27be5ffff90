"""Plan stage: `ResolvedSpec` -> `Plan` (a DAG of typed `Step`s with content hashes and work estimates).

Public: `compile_plan`, `Plan`, `Step`, `WorkEstimate`, `STEP_KINDS`, `seal_steps`.
"""

from interf_dsl.plan.compile import compile_plan
from interf_dsl.plan.ir import STEP_KINDS, Plan, Step, WorkEstimate, seal_steps

__all__ = ["STEP_KINDS", "Plan", "Step", "WorkEstimate", "compile_plan", "seal_steps"]
