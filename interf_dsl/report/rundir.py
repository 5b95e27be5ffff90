"""Report stage: write a run directory from a finished run.

Input: the Plan, the RunRecord and the step results (from the cache). Output, under
`reports/<experiment>/<run_id>/`: `tables/<table>.parquet` (one table merged over every step that produced it,
with a leading `step` column; see `schema.py`), `figures/<step>__<file>.png` (image files steps returned),
`run.json` (spec, resolved spec, plan with cache hits, provenance, timings, counters; secrets scrubbed), and the
rendered `report.md` / `report.html` (`build.py`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import ExecuteError
from interf_dsl.execute.atomic import atomic_write_bytes, atomic_write_text, check_name
from interf_dsl.execute.provenance import git_state, package_versions, platform_info, scrub, secret_values
from interf_dsl.report.io import write_table
from interf_dsl.report.schema import SCHEMA_VERSION, conform

if TYPE_CHECKING:
    from interf_dsl.execute.record import RunRecord
    from interf_dsl.execute.steps import StepResult
    from interf_dsl.plan.ir import Plan

FIGURE_SUFFIXES = (".png", ".svg")


def figure_name(step_id: str, file_name: str) -> str:
    """`<step id with unsafe characters as _>__<file name>`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", step_id).strip("_") + "__" + file_name


def _merge_tables(plan: Plan, record: RunRecord, result: Callable[[str], StepResult]) -> dict[str, Any]:
    import polars as pl

    parts: dict[str, list[pl.DataFrame]] = {}
    producers: dict[str, list[str]] = {}
    for rec in record.steps:
        if not rec.tables:
            continue
        for name, df in result(rec.id).tables.items():
            check_name(name, f"table name of step {rec.id}")
            if "step" in df.columns:
                raise ExecuteError(f"step {rec.id} returned table {name!r} with a 'step' column, "
                                   "which the run directory reserves for the producing step id")
            parts.setdefault(name, []).append(df.with_columns(pl.lit(rec.id).alias("step")).select(
                ["step", *df.columns]))
            producers.setdefault(name, []).append(rec.id)
    return {n: (pl.concat(dfs, how="diagonal_relaxed"), producers[n]) for n, dfs in parts.items()}


def _write_tables(run_dir: Path, plan: Plan, record: RunRecord, result: Callable[[str], StepResult]) -> dict:
    info: dict[str, Any] = {}
    for name, (df, steps) in sorted(_merge_tables(plan, record, result).items()):
        df, keys = conform(name, df)
        write_table(run_dir / "tables" / f"{name}.parquet", df, name=name, keys=keys, schema_version=SCHEMA_VERSION)
        info[name] = {"schema_version": SCHEMA_VERSION, "keys": keys, "rows": df.height, "steps": steps,
                      "columns": {c: str(t) for c, t in df.schema.items()}}
    return info


def _copy_figures(run_dir: Path, record: RunRecord, result: Callable[[str], StepResult]) -> list[str]:
    names = []
    for rec in record.steps:
        for fname in rec.files:
            if Path(fname).suffix.lower() in FIGURE_SUFFIXES:
                src = Path(result(rec.id).files[fname])
                name = figure_name(rec.id, fname)
                atomic_write_bytes(run_dir / "figures" / name, src.read_bytes())
                names.append(name)
    return sorted(names)


def _plan_json(plan: Plan, record: RunRecord) -> dict[str, Any]:
    hits = {s.id: s.cache_hit for s in record.steps}
    data = plan.model_dump(mode="json")
    for s in data["steps"]:
        s["cache_hit"] = hits.get(s["id"])
    return data


def write_run_directory(run_dir: Path, *, plan: Plan, record: RunRecord,
                        result: Callable[[str], StepResult] | None, spec_path: str | Path, spec_text: str,
                        resolved: str | dict[str, Any], log: Callable[[str], None] = print) -> None:
    """Write tables, figures, run.json and the report of a run (only run.json when the run did not finish)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved_value = json.loads(resolved) if isinstance(resolved, str) else resolved
    tables = _write_tables(run_dir, plan, record, result) if result else {}
    figures = _copy_figures(run_dir, record, result) if result else []
    secrets = secret_values(resolved_value, plan.model_dump(mode="json"))
    run = {
        "schema_version": SCHEMA_VERSION,
        "experiment": plan.experiment, "run_id": record.run_id, "status": record.status, "error": record.error,
        "spec": {"path": str(spec_path), "sha256": hashlib.sha256(spec_text.encode()).hexdigest(),
                 "text": spec_text},
        "resolved": resolved_value,
        "plan": _plan_json(plan, record),
        "seeds": {"plan": plan.seed, "preset": plan.preset},
        "versions": package_versions(), "git": git_state(Path(spec_path).resolve().parent),
        "platform": platform_info(),
        "record": record.model_dump(mode="json"),
        "tables": tables, "figures": figures,
    }
    atomic_write_text(run_dir / "run.json", json.dumps(scrub(run, secrets), sort_keys=True, indent=1))
    if result is not None:
        from interf_dsl.report.build import build_report

        formats = _report_formats(plan)
        build_report(run_dir, formats=formats)
        log(f"wrote {run_dir} ({len(tables)} tables, {len(figures)} figures, {', '.join(formats)})")


def _report_formats(plan: Plan) -> tuple[str, ...]:
    for s in plan.steps:
        if s.kind == "report":
            section = s.params.get("report", s.params)
            return tuple(section.get("formats") or ("md", "html"))
    return ("md", "html")
