"""The run engine with a real hooked model (a small random transformer_lens model, and the demo spec on the tiny
zoo): a rerun loads no model, does no forward pass and is fast; results are identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from interf_dsl.pipeline import run_plan as execute_plan
from interf_dsl.plan.ir import Plan, Step, seal_steps
from interf_dsl.steps import STEP_RUNNERS, StepContext, StepResult, step_runner

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]
for _k, _v in {"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}.items():
    os.environ.setdefault(_k, _v)


def _run_forward(ctx: StepContext) -> StepResult:
    import torch

    model = ctx.model(ctx.params["source"])
    store = ctx.units()
    for k in range(ctx.params["batches"]):
        key = f"batch{k}"
        if store.done(key):
            continue
        gen = torch.Generator().manual_seed(int(ctx.rng(key).integers(1 << 31)))
        tokens = torch.randint(0, model.cfg.d_vocab, (ctx.params["rows"], 6), generator=gen)
        with torch.no_grad():
            logits = model(tokens)
        ctx.counters.forward_passes += tokens.shape[0]
        store.save(key, pl.DataFrame({"batch": [k] * tokens.shape[0], "row": list(range(tokens.shape[0])),
                                      "logit_mean": logits.mean(dim=(1, 2)).double().tolist()}))
    return StepResult(tables={"logits": store.load_all()})


if "test_forward" not in STEP_RUNNERS:
    step_runner("test_forward")(_run_forward)


def _tiny_model(ref: str):
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    torch.manual_seed(0)
    cfg = HookedTransformerConfig(n_layers=2, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=50, act_fn="gelu",
                                  normalization_type="LN")
    return HookedTransformer(cfg)


def _plan() -> Plan:
    steps = [Step(id="model:m", kind="load_model", params={"source": "m", "model": "random:tiny", "fingerprint": "r0"}),
             Step(id="fwd:m", kind="test_forward", params={"source": "m", "batches": 3, "rows": 4},
                  inputs=("model:m",))]
    return Plan(experiment="engine", preset="paper", seed=3, spec_sha256="0", steps=seal_steps(steps, "t"))


def test_rerun_with_a_real_model_loads_nothing_and_does_no_forward_pass(tmp_path):
    loads: list[str] = []

    def loader(ref):
        loads.append(ref)
        return _tiny_model(ref)

    kw = dict(spec_path=tmp_path / "s.yaml", spec_text="x", resolved_json="{}", reports_root=tmp_path / "reports",
              cache_dir=tmp_path / "cache", quiet=True, model_loader=loader)
    first = execute_plan(_plan(), run_id="a", **kw)
    assert first.counters["forward_passes"] == 12 and loads == ["random:tiny"]
    t0 = time.perf_counter()
    second = execute_plan(_plan(), run_id="b", **kw)
    assert time.perf_counter() - t0 < 3.0
    assert second.counters["forward_passes"] == 0 and loads == ["random:tiny"] and second.models_loaded == ()
    assert_frame_equal(pl.read_parquet(Path(first.run_dir) / "tables" / "logits.parquet"),
                       pl.read_parquet(Path(second.run_dir) / "tables" / "logits.parquet"))


@pytest.mark.slow
def test_demo_spec_runs_end_to_end_and_reruns_from_cache(tmp_path):
    """`interf run specs/demo.yaml` twice (opt-in: -m slow; needs the built tiny zoo)."""
    env = {**os.environ, "INTERF_CACHE": str(tmp_path / "cache")}
    dirs = []
    for run_id in ("a", "b"):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "interf_dsl", "run", "specs/demo.yaml", "--reports",
                               str(tmp_path / "reports"), "--run-id", run_id, "--quiet"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=3600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        dirs.append(Path(proc.stdout.strip().splitlines()[-1]))
    assert time.perf_counter() - t0 < 3.0 + 2.0  # rerun budget 3 s, plus interpreter start-up of the test harness
    rerun = json.loads((dirs[1] / "run.json").read_text())["record"]
    assert rerun["counters"]["forward_passes"] == 0 and rerun["counters"]["api_requests"] == 0
    assert all(s["cache_hit"] for s in rerun["steps"])
    diff = subprocess.run([sys.executable, "-m", "interf_dsl", "diff", str(dirs[0]), str(dirs[1])], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert diff.returncode == 0 and "summary: no differences" in diff.stdout
