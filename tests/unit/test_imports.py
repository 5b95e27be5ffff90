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


def test_function_level_imports_of_interf_modules_say_why() -> None:
    """Imports of interf modules live at module level; the few kept inside a function (a heavy library behind them,
    or the CLI loading only the stages a command needs) carry a `# lazy: <reason>` comment."""
    import ast

    missing = []
    for path in sorted((ROOT / "interf_dsl").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for fn in ast.walk(ast.parse(text)):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                module = node.module if isinstance(node, ast.ImportFrom) else \
                    (node.names[0].name if isinstance(node, ast.Import) else None)
                if module and module.startswith("interf_dsl") and "# lazy:" not in lines[node.lineno - 1]:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not missing, f"function-level interf imports without a `# lazy:` reason: {missing}"


BASE_INSTALL = f"""
import sys
for m in {HEAVY + ("numpy", "httpx", "fastapi", "uvicorn", "safetensors", "transformers")!r}:
    sys.modules[m] = None  # absent, as on `pip install interf` without extras
from interf_dsl.parse import load_spec
from interf_dsl.plan import compile_plan
from interf_dsl.plan.render import render_tree
from interf_dsl.resolve import resolve_spec
from interf_dsl.resolve.listing import render_listing
for spec in {[str(p) for p in sorted((ROOT / "specs").rglob("*")) if p.suffix in (".yaml", ".interf")]!r}:
    render_tree(compile_plan(resolve_spec(load_spec(spec))))
render_listing()
import interf_dsl.cli
print("BASE-OK")
"""


def test_validate_plan_and_list_need_only_the_base_install() -> None:
    """`interf validate/plan/list` on a base install: no numpy, torch, litellm or any other extra (CI installs the
    wheel alone to check the same)."""
    out = subprocess.run([sys.executable, "-c", BASE_INSTALL], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().endswith("BASE-OK"), out.stdout[-2000:] + out.stderr[-3000:]


LEAN_WORKER = """
import sys
for name in ("polars", "scipy", "statsmodels", "sae_lens", "litellm", "matplotlib", "sentence_transformers"):
    sys.modules[name] = None  # a GPU or Ray worker has torch, numpy and transformer_lens, nothing of the driver
import numpy as np
import torch
import interf_dsl.backends.hooked, interf_dsl.interference.blocked
from interf_dsl.interventions.sweep import MetricConfig, Probe, score_rows
from interf_dsl.metrics.device import score_logits
base, new = np.zeros(5, np.float32), np.eye(5, dtype=np.float32)
probe = Probe([1], np.linspace(0, 1, 5))
ref = score_rows(base, new, probe, MetricConfig())
got = score_logits(base, new, probe.on("cpu"), None, 1e-8).numpy()
assert np.allclose(got[:, 8], ref["kl"]) and np.allclose(got[:, 10], ref["entropy_change"])
"""


def test_compute_paths_need_no_driver_libraries() -> None:
    """The sweep, its metrics (device and numpy reference) and the map kernel import and run without polars,
    scipy, statsmodels, sae_lens, litellm or matplotlib: lean GPU / Ray workers carry only the compute stack."""
    subprocess.run([sys.executable, "-c", LEAN_WORKER], check=True, cwd=Path(__file__).parents[2], timeout=120)
