"""Fixtures for the run-engine tests: test-only step kinds, a tmp reports root and cache, a run helper."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

for _k, _v in {"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}.items():
    os.environ.setdefault(_k, _v)


@pytest.fixture
def run_plan(tmp_path: Path):
    """Run a plan into tmp reports/cache dirs; returns (record, loaded model refs)."""
    from interf_dsl.pipeline import run_plan as execute_plan

    loads: list[str] = []

    def run(plan, **kw):
        kw.setdefault("reports_root", tmp_path / "reports")
        kw.setdefault("cache_dir", tmp_path / "cache")
        kw.setdefault("quiet", True)
        kw.setdefault("model_loader", lambda ref: loads.append(ref) or object())
        rec = execute_plan(plan, spec_path=tmp_path / "spec.yaml", spec_text="experiment: {name: demo}\n",
                           resolved_json="{}", **kw)
        return rec, loads

    return run
