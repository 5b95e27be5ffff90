"""Preflight: a real-model spec run offline stops at once with everything that is missing, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("spec", "key_var", "repo"), [
    ("specs/transfer_gemma.yaml", "TOGETHER_API_KEY", "EleutherAI/pythia-70m-deduped"),
    ("specs/transfer_llama.interf", "DEEPSEEK_API_KEY", "jbloom/GPT2-Small-OAI-v5-32k-resid-post-SAEs"),
])
def test_offline_real_spec_lists_what_is_missing(tmp_path: Path, spec: str, key_var: str | None, repo: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "INTERF_CACHE": str(tmp_path / "cache")}
    reports = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "interf_dsl", "run", spec, "--reports", str(reports)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert repo in proc.stderr and "HF_HUB_OFFLINE" in proc.stderr
    if key_var:
        assert f"environment variable {key_var}" in proc.stderr
    if "gemma" in spec:  # the paper's data is not in the repository: named with the weights, before any step
        assert "corpus (atlas.corpus)" in proc.stderr and "pile-uncopyrighted-10k.jsonl is not on this" in proc.stderr
        assert "Neuronpedia export" in proc.stderr
    assert "nothing was run" in proc.stderr
    assert not reports.exists()  # no half-made run directory


def test_zoo_plan_needs_nothing() -> None:
    from interf_dsl.execute.preflight import plan_problems
    from interf_dsl.parse import load_spec
    from interf_dsl.plan import compile_plan
    from interf_dsl.resolve import resolve_spec

    plan = compile_plan(resolve_spec(load_spec(ROOT / "specs/demo.yaml")))
    assert plan_problems(plan) == []


def test_default_relative_cache_runs_steps_that_return_files(tmp_path: Path, monkeypatch) -> None:
    """The README's command uses the default `.interf-cache` (relative): runner file paths must still resolve."""
    from interf_dsl.execute.cache import StepCache

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INTERF_CACHE", raising=False)
    cache = StepCache(".interf-cache")
    assert cache.root.is_absolute() and cache.work_dir("ab" * 32).is_absolute()


def test_a_transfer_that_only_reaggregates_needs_no_key(monkeypatch) -> None:
    from interf_dsl.execute.preflight import plan_problems
    from interf_dsl.parse import load_spec
    from interf_dsl.plan import compile_plan
    from interf_dsl.resolve import resolve_spec

    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    plan = compile_plan(resolve_spec(load_spec(ROOT / "specs/transfer_gemma.yaml")))
    transfer = [s for s in plan.steps if s.kind == "transfer"]
    assert transfer and any("TOGETHER_API_KEY" in p for p in plan_problems(plan, check_weights=False))
    # the engine's needs_endpoint is false for a step whose probe and trials are kept (`StepCache.kept_units`)
    rest = plan_problems(plan, check_weights=False, needs_endpoint=lambda step: False)
    assert rest and not any("TOGETHER_API_KEY" in p for p in rest)  # other steps' keys are still required
