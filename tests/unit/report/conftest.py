"""Fixtures for the report tests: finished runs of the engine-test plan (test-only kinds, no models)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "execute"))

for _k, _v in {"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}.items():
    os.environ.setdefault(_k, _v)

@pytest.fixture
def make_run(tmp_path: Path):
    """make_run(run_id, **make_plan kwargs) -> run directory."""
    from engine_kinds import make_plan

    from interf_dsl.pipeline import run_plan as execute_plan

    def make(run_id: str, **kw) -> Path:
        rec = execute_plan(make_plan(**kw), spec_path=tmp_path / "spec.yaml", spec_text="experiment: {name: demo}",
                           resolved_json="{}", reports_root=tmp_path / "reports", cache_dir=tmp_path / "cache",
                           run_id=run_id, quiet=True)
        return Path(rec.run_dir)

    return make
