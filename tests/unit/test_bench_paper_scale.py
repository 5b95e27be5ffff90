"""benchmarks/bench_paper_scale.py's planning half (no model is built): the paper specs' planned passes and the
unit shapes it measures are whole numbers the benchmark can use (a float rows-per-unit once broke it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_paper_scale", ROOT / "benchmarks/bench_paper_scale.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_paper_specs_plan_into_measurable_units() -> None:
    bench = _bench()
    for spec in ("specs/paper/feature.yaml", "specs/paper/token.yaml"):
        plan = bench.planned(spec)
        assert set(plan) == {"gpt2-small", "pythia-70m-deduped"}, spec
        assert all(w["forward_passes"] > 0 for w in plan.values())
        rows, sentences = bench.rows_per_unit(spec), bench.sentences_of(spec)
        assert isinstance(rows, int) and rows > 32, (spec, rows)  # conditions x 32 scales (+ the prefix pass)
        assert isinstance(sentences, int) and sentences >= 1
    assert any(w["gradient_passes"] > 0 for w in bench.planned("specs/paper/token.yaml").values())
