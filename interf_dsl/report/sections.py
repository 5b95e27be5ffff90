"""Report stage: the content of a report (sections of tables and figures), shared by the md and html renderers.

Input: a `RunData`. Output: `Section`s — the run's provenance, one section per pipeline stage with its tables (the
first rows; the full table is the parquet file) and figures, then the atlas dumps and the steps table last
(collapsed in HTML); `build.py` puts the Answers (`answers.py`) before them. Where a table has a `mode` column with both paper and rigorous numbers, a
side-by-side view (one column per mode) comes first. Cell text is cleaned of control bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.report.schema import STAGES, TABLES, stage_of

if TYPE_CHECKING:
    import polars as pl

    from interf_dsl.report.io import RunData

MAX_ROWS = 50
ANSWER_PREFIX = "answers_"
"""Figures of the Answers section (`answers.py`), drawn at render time; the stage sections leave them out."""
_FIG_STAGE = {"atlas": "atlas", "explain": "atlas", "embed": "atlas", "map": "map", "select": "select",
              "prompts": "prompts", "intervene": "interventions", "transfer": "transfer"}


@dataclass
class TableView:
    """A table as shown: caption, header, formatted rows, and how many rows the full table has."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    total_rows: int
    note: str = ""


@dataclass
class Section:
    """A heading (`level` 2 or 3) with bullet text, tables and figures; `collapsed` folds it in HTML."""

    title: str
    text: list[str] = field(default_factory=list)
    tables: list[TableView] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    level: int = 2
    collapsed: bool = False


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd]")


def clean(text: str) -> str:
    """Text without control bytes or replacement characters (atlas contexts hold raw token bytes); newlines and
    tabs become spaces."""
    return _CONTROL.sub("·", text.replace("\n", " ").replace("\t", " ").replace("\r", " "))


