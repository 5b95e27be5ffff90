"""Lean compute workers: the sweep, the metrics on the device and the map kernel import and run without polars (a
GPU or Ray worker has torch, numpy, transformer_lens and sae_lens; tables are built on the driver). Fresh
interpreter; the code below runs a batched sweep on a tiny model and a blocked map, so function-level imports count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
import numpy as np
import torch
from transformer_lens import HookedTransformer, HookedTransformerConfig
from interf_dsl.backends.hooked import HookedBackend
from interf_dsl.foci.feature import FeatureFocus  # what benchmarks/bench_sweep.py imports
from interf_dsl.interference.bins import parse_bins
from interf_dsl.interference.blocked import compute_map
from interf_dsl.interventions.sweep import Candidate, MetricConfig, Probe, sweep_sentence, sweep_sentences, unit
from interf_dsl.metrics import nearest_target_cosine
from interf_dsl.metrics.device import score_logits

cfg = HookedTransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=50, n_ctx=16,
                              act_fn="gelu", normalization_type="LN", seed=0)
backend = HookedBackend(HookedTransformer(cfg), name="tiny")
rng = np.random.default_rng(0)
cands = [Candidate("self", 0, unit(rng.normal(size=16)))]
probe = Probe([3, 7], nearest_target_cosine(backend.embedding(), [3, 7]))
rows = sweep_sentences(backend, [[1, 2, 3], [4, 5]], "blocks.0.hook_resid_post", cands, [0.5, 2.0], probe,
                       MetricConfig(), memory_budget_mb=64)
rows += [sweep_sentence(backend, [1, 2, 3], "blocks.0.hook_resid_post", cands, [1.0], probe, MetricConfig())]
v = torch.nn.functional.normalize(torch.randn(64, 8), dim=1)
m = compute_map(v, torch.nn.functional.normalize(torch.randn(64, 4), dim=1),
                parse_bins("[0,.1) [.1,.2) [.2,.3) [.3,.4) [.4,1]"), (0.4, 0.2))
assert len(rows) == 3 and all(rows) and m.block_rows > 0
print("POLARS:" + str("polars" in sys.modules) + " FOCUS:" + str(len(FeatureFocus(focus="feature").scales)))
"""


def test_sweep_metrics_and_map_kernel_run_without_polars() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "POLARS:False" in out.stdout, out.stdout + out.stderr[-2000:]
