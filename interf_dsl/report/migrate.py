"""Report stage: migrate run directories written with an older table schema to `SCHEMA_VERSION`, in memory.

History:
- v1 (first layout): effect tables (`effects`, `transfer`) had one `effect` column, `ci_low`/`ci_high`, and no
  `mode` (every number was the paper protocol's); per-case tables named their case column `sentence`
  (`interventions`) or `trial` (`transfer_trials`).
- v2: `effect` -> `estimate`, `ci_low`/`ci_high` -> `ci_lo`/`ci_hi` (the interventions and stats kinds' names), a
  `mode` column (`paper` | `rigorous`) that is part of the keys, case column `case` (a string).
- v3: `pairs` holds one row per (set, feature, partner) instead of one "bin" row per τ: `tau` and the per-τ `rank`
  of "bin" rows become the τ range `tau_min`/`tau_max` and `order` (the pair's index in the seeded order of its
  (feature, bin)); "top" rows keep `rank`; narrow dtypes (Categorical strings, int32 ids, float32 I and S); keys
  drop `tau`.

A migration rewrites tables and their recorded keys; `diff_reports` states each migration it applied. A run from
a newer interf, or from a version with no migration path, is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from interf_dsl.errors import ReportError
from interf_dsl.report.schema import SCHEMA_VERSION, conform

if TYPE_CHECKING:
    import polars as pl

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


def _pairs_v2_to_v3(df: pl.DataFrame) -> pl.DataFrame:
    """One v2 `pairs` table (one "bin" row per (pair, τ) with its rank at τ) in the v3 layout.

    `order` is re-derived from the per-τ ranks: sort a (feature, bin)'s pairs by their rank at each τ, loosest τ
    first, a τ they are not kept at counting as +inf. Why that is the seeded order: at every τ the kept pairs are a
    prefix of the passing ones in that order and passing is nested, so for two pairs the loosest τ at which either
    is kept decides (both kept: their ranks; one kept: the other passes there behind it).

    Raises:
        ReportError: a pair's τ are not contiguous in its map's τ list (not a table the v2 map wrote).
    """
    import polars as pl

    mapk = [c for c in ("step", "source", "hook", "metric") if c in df.columns]
    is_bin = pl.col("set") == "bin"
    bins, top = df.filter(is_bin), df.filter(~is_bin)
    taus = sorted(bins["tau"].drop_nulls().unique().to_list(), reverse=True)
    ranks = [f"__rank{k}" for k in range(len(taus))]
    wide = bins.group_by([*mapk, "set", "feature", "partner"]).agg(
        pl.col("I").first(), pl.col("S").first(), pl.col("bin").first(), pl.col("tau").min().alias("tau_min"),
        pl.col("tau").max().alias("tau_max"), pl.len().alias("__n"),
        *[pl.col("rank").filter(pl.col("tau") == t).first().alias(r) for t, r in zip(taus, ranks, strict=True)])
    map_taus = bins.select(*mapk, pl.col("tau").alias("__t")).unique()
    spans = (wide.select(*mapk, "feature", "partner", "tau_min", "tau_max", "__n")
             .join(map_taus, on=mapk, how="inner", nulls_equal=True)
             .filter(pl.col("__t").is_between(pl.col("tau_min"), pl.col("tau_max")))
             .group_by(*mapk, "feature", "partner", "__n").agg(pl.len().alias("__span")))
    bad = spans.filter(pl.col("__span") != pl.col("__n"))
    if bad.height:
        row = bad.row(0, named=True)
        raise ReportError(f"pairs (schema v2): feature {row['feature']}, partner {row['partner']} is sampled at "
                          f"{row['__n']} τ, not the {row['__span']} contiguous map τ between its extremes; the "
                          "table cannot be converted to the v3 τ range")
    group = [*mapk, "feature", "bin"]
    wide = wide.sort([*group, *ranks], nulls_last=True).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int32).over(group).alias("order"), pl.lit(None, pl.Int32).alias("rank"))
    top = top.drop("tau").with_columns(pl.lit(None, pl.Float64).alias("tau_min"),
                                       pl.lit(None, pl.Float64).alias("tau_max"), pl.lit(None, pl.Int32).alias("order"))
    out = pl.concat([wide.drop("__n", *ranks), top], how="diagonal_relaxed")
    cats = [c for c in ("source", "hook", "metric", "set") if c in out.columns]
    return out.with_columns(pl.col(*cats).cast(pl.Categorical), pl.col("feature", "partner", "bin", "order", "rank")
                            .cast(pl.Int32), pl.col("I", "S").cast(pl.Float32))


def _v2_to_v3(data: RunData) -> list[str]:

    notes = []
    if "pairs" in data.table_names and "tau" in data.table("pairs").columns:
        df = _pairs_v2_to_v3(data.table("pairs"))
        before = data.table("pairs").height
        df, keys = conform("pairs", df)
        data.run.setdefault("tables", {}).setdefault("pairs", {})["keys"] = keys
        data.set_table("pairs", df)
        notes.append(f"pairs: one row per (set, feature, partner) ({before} -> {df.height} rows): tau/rank of bin "
                     "rows -> tau_min, tau_max, order (seeded order re-derived from the per-tau ranks); "
                     "Categorical/int32/float32 columns")
    data.run["schema_version"] = 3
    return notes


MIGRATIONS: dict[int, Callable[[RunData], list[str]]] = {1: _v1_to_v2, 2: _v2_to_v3}


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
