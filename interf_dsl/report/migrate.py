"""Report stage: migrate run directories written with an older table schema to `SCHEMA_VERSION`, in memory.

History:
- v1 (first layout): effect tables (`effects`, `transfer`) had one `effect` column, `ci_low`/`ci_high`, and no
  `mode` (every number was the paper protocol's); per-case tables named their case column `sentence`
  (`interventions`) or `trial` (`transfer_trials`).
- v2: `effect` -> `estimate`, `ci_low`/`ci_high` -> `ci_lo`/`ci_hi` (the interventions and stats kinds' names), a
  `mode` column (`paper` | `rigorous`) that is part of the keys, case column `case` (a string).

A migration rewrites tables and their recorded keys; `diff_reports` states each migration it applied. A run from
a newer interf, or from a version with no migration path, is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from interf_dsl.errors import ReportError
from interf_dsl.report.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from interf_dsl.report.io import RunData


def _v1_to_v2(data: RunData) -> list[str]:
    import polars as pl

    notes = []
    tables = data.run.setdefault("tables", {})
    for name in data.table_names:
        df = data.table(name)
        info = tables.setdefault(name, {})
        keys = list(info.get("keys", data.keys(name)))
        if name in ("effects", "transfer") and "effect" in df.columns:
            df = df.rename({"effect": "estimate"})
            if "mode" not in df.columns:
                df = df.with_columns(pl.lit("paper").alias("mode"))
                keys.append("mode")
            notes.append(f"{name}: renamed effect -> estimate, added mode = 'paper' (v1 had paper numbers only)")
        ci = {old: new for old, new in (("ci_low", "ci_lo"), ("ci_high", "ci_hi")) if old in df.columns}
        if ci:
            df = df.rename(ci)
            notes.append(f"{name}: renamed ci_low/ci_high -> ci_lo/ci_hi")
        old_case = {"interventions": "sentence", "transfer_trials": "trial"}.get(name)
        if old_case and old_case in df.columns and "case" not in df.columns:
            df = df.with_columns(pl.col(old_case).cast(pl.String).alias("case")).drop(old_case)
            keys = ["case" if k == old_case else k for k in keys]
            notes.append(f"{name}: case column {old_case} -> case (string)")
        info["keys"] = keys
        data.set_table(name, df)
    data.run["schema_version"] = 2
    return notes


MIGRATIONS: dict[int, Callable[[RunData], list[str]]] = {1: _v1_to_v2}


def migrate(data: RunData) -> list[str]:
    """Bring `data` to `SCHEMA_VERSION` in place; returns one note per change made.

    Raises:
        ReportError: the run is newer than this interf, or no migration path exists from its version.
    """
    version = data.schema_version
    if version > SCHEMA_VERSION:
        raise ReportError(
            f"run {data.path} has table schema version {version}, newer than this interf's {SCHEMA_VERSION}",
            hint="upgrade interf to read it; older versions cannot know what a newer schema changed")
    notes: list[str] = []
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ReportError(
                f"run {data.path} has table schema version {version}, and there is no migration from it "
                f"(migrations exist from: {', '.join(map(str, sorted(MIGRATIONS))) or 'none'})")
        notes += [f"{data.path.name}: v{version}->v{version + 1}: {n}" for n in step(data)]
        version = data.schema_version
    return notes
