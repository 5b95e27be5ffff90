"""A hand-made run directory with the tables the Answers section reads (steering effects by bin, regressions, the
Table-1 grid, transfer ratios) and an atlas table with control bytes; shared by the report and browser tests."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from interf_dsl.report.io import write_table
from interf_dsl.report.schema import SCHEMA_VERSION


def _effects() -> pl.DataFrame:
    rows = []
    for focus in ("feature", "token"):
        for source in ("gpt2", "pythia"):
            for b in range(3):
                for mode, est in (("rigorous", "heldout_alpha_mean"), ("paper", "best_alpha_mean")):
                    e = 0.01 * (b + 1)
                    rows.append({"step": f"intervene:{focus}:{source}", "source": source, "focus": focus,
                                 "tau": 0.2, "type": None, "level": str(b), "metric": "wo_rel", "mode": mode,
                                 "estimator": est, "n": 30, "estimate": e, "ci_lo": e - 0.01, "ci_hi": e + 0.01,
                                 "primary": True})
    return pl.DataFrame(rows)


def _regressions() -> pl.DataFrame:
    return pl.DataFrame([{"step": f"intervene:{f}:{s}", "mode": "rigorous", "model": "B", "metric": "wo",
                          "term": "I", "coef": 0.05, "ci_lo": 0.01, "ci_hi": 0.09, "p": 0.01}
                         for f in ("feature", "token") for s in ("gpt2", "pythia")])


def _grid() -> pl.DataFrame:
    rows = []
    for model, role in (("gpt2", "source"), ("big", "target")):
        for cond, rate, stars in (("target", 0.5, "***"), ("high", 0.2, "*"), ("medium", 0.3, ""),
                                  ("random", 0.3, ""), ("random_matched", 0.31, "")):
            rows.append({"step": "transfer:big", "model": model, "role": role, "type": "location",
                         "condition": cond, "stars": stars, "estimator": "logprobs", "k": 30,
                         "success_rate": rate, "ci_lo": rate - 0.05, "ci_hi": rate + 0.05})
    return pl.DataFrame(rows)


def _ratios() -> pl.DataFrame:
    nan = float("nan")
    return pl.DataFrame([
        {"step": "transfer:big", "target": "big", "type": "location", "condition": "high", "source": "gpt2",
         "method": "delta", "estimator": "logprobs", "k": 30, "source_k": 30, "target_effect": 0.02,
         "source_effect": 0.04, "ratio": 0.5, "ratio_lo": 0.1, "ratio_hi": 0.9},
        {"step": "transfer:big", "target": "big", "type": "location", "condition": "medium", "source": "gpt2",
         "method": "delta", "estimator": "logprobs", "k": 30, "source_k": 30, "target_effect": 0.0,
         "source_effect": 0.0, "ratio": nan, "ratio_lo": nan, "ratio_hi": nan},
    ])


def answer_run(tmp_path: Path) -> Path:
    """Write the run directory under `tmp_path` and return it (no report rendered yet)."""
    run = tmp_path / "reports" / "demo" / "r1"
    (run / "tables").mkdir(parents=True)
    tables = {"effects": _effects(), "regressions": _regressions(), "transfer_grid": _grid(),
              "transfer_ratio": _ratios(),
              "contexts": pl.DataFrame({"source": ["gpt2"], "hook": ["h"], "feature": [1], "rank": [0],
                                        "text": ["a\x00b\x1b[31m\ufffdc"]})}
    info = {}
    for name, df in tables.items():
        keys = [c for c in df.columns if df.schema[c] in (pl.String, pl.Int64)][:3]
        write_table(run / "tables" / f"{name}.parquet", df, name=name, keys=keys, schema_version=SCHEMA_VERSION)
        info[name] = {"keys": keys}
    (run / "run.json").write_text(json.dumps({
        "schema_version": SCHEMA_VERSION, "experiment": "demo", "run_id": "r1", "status": "ok", "tables": info,
        "resolved": {"experiment": {"description": "a tiny\nstudy"}, "stats": {"ci": 0.95},
                     "map": {"bins": [[0.0, 0.1, False], [0.1, 0.2, False], [0.2, 1.0, True]]}},
        "record": {"steps": []}}))
    return run


