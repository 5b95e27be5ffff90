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
from interf_dsl.report.diff_tables import TableDiff, aligned_keys, compare_table, num, same
from interf_dsl.report.io import RunData, read_run
from interf_dsl.report.migrate import migrate
from interf_dsl.report.schema import TABLES

if TYPE_CHECKING:
    import polars as pl

_PROVENANCE = (("schema_version",), ("spec", "sha256"), ("seeds", "plan"), ("seeds", "preset"),
               ("git", "commit"), ("git", "dirty"), ("platform", "system"), ("platform", "machine"))


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
    cases: dict[tuple, tuple[list, list]] | None = None  # read only once an effect differs
    for row in joined.filter(joined["__in_a"] & joined["__in_b"]).iter_rows(named=True):
        a, b = row[est], row[f"{est}__b"]
        sig_a = _excludes_zero(row.get(lo), row.get(hi))
        sig_b = _excludes_zero(row.get(f"{lo}__b"), row.get(f"{hi}__b"))
        flipped = sig_a is not None and sig_b is not None and sig_a != sig_b
        sign_change = num(a) and num(b) and a * b < 0
        if same(a, b) and not flipped and same(row.get(lo), row.get(f"{lo}__b")):
            continue
        if cases is None:
            cases = _case_arrays(name, da, db) or {}
        group = next((v for k, v in cases.items() if all(row.get(g) == val for g, val in k)), None)
        d_ci = paired_bootstrap_ci(*group, n_boot=n_boot, ci=ci) if group else (None, None, None)
        out.effects.append({
            "table": name, "key": {k: row[k] for k in keys}, "a": a, "b": b,
            "delta": (b - a) if num(a) and num(b) else None, "delta_ci_low": d_ci[1], "delta_ci_high": d_ci[2],
            "n_pairs": len(group[0]) if group else 0,
            "estimator": (f"paired bootstrap (percentile, {n_boot} resamples, {ci:.0%}) of the mean per-case "
                          "difference b - a" if group else "no per-case data in both runs: no CI"),
            "excluded_zero_a": sig_a, "excluded_zero_b": sig_b, "flipped": flipped, "sign_change": sign_change,
        })


def diff_reports(run_a: Path | str, run_b: Path | str, *, n_boot: int = 2000, ci: float = 0.95,
                 stream: bool = True) -> RunDiff:
    """Compare two run directories (A = before, B = after; `delta = b - a`), one table at a time.

    Args:
        stream: compare in bounded memory (`diff_tables.py`); False reads every table whole and keeps it (the
            former path, for tests and benchmarks).

    Raises:
        ReportError: a path is not a run directory, or a schema version cannot be migrated.
    """
    da, db = read_run(run_a), read_run(run_b)
    out = RunDiff(str(run_a), str(run_b))
    out.migrations = migrate(da) + migrate(db)
    out.provenance = _provenance(da.run, db.run)
    for name in sorted(set(da.table_names) | set(db.table_names)):
        effect = name in TABLES and TABLES[name].effect is not None
        td = compare_table(name, da, db, out.rows, stream=stream, whole=effect, on_joined=(
            (lambda joined, name=name: _effects(name, joined, aligned_keys(name, da, db), da, db, out, n_boot, ci))
            if effect else None))
        out.tables.append(td)
        if stream:
            da.release()
            db.release()
    return out
