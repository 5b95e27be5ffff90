"""Import hygiene: validating and planning a spec imports no heavy library (fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformer_lens", "sae_lens", "litellm", "sentence_transformers", "matplotlib", "scipy",
         "statsmodels")

CODE = f"""
import sys
from interf_dsl import load_spec, resolve_spec, compile_plan
from interf_dsl.plan.render import render_tree
plan = compile_plan(resolve_spec(load_spec({str(ROOT / 'specs/transfer_llama.interf')!r})))
render_tree(plan)
import interf_dsl.cli
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def test_validate_and_plan_import_nothing_heavy() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().endswith("HEAVY:"), out.stdout + out.stderr


def test_layers_contract_holds() -> None:
    """parse → resolve → plan → execute → report import one way, kinds below, core at the bottom (pyproject.toml)."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "0 broken" in out.stdout, out.stdout[-3000:] + out.stderr[-2000:]
