"""Step kind `report`: draw the run's figures from every input step's tables (cached like any step, so a rerun
never imports matplotlib). report.md / report.html are rendered from the run directory afterwards
(`report/rundir.py`), which also honours this step's `report.formats`.

Params: `report` (section: formats, figures). Inputs: every other step. Output files: `<stage>_<what>.png`.
"""

from __future__ import annotations

from pathlib import Path

from interf_dsl.lang.params import params_of
from interf_dsl.report.figures import draw_figures
from interf_dsl.steps import StepContext, StepResult, step_runner


@step_runner("report", summary="draw the run's figures from every step's tables")
def run_report(ctx: StepContext) -> StepResult:
    """Merge input tables by name (with a `step` column) and draw the figures they allow."""
    import polars as pl

    if not params_of("report", ctx.params).report.figures:
        return StepResult(meta={"figures": []})
    parts: dict[str, list[pl.DataFrame]] = {}
    for step_id in ctx.step.inputs:
        for name, df in ctx.input(step_id).tables.items():
            if name in ("effects", "transfer", "map_stats"):
                parts.setdefault(name, []).append(df.with_columns(pl.lit(step_id).alias("step")))
    tables = {n: pl.concat(dfs, how="diagonal_relaxed") for n, dfs in parts.items()}

    paths = draw_figures(tables, ctx.work_dir / "figures")
    return StepResult(files={p.name: Path("figures") / p.name for p in paths}, meta={"figures": [p.name for p in paths]})
