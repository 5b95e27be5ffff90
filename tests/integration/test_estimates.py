"""The plan's forward-pass estimates against what a run counts (issue 16): a small zoo study with every built-in
focus, then `interf plan` against its cache, per step; and the demo (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "interf_dsl" / "zoo" / "artifacts" / "zoo.json"
SMALL = Path(__file__).with_name("estimate_small.yaml")
TOLERANCE = 0.15


def _run(spec: Path, tmp_path: Path):
    """(plan expected before the run, plan counted against the run's cache, the run's per-step counters)."""
    from interf_dsl.execute.cache import cached_tables
    from interf_dsl.parse import load_spec
    from interf_dsl.pipeline import run_plan
    from interf_dsl.plan import compile_plan
    from interf_dsl.plan.estimate import counted
    from interf_dsl.resolve import resolve_spec

    resolved = resolve_spec(load_spec(spec))
    plan = compile_plan(resolved)
    cache = tmp_path / "cache"
    record = run_plan(plan, spec_path=spec, spec_text=spec.read_text(encoding="utf-8"),
                      resolved_json=resolved.model_dump_json(), reports_root=tmp_path / "reports", cache_dir=cache,
                      quiet=True, run_id="a")
    assert record.status == "ok", record.error
    by_id = {s.id: s for s in plan.steps}
    after = counted(plan, resolved, lambda i: cached_tables(cache, by_id[i], plan.seed))
    ran = {s.id: s.counters for s in record.steps}
    return plan, after, ran


def _off(estimate: float, done: float) -> float:
    return abs(estimate - done) / max(done, 1.0)


@pytest.mark.skipif(not ZOO.exists(), reason="the tiny zoo is not built (interf_dsl/zoo/artifacts/zoo.json)")
def test_counted_estimates_match_every_step_of_a_small_run(tmp_path):
    plan, after, ran = _run(SMALL, tmp_path)
    kinds = {s.id: s.kind for s in plan.steps}
    intervene = [i for i, k in kinds.items() if k == "intervene"]
    assert len(intervene) == 5  # feature, token, embedding, prompt (snippets), neuron
    for step in after.steps:
        done = ran[step.id]
        if step.kind == "intervene":  # counted from the cached select, prompts, atlas and map tables: exact
            assert done["forward_passes"] > 0, step.id
            assert step.estimate.forward_passes == done["forward_passes"], (step.id, step.estimate, done)
            assert step.estimate.gradient_passes == done.get("gradient_passes", 0), (step.id, step.estimate, done)
        else:  # atlas windows are known before anything runs; the other kinds do no forward pass
            assert step.estimate == next(s for s in plan.steps if s.id == step.id).estimate
            assert _off(step.estimate.forward_passes, done.get("forward_passes", 0)) <= TOLERANCE, (step.id, done)


@pytest.mark.slow
def test_demo_estimate_within_15_percent_of_its_run(tmp_path):
    """`interf plan specs/demo.yaml` before the demo runs (total) and against its cache (per step)."""
    plan, after, ran = _run(ROOT / "specs" / "demo.yaml", tmp_path)
    total = sum(s.estimate.forward_passes for s in plan.steps)
    done = sum(c.get("forward_passes", 0) for c in ran.values())
    assert _off(total, done) <= TOLERANCE, (total, done)
    for step in after.steps:
        assert _off(step.estimate.forward_passes, ran[step.id].get("forward_passes", 0)) <= TOLERANCE, step.id
    print(json.dumps({"expected": total, "counted": sum(s.estimate.forward_passes for s in after.steps),
                      "ran": done}))
