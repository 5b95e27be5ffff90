"""Foci, step runner `intervene`: one focus block on one source, dispatched through the focus registry.

Input (params): focus, source, block (the focus's params), metrics, stats; input steps select, prompts, atlas (and
map for foci with `needs_map`). Output: tables `interventions`, `effects`, `regressions`, `effect_cases` and the
focus's figures. Work is checkpointed per unit through `ctx.units`, so a killed run resumes.
"""

from __future__ import annotations

from typing import Any

from interf_dsl.backends.hooked import HookedBackend
from interf_dsl.foci import aggregate, focus_of
from interf_dsl.interventions._common import load_inputs
from interf_dsl.interventions.diagnose import empty_reason
from interf_dsl.interventions.effects import positive_control
from interf_dsl.interventions.loops import Env
from interf_dsl.lang.params import params_of
from interf_dsl.steps import StepResult, step_runner


@step_runner("intervene")
def run_intervene(ctx: Any) -> StepResult:
    """Run one focus on one source; aggregate both statistics modes; draw its figures.

    A step left with no cases logs a WARNING naming the stage that emptied it (no targets selected, none on
    these hooks, no sentences, ...), records it in meta["warnings"] and returns it as `intervene_warnings`.
    """
    import polars as pl


    params = params_of("intervene", ctx.params)
    focus = focus_of(params)
    inp = load_inputs(ctx)
    stages = focus.funnel(inp, params)
    if focus.steers(params.block) and any(n == 0 for _, n in stages):
        # The funnel mirrors the focus's filters: a zero stage means no case, so do not even load the model.
        table = pl.DataFrame()
    else:
        backend = HookedBackend(ctx.model(params.source), name=params.source, counters=ctx.counters)
        with backend.threads():
            table = focus.run(Env(ctx, backend, inp, focus.params))
    effects, regressions, cases = aggregate(table, params, ctx.log)
    files = {}
    if table.height and effects.height:
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        select = ctx.input("select") if "select" in ctx.step.inputs else None
        files = focus.figures(table, effects, ctx.work_dir, bins=(select.meta.get("bin_labels") if select else None))
    meta: dict[str, Any] = {"rows": table.height, "forward_passes": ctx.counters.forward_passes,
                            "funnel": {d: n for d, n in stages}, "warnings": []}
    tables = {"interventions": table, "effects": effects, "regressions": regressions, "effect_cases": cases}
    control = positive_control(effects)
    if control is not None:
        meta["positive_control"] = control
        if control["detected"] == 0:
            warning = (f"positive control failed: steering targets along their own direction moved the primary "
                       f"metric at none of {control['checked']} τ (rigorous CI never above 0); this run cannot tell "
                       "an interference effect from no effect")
            ctx.log(f"WARNING: {warning}")
            meta["warnings"].append(warning)
    if table.height == 0:
        reason = empty_reason(stages, ctx.step.id)
        ctx.log(f"WARNING: {reason}")
        meta["warnings"].append(reason)
        meta["empty_reason"] = reason
        tables["intervene_warnings"] = pl.DataFrame({"source": [params.source], "focus": [params.focus],
                                                     "warning": [reason]})
    return StepResult(tables=tables, files=files, meta=meta)
