"""Step kind `report`: draw the run's figures from every input step's tables (cached like any step, so a rerun
never imports matplotlib). report.md / report.html are rendered from the run directory afterwards
(`report/rundir.py`), which also honours this step's `report.formats`.

Params: `report` (section: formats, figures). Inputs: every other step. Output files: `<stage>_<what>.png`.
"""

from __future__ import annotations

from pathlib import Path

from interf_dsl.lang.params import params_of
from interf_dsl.report.figures import MAP_IMAGES, draw_figures
from interf_dsl.steps import StepContext, StepResult, step_runner


@step_runner("report", summary="draw the run's figures from every step's tables")
def run_report(ctx: StepContext) -> StepResult:
    """Merge input tables by name (with a `step` column) and draw the figures they allow."""
    import polars as pl

    if not params_of("report", ctx.params).report.figures:
        return StepResult(meta={"figures": []})
    parts: dict[str, list[pl.DataFrame]] = {}
    images: dict[str, dict[str, Path]] = {name: {} for name in MAP_IMAGES}
    for step_id in ctx.step.inputs:
        result = ctx.input(step_id)
        for name, df in result.tables.items():
            if name in ("effects", "transfer", "partner_counts"):
                parts.setdefault(name, []).append(df.with_columns(pl.lit(step_id).alias("step")))
        for name in MAP_IMAGES:
            if step_id.startswith("map:") and name in result.files:
                images[name][step_id] = Path(result.files[name])
    tables = {n: pl.concat(dfs, how="diagonal_relaxed") for n, dfs in parts.items()}
    select = ctx.input("select") if "select" in ctx.step.inputs else None
    bins = select.meta.get("bin_labels") if select is not None else None
    paths = draw_figures(tables, ctx.work_dir / "figures", bins=bins, map_images=images)
    return StepResult(files={p.name: Path("figures") / p.name for p in paths}, meta={"figures": [p.name for p in paths]})