def fmt(value: Any) -> str:
    """A cell as text: floats to 4 significant digits, long lists shortened."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        head = ", ".join(fmt(v) for v in value[:4])
        return f"[{head}{', …' if len(value) > 4 else ''}] ({len(value)})"
    text = clean(str(value))
    return text if len(text) <= 80 else text[:77] + "…"


def view(title: str, df: pl.DataFrame, note: str = "", max_rows: int = MAX_ROWS,
         total: int | None = None) -> TableView:
    """The first `max_rows` rows of `df`, formatted (`total`: the full table's rows when `df` is only its head)."""
    rows = [[fmt(v) for v in row] for row in df.head(max_rows).iter_rows()]
    return TableView(title, list(df.columns), rows, df.height if total is None else total, note)


def side_by_side(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame | None:
    """Effects with one column per statistics mode (`estimate [paper]`, `estimate [rigorous]`, ...), or None.

    Rows are matched across modes on the keys other than `mode` and `estimator` (the two modes use different
    estimators by design; the estimator is shown per mode). If that does not identify one row per mode, the
    estimator stays in the row keys.
    """
    if "mode" not in df.columns or df["mode"].n_unique() < 2:
        return None
    index = [k for k in keys if k not in ("mode", "estimator") and k in df.columns]
    if not df.select([*index, "mode"]).is_unique().all():
        index = [k for k in keys if k != "mode" and k in df.columns]
    values = [c for c in ("estimate", "ci_lo", "ci_hi", "n", "p", "estimator") if c in df.columns and c not in index]
    if not index or "estimate" not in values or not df.select([*index, "mode"]).is_unique().all():
        return None
    modes = sorted(str(m) for m in df["mode"].unique().drop_nulls())
    wide = df.pivot(on="mode", index=index, values=values)
    rename = {f"{v}_{m}": f"{v} [{m}]" for v in values for m in modes}
    if len(values) == 1:
        rename = {m: f"{values[0]} [{m}]" for m in modes}
    wide = wide.rename({k: v for k, v in rename.items() if k in wide.columns})
    ordered = [f"{v} [{m}]" for v in values for m in modes if f"{v} [{m}]" in wide.columns]
    return wide.select(index + ordered)


def _run_section(run: dict[str, Any]) -> Section:
    rec = run.get("record", {})
    versions = ", ".join(f"{k} {v}" for k, v in sorted(run.get("versions", {}).items()) if v)
    git = run.get("git", {})
    counters = rec.get("counters", {})
    description = ((run.get("resolved") or {}).get("experiment") or {}).get("description")
    text = [
        f"experiment **{run.get('experiment')}**, run `{run.get('run_id')}`, status {run.get('status')}",
        *([clean(str(description))] if description else []),
        f"preset {run.get('seeds', {}).get('preset')}, seed {run.get('seeds', {}).get('plan')}",
        f"spec `{run.get('spec', {}).get('path')}` (sha256 {str(run.get('spec', {}).get('sha256'))[:12]})",
        (f"git {str(git.get('commit'))[:12]}{' (dirty)' if git.get('dirty') else ''}" if git.get("commit")
         else f"git: none (the spec's folder: {git.get('note') or 'not a git checkout'})"),
        f"steps took {rec.get('seconds', 0):.2f}s (engine overhead {rec.get('engine_seconds', 0):.2f}s)",
        f"work in this run: {int(counters.get('forward_passes', 0))} forward passes, "
        f"{int(counters.get('api_requests', 0))} API requests, {int(counters.get('api_tokens', 0))} API tokens",
        f"versions: {versions}",
    ]
    for target, use in sorted(rec.get("api", {}).items()):
        text.append(f"API target {target}: {int(use.get('requests', 0))} requests, {int(use.get('tokens', 0))} "
                    f"tokens, ${float(use.get('cost_usd', 0.0)):.4f}")
    return Section("Run", text=text)


def _steps_section(run: dict[str, Any]) -> Section:
    import polars as pl

    steps = run.get("record", {}).get("steps", [])
    df = pl.DataFrame({
        "step": [s["id"] for s in steps], "kind": [s["kind"] for s in steps],
        "cached": [s["cache_hit"] for s in steps], "seconds": [float(s["seconds"]) for s in steps],
        "compute_seconds": [float(s["compute_seconds"]) for s in steps],
        "forward_passes": [int(s["computed_counters"].get("forward_passes", 0)) for s in steps],
        "api_requests": [int(s["computed_counters"].get("api_requests", 0)) for s in steps],
        "hash": [s["hash"][:12] for s in steps],
    }, schema_overrides={"step": pl.String, "kind": pl.String, "hash": pl.String})
    return Section("Steps", tables=[view("steps", df, max_rows=1000)], collapsed=True)


def build_sections(data: RunData) -> list[Section]:
    """Every section of the report of `data`."""
    by_stage: dict[str, Section] = {s: Section(s.capitalize()) for s in STAGES}
    for name in data.table_names:
        section = by_stage[stage_of(name)]
        # only tables with paper and rigorous rows are read whole; others show their head (large tables stay fast)
        wide = side_by_side(data.table(name), data.keys(name)) if "mode" in data.columns(name) else None
        if wide is not None:
            section.tables.append(view(f"{name}: paper vs rigorous", wide, "one column per statistics mode"))
        doc = f"stage {TABLES[name].stage}" if name in TABLES else "undeclared table (generic keys)"
        section.tables.append(view(name, data.head(name, MAX_ROWS), f"keys: {', '.join(data.keys(name))}; {doc}",
                                   total=data.height(name)))
    grids = any(f.name.startswith("report__map_grid_") for f in data.figures)
    for fig in data.figures:
        if fig.name.startswith(ANSWER_PREFIX) or (grids and fig.name.startswith("map_") and "__" in fig.name):
            continue  # answers render their own; per-map figures show as the report's small-multiple grids
        kind = fig.name.split("_", 1)[0]
        if kind == "report":  # the report step names its figures <stage>_<what>.png
            kind = fig.name.split("__", 1)[-1].split("_", 1)[0]
        stage = kind if kind in STAGES else _FIG_STAGE.get(kind, "other")
        by_stage[stage].figures.append(fig)
    by_stage["atlas"].collapsed = True
    stages = [s for name, s in by_stage.items() if (s.tables or s.figures) and name != "atlas"]
    last = [by_stage["atlas"]] if by_stage["atlas"].tables or by_stage["atlas"].figures else []
    return [_run_section(data.run), *stages, *last, _steps_section(data.run)]
