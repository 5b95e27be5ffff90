"""Schema v2 -> v3: a `pairs` table with one "bin" row per τ becomes one row per pair (τ range + seeded order),
and `interf diff` of a v2 run against the equivalent v3 run finds no difference."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from interf_dsl.errors import ReportError
from interf_dsl.report.diff import diff_reports
from interf_dsl.report.io import write_table
from interf_dsl.report.migrate import _pairs_v2_to_v3

V2_KEYS = ["step", "source", "hook", "metric", "set", "feature", "partner", "tau"]


def v2_pairs() -> pl.DataFrame:
    """Map τ (.4, .2), k = 2, feature 1, bin 1, seeded order 9, 5, 4, 2 with S .30, .10, .35, .10:
    at τ = .4 all pass -> 9 (rank 0), 5 (1); at τ = .2 only 5 and 2 pass -> 5 (0), 2 (1). Plus one top row."""
    rows = [("bin", 1, 9, 0.25, 0.30, 1, 0.4, 0), ("bin", 1, 5, 0.15, 0.10, 1, 0.4, 1),
            ("bin", 1, 5, 0.15, 0.10, 1, 0.2, 0), ("bin", 1, 2, 0.12, 0.10, 1, 0.2, 1),
            ("top", 1, 9, 0.25, 0.30, 2, None, 0)]
    df = pl.DataFrame(rows, orient="row", schema={"set": pl.String, "feature": pl.Int64, "partner": pl.Int64,
                                                  "I": pl.Float64, "S": pl.Float64, "bin": pl.Int64,
                                                  "tau": pl.Float64, "rank": pl.Int64})
    return df.with_columns(pl.lit("map:s/h").alias("step"), pl.lit("s").alias("source"), pl.lit("h").alias("hook"),
                           pl.lit("decoder_cos").alias("metric"))


def test_hand_built_v2_pairs_become_one_row_per_pair_with_range_and_order():
    out = _pairs_v2_to_v3(v2_pairs()).sort("set", "order", "rank")
    got = out.select("set", "partner", "tau_min", "tau_max", "order", "rank").rows()
    assert got == [("bin", 9, 0.4, 0.4, 0, None), ("bin", 5, 0.2, 0.4, 1, None), ("bin", 2, 0.2, 0.2, 2, None),
                   ("top", 9, None, None, None, 0)]
    assert out.schema["source"] == pl.Categorical and out.schema["partner"] == pl.Int32
    assert out.schema["I"] == pl.Float32 and "tau" not in out.columns
    # re-deriving the per-τ ranks gives back the v2 ranks
    for tau, want in ((0.4, [9, 5]), (0.2, [5, 2])):
        at = out.filter((pl.col("tau_min") <= tau) & (pl.col("tau_max") >= tau)).sort("order")
        assert at["partner"].to_list() == want


def test_non_contiguous_taus_are_refused():
    df = v2_pairs().filter(pl.col("set") == "top").with_columns(pl.lit(None, pl.Float64).alias("tau"))
    gap = pl.concat([df, v2_pairs().filter(pl.col("set") == "bin")
                     .with_columns(pl.col("tau").replace({0.2: 0.15}))
                     .filter(pl.col("partner") != 2),
                     v2_pairs().filter(pl.col("partner") == 2).with_columns(pl.lit(0.2).alias("tau"))])
    # partner 5 sits at τ .4 and .15 but not at .2, which the map had (partner 2 is kept there)
    with pytest.raises(ReportError, match="partner 5"):
        _pairs_v2_to_v3(gap)


def _run_dir(root: Path, name: str, df: pl.DataFrame, keys: list[str], version: int) -> Path:
    run = root / name
    (run / "tables").mkdir(parents=True)
    write_table(run / "tables" / "pairs.parquet", df, name="pairs", keys=keys, schema_version=version)
    (run / "run.json").write_text(json.dumps({"schema_version": version, "tables": {"pairs": {"keys": keys}}}))
    return run


def test_diff_of_a_v2_run_against_the_equivalent_v3_run_is_empty(tmp_path):
    v2 = v2_pairs().select("step", *[c for c in v2_pairs().columns if c != "step"])
    v3, keys3 = _pairs_v2_to_v3(v2), ["step", "source", "hook", "metric", "set", "feature", "partner"]
    old = _run_dir(tmp_path, "old", v2, V2_KEYS, 2)
    new = _run_dir(tmp_path, "new", v3, keys3, 3)
    d = diff_reports(old, new)
    assert any("v2->v3: pairs: one row per (set, feature, partner) (5 -> 4 rows)" in m for m in d.migrations)
    td = {t.table: t for t in d.tables}["pairs"]
    assert td.keys == keys3 and (td.rows_a, td.rows_b) == (4, 4) and not d.data_differs, d.rows
    changed = _run_dir(tmp_path, "changed", v3.with_columns(
        pl.when(pl.col("partner") == 2).then(pl.lit(0.13, pl.Float32)).otherwise(pl.col("I")).alias("I")), keys3, 3)
    d = diff_reports(old, changed)
    rows = [r for r in d.rows if r["table"] == "pairs"]
    assert len(rows) == 1 and rows[0]["column"] == "I" and rows[0]["key"]["partner"] == 2
