"""Report stage: `diff_reports(RUN_A, RUN_B)`: provenance differences first, then every table aligned on its keys.

For each table present in either run: rows added, removed and changed (one change row per changed column, with
`delta = b - a` for numbers). For effect tables (schema `EffectSpec`): the estimate delta with a paired bootstrap CI
over the per-case table where both runs have the same cases, and flipped conclusions (the CI excluded zero in one
run and not in the other; the estimate changed sign). Runs on an older table schema are migrated first.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.report.bootstrap import paired_bootstrap_ci
from interf_dsl.report.io import RunData, read_run
from interf_dsl.report.migrate import migrate
from interf_dsl.report.schema import TABLES

if TYPE_CHECKING:
    import polars as pl

_PROVENANCE = (("schema_version",), ("spec", "sha256"), ("seeds", "plan"), ("seeds", "preset"),
               ("git", "commit"), ("git", "dirty"), ("platform", "system"), ("platform", "machine"))


@dataclass
class TableDiff:
    """How one table differs: counts and the keys it was aligned on."""

    table: str
    keys: list[str]
    rows_a: int
    rows_b: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    note: str = ""


@dataclass
class RunDiff:
    """The differences between two run directories."""

    a: str
    b: str
    provenance: list[dict[str, Any]] = field(default_factory=list)
    tables: list[TableDiff] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    """One row per added/removed row or changed cell: table, change, column, a, b, delta, key, ..."""
    effects: list[dict[str, Any]] = field(default_factory=list)
    """One row per effect present in both runs whose estimate or CI changed."""
    migrations: list[str] = field(default_factory=list)

    @property
    def data_differs(self) -> bool:
        return bool(self.rows)

    @property
    def differs(self) -> bool:
        return bool(self.rows or self.provenance)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1, default=_json_float)


def _json_float(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else str(v)


def _get(d: dict[str, Any], path: tuple[str, ...]) -> Any:
    for p in path:
        d = d.get(p, {}) if isinstance(d, dict) else {}
    return d if d != {} else None


def _provenance(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    out = [{"field": ".".join(p), "a": _get(a, p), "b": _get(b, p)} for p in _PROVENANCE]
    names = sorted(set(a.get("versions", {})) | set(b.get("versions", {})))
    out += [{"field": f"versions.{n}", "a": a.get("versions", {}).get(n), "b": b.get("versions", {}).get(n)}
            for n in names]
    steps_a = {s["id"]: s["hash"] for s in a.get("plan", {}).get("steps", [])}
    steps_b = {s["id"]: s["hash"] for s in b.get("plan", {}).get("steps", [])}
    for sid in sorted(set(steps_a) | set(steps_b)):
        out.append({"field": f"plan.step[{sid}].hash", "a": steps_a.get(sid), "b": steps_b.get(sid)})
    return [r for r in out if r["a"] != r["b"]]


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        if math.isnan(x) and math.isnan(y):
            return True
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return x == y


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _align(name: str, da: RunData, db: RunData, out: RunDiff) -> tuple[TableDiff, pl.DataFrame | None]:
    import polars as pl

    ta = da.table(name) if name in da.table_names else None
    tb = db.table(name) if name in db.table_names else None
    present = ta if ta is not None else tb
    keys_a, keys_b = da.keys(name), db.keys(name)
    keys = [k for k in (keys_a or keys_b) if k in (keys_b or keys_a)]
    td = TableDiff(name, keys, ta.height if ta is not None else 0, tb.height if tb is not None else 0)
    if ta is None or tb is None:
        td.added, td.removed = td.rows_b, td.rows_a
        td.note = "only in run B" if ta is None else "only in run A"
        out.rows.append({"table": name, "change": "added" if ta is None else "removed", "column": None,
                         "a": None, "b": None, "delta": None, "key": {"rows": present.height}})
        return td, None
    if keys_a != keys_b:
        td.note = f"keys differ (A: {keys_a}, B: {keys_b}); aligned on {keys}"
    if not keys or not ta.select(keys).is_unique().all() or not tb.select(keys).is_unique().all():
        td.note = f"cannot align rows: keys {keys} do not identify rows; compared row counts only"
        return td, None
    if any(ta.schema[k].is_nested() for k in keys):
        td.note = f"cannot align rows: a key column of {keys} is a list"
        return td, None
    ta = ta.with_columns(pl.lit(True).alias("__in_a"))
    tb = tb.with_columns(pl.lit(True).alias("__in_b"))
    joined = ta.join(tb, on=keys, how="full", coalesce=True, suffix="__b", nulls_equal=True).with_columns(
        pl.col("__in_a").fill_null(False), pl.col("__in_b").fill_null(False))
    values = [c for c in ta.columns if c not in keys and c != "__in_a" and c in tb.columns]
    only = ([f"A only: {c}" for c in ta.columns if c not in tb.columns and c != "__in_a"]
            + [f"B only: {c}" for c in tb.columns if c not in ta.columns and c != "__in_b"])
    if only:
        td.note = (td.note + "; " if td.note else "") + "columns " + ", ".join(only)
    for row in _candidates(joined, values).iter_rows(named=True):
        key = {k: row[k] for k in keys}
        if not row["__in_a"] or not row["__in_b"]:
            change = "added" if not row["__in_a"] else "removed"
            td.added += change == "added"
            td.removed += change == "removed"
            out.rows.append({"table": name, "change": change, "column": None, "a": None, "b": None,
                             "delta": None, "key": key})
            continue
        changed = False
        for col in values:
            x, y = row[col], row[f"{col}__b"]
            if not _same(x, y):
                changed = True
                out.rows.append({"table": name, "change": "changed", "column": col, "a": x, "b": y,
                                 "delta": (y - x) if _num(x) and _num(y) else None, "key": key})
        td.changed += changed
    return td, joined


def _candidates(joined: pl.DataFrame, values: list[str]) -> pl.DataFrame:
    """Rows that may differ: in one run only, or with a value not exactly equal (tolerance is applied after)."""
    import polars as pl

    cond = ~(pl.col("__in_a") & pl.col("__in_b"))
    for col in values:
        cond = cond | ~pl.col(col).eq_missing(pl.col(f"{col}__b"))
    try:
        return joined.filter(cond)
    except pl.exceptions.PolarsError:  # a dtype polars cannot compare (e.g. structs of mixed types): check all rows
        return joined


def _case_arrays(name: str, da: RunData, db: RunData) -> dict[tuple, tuple[list, list]] | None:
    """Per-case values of both runs, paired by case, grouped by the effect keys they share (None: no usable
    per-case table, or its rows are not one per (effect, case))."""
    spec = TABLES[name].effect
    found = next((c for c in (spec.cases if spec else ()) if c in da.table_names and c in db.table_names
                  and {spec.case_key, spec.case_value} <= set(da.table(c).columns) & set(db.table(c).columns)), None)
    if found is None:
        return None
    ca, cb = da.table(found), db.table(found)
    effect_cols = set(da.table(name).columns)
    group = [k for k in da.keys(found) if k != spec.case_key and k in cb.columns and k in effect_cols]
    on = [*group, spec.case_key]
    if not (ca.select(on).is_unique().all() and cb.select(on).is_unique().all()):
        return None  # cases do not map one-to-one onto effects (e.g. one row per scale): no paired CI
    pairs = ca.select([*on, spec.case_value]).join(cb.select([*on, spec.case_value]), on=on, how="inner",
                                                  suffix="__b", nulls_equal=True)
    out: dict[tuple, tuple[list, list]] = {}
    for row in pairs.iter_rows(named=True):
        k = tuple((g, row[g]) for g in group)
        xs, ys = out.setdefault(k, ([], []))
        xs.append(row[spec.case_value])
        ys.append(row[f"{spec.case_value}__b"])
    return out


def _excludes_zero(lo: Any, hi: Any) -> bool | None:
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return None
    return lo > 0 or hi < 0


def _effects(name: str, joined: pl.DataFrame, keys: list[str], da: RunData, db: RunData, out: RunDiff,
             n_boot: int, ci: float) -> None:
    spec = TABLES[name].effect
    est, lo, hi = spec.estimate, spec.ci_low, spec.ci_high
    if f"{est}__b" not in joined.columns:
        return
    cases = _case_arrays(name, da, db) or {}
    for row in joined.filter(joined["__in_a"] & joined["__in_b"]).iter_rows(named=True):
        a, b = row[est], row[f"{est}__b"]
        sig_a = _excludes_zero(row.get(lo), row.get(hi))
        sig_b = _excludes_zero(row.get(f"{lo}__b"), row.get(f"{hi}__b"))
        flipped = sig_a is not None and sig_b is not None and sig_a != sig_b
        sign_change = _num(a) and _num(b) and a * b < 0
        if _same(a, b) and not flipped and _same(row.get(lo), row.get(f"{lo}__b")):
            continue
        group = next((v for k, v in cases.items() if all(row.get(g) == val for g, val in k)), None)
        d_ci = paired_bootstrap_ci(*group, n_boot=n_boot, ci=ci) if group else (None, None, None)
        out.effects.append({
            "table": name, "key": {k: row[k] for k in keys}, "a": a, "b": b,
            "delta": (b - a) if _num(a) and _num(b) else None, "delta_ci_low": d_ci[1], "delta_ci_high": d_ci[2],
            "n_pairs": len(group[0]) if group else 0,
            "estimator": (f"paired bootstrap (percentile, {n_boot} resamples, {ci:.0%}) of the mean per-case "
                          "difference b - a" if group else "no per-case data in both runs: no CI"),
            "excluded_zero_a": sig_a, "excluded_zero_b": sig_b, "flipped": flipped, "sign_change": sign_change,
        })


def diff_reports(run_a: Path | str, run_b: Path | str, *, n_boot: int = 2000, ci: float = 0.95) -> RunDiff:
    """Compare two run directories (A = before, B = after; `delta = b - a`).

    Raises:
        ReportError: a path is not a run directory, or a schema version cannot be migrated.
    """
    da, db = read_run(run_a), read_run(run_b)
    out = RunDiff(str(run_a), str(run_b))
    out.migrations = migrate(da) + migrate(db)
    out.provenance = _provenance(da.run, db.run)
    for name in sorted(set(da.table_names) | set(db.table_names)):
        td, joined = _align(name, da, db, out)
        out.tables.append(td)
        if joined is not None and name in TABLES and TABLES[name].effect is not None:
            _effects(name, joined, td.keys, da, db, out, n_boot, ci)
    return out
