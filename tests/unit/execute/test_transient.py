"""A result its runner marks transient (`StepResult.meta["transient"]`) is used and recorded by its run but never
cached, and neither is anything computed from it; a later run computes both again and then caches them."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from interf_dsl.plan.ir import Plan, Step, seal_steps
from interf_dsl.steps import STEP_RUNNERS, StepResult, step_runner


def _flaky(ctx) -> StepResult:
    reason = os.environ.get("ENGINE_TEST_TRANSIENT")
    value = 1.0 if reason else 2.0
    return StepResult(tables={"draws": pl.DataFrame({"value": [value]})},
                      meta={"transient": reason} if reason else {})


def _double(ctx) -> StepResult:
    value = float(ctx.input("flaky").tables["draws"]["value"][0])
    return StepResult(tables={"doubled": pl.DataFrame({"value": [2 * value]})})


for _kind, _fn in (("test_flaky", _flaky), ("test_double", _double)):
    if _kind not in STEP_RUNNERS:
        step_runner(_kind)(_fn)


def _plan() -> Plan:
    steps = [Step(id="flaky", kind="test_flaky", params={}),
             Step(id="double", kind="test_double", params={}, inputs=("flaky",)),
             Step(id="other", kind="test_double", params={"x": 1}, inputs=("flaky",))]
    return Plan(experiment="demo", preset="paper", seed=0, spec_sha256="0" * 64, steps=seal_steps(steps, "test"))


def _doubled(rec) -> list[float]:
    return pl.read_parquet(Path(rec.run_dir) / "tables" / "doubled.parquet")["value"].to_list()


def test_transient_results_and_their_consumers_are_not_cached(run_plan, tmp_path, monkeypatch):
    healthy, _ = run_plan(_plan(), run_id="healthy", cache_dir=tmp_path / "other-cache")
    cache = tmp_path / "cache"
    monkeypatch.setenv("ENGINE_TEST_TRANSIENT", "the endpoint was failing")
    first, _ = run_plan(_plan(), run_id="first")
    assert _doubled(first) == [2.0, 2.0]  # the run itself uses the transient result
    assert first.steps[0].meta["transient"] == first.steps[0].transient == "the endpoint was failing"
    assert not any((cache / "steps").iterdir()) and not any((cache / "tmp").iterdir())
    monkeypatch.delenv("ENGINE_TEST_TRANSIENT")
    second, _ = run_plan(_plan(), run_id="second")
    assert [s.cache_hit for s in second.steps] == [False, False, False]  # consumers too: their input changed
    assert _doubled(second) == _doubled(healthy) == [4.0, 4.0]
    third, _ = run_plan(_plan(), run_id="third")
    assert third.cache_hits == 3


def test_a_cached_consumer_is_not_mixed_with_a_transient_input(run_plan, monkeypatch):
    """A consumer cached by an earlier healthy run is recomputed when its input is transient in this run, so one
    run directory never mixes the two."""
    run_plan(_plan(), run_id="healthy")
    monkeypatch.setenv("ENGINE_TEST_TRANSIENT", "flaky")
    rec, _ = run_plan(_plan(), run_id="mixed", force=["flaky"])
    assert [s.cache_hit for s in rec.steps] == [False, False, False]
    assert _doubled(rec) == [2.0, 2.0]
    tainted = "computed from transient input(s) flaky"
    assert [s.transient for s in rec.steps] == ["flaky", tainted, tainted]
