"""Regenerate the schema-v1 run directories in tests/data/reports/v1/ (kept as frozen test data for migrations).

v1 layout: effects had `effect` (no `estimate`, no `mode`); interventions named the case column `sentence` (int).
Run: python tests/data/reports/make_v1.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).parent / "v1" / "demo"


def make(run_id: str, shift: float) -> None:
    rng = np.random.default_rng(0)
    cases, effects = [], []
    for cond, mean in (("self", 1.0), ("random", 0.0)):
        values = rng.normal(mean, 0.05, size=30) + (shift if cond == "random" else 0.0)
        cases += [{"step": "intervene:feature:gpt2", "feature": 3, "condition": cond, "metric": "wcos",
                   "sentence": i, "value": float(v)} for i, v in enumerate(values)]
        m, se = float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))
        effects.append({"step": "intervene:feature:gpt2", "feature": 3, "condition": cond, "metric": "wcos",
                        "effect": m, "ci_low": m - 1.96 * se, "ci_high": m + 1.96 * se, "n": 30})
    out = ROOT / run_id
    (out / "tables").mkdir(parents=True, exist_ok=True)
    pl.DataFrame(effects).write_parquet(out / "tables" / "effects.parquet")
    pl.DataFrame(cases).write_parquet(out / "tables" / "interventions.parquet")
    run = {"schema_version": 1, "experiment": "demo", "run_id": run_id, "status": "ok",
           "spec": {"path": "specs/demo.yaml", "sha256": "ab" * 32}, "seeds": {"plan": 0, "preset": "paper"},
           "versions": {"python": "3.11.7", "interf": "0.0.1"}, "git": {"commit": None, "dirty": None},
           "plan": {"steps": [{"id": "intervene:feature:gpt2", "hash": "cd" * 32}]},
           "tables": {"effects": {"keys": ["step", "feature", "condition", "metric"]},
                      "interventions": {"keys": ["step", "feature", "condition", "metric", "sentence"]}}}
    (out / "run.json").write_text(json.dumps(run, indent=1, sort_keys=True))


if __name__ == "__main__":
    make("a", 0.0)
    make("b", 0.08)
