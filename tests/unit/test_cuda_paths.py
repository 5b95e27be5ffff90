"""The GPU paths against the CPU reference numbers: the blocked map (whole-row chunks, either kernel) and the sweep
(sentences batched on the device). Marked `gpu` and skipped without CUDA; `benchmarks/gpu_check.sh` runs them on a
lent GPU machine (`pytest -m gpu`). Imports no polars: the device image has none."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from interf_dsl.interference import dense
from interf_dsl.interference.bins import parse_bins
from interf_dsl.interference.blocked import compute_map
from interf_dsl.interventions.sweep import (
    METRIC_COLUMNS,
    Candidate,
    MetricConfig,
    Probe,
    sweep_sentence,
    sweep_sentences,
    unit,
)
from interf_dsl.metrics import nearest_target_cosine

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
TAUS = (0.4, 0.3, 0.2, 0.15)


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def _margin(values: torch.Tensor, cuts) -> float:
    return float(min((values - c).abs().min() for c in cuts))


@pytest.mark.parametrize("kernel", ["eager", "compiled"])
def test_map_on_cuda_equals_cpu(kernel, monkeypatch):
    """Same counts, App. F numbers and sampled partners as the CPU map (values kept clear of every cut, so float
    differences between the devices' GEMMs cannot move a pair across a threshold)."""
    bins = parse_bins(None)
    cuts_i, cuts_s = (*bins.edges, *dense.I_THRESHOLDS, 0.2), (*TAUS, *dense.S_THRESHOLDS, 0.3)
    off = ~torch.eye(300, dtype=torch.bool)
    for seed in range(200):  # the first seed whose pairs all sit >= 1e-4 from every cut
        g = torch.Generator().manual_seed(seed)
        v, e = _unit_rows(torch.randn(300, 6, generator=g)), _unit_rows(torch.randn(300, 4, generator=g))
        if _margin((v @ v.T)[off], cuts_i) > 1e-4 and _margin((e @ e.T)[off], cuts_s) > 1e-4:
            break
    cpu = compute_map(v, e, bins, TAUS, top_partners=6, memory_budget_mb=0.05, chunk_cols=64)
    monkeypatch.setattr(dense, "FORCE", kernel)
    gpu = compute_map(v.cuda(), e.cuda(), bins, TAUS, top_partners=6, memory_budget_mb=1)
    assert gpu.kernel == kernel, gpu.kernel_note
    assert torch.equal(cpu.counts, gpu.counts) and cpu.counts.sum() > 0
    assert torch.equal(cpu.i_below, gpu.i_below) and torch.equal(cpu.s_below, gpu.s_below)
    keys = {"bin_rows": ("feature", "partner", "bin", "tau_first", "tau_last", "pos"),
            "top_rows": ("feature", "partner", "rank"), "link_rows": ("feature", "partner")}
    for rows, cols in keys.items():  # the same rows; their order follows the blocks, which differ
        a, b = (sorted(zip(*(getattr(m, rows)[c].cpu().tolist() for c in cols), strict=True)) for m in (cpu, gpu))
        assert a == b and a, rows


@pytest.fixture(scope="module")
def backends():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from interf_dsl.backends.hooked import HookedBackend

    cfg = HookedTransformerConfig(n_layers=3, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=60, n_ctx=32,
                                  act_fn="gelu", normalization_type="LN", positional_embedding_type="rotary",
                                  rotary_dim=8, seed=3, device="cpu")
    model = HookedTransformer(cfg)
    return HookedBackend(model, name="tiny"), HookedBackend(copy.deepcopy(model).to("cuda"), name="tiny-cuda")


@pytest.mark.parametrize("kind", ["add", "scale"])
def test_cuda_sweep_equals_the_cpu_per_call_reference(backends, kind) -> None:
    cpu, gpu = backends
    rng = np.random.default_rng(1)
    if kind == "add":
        cands = [Candidate("self", 0, unit(rng.normal(size=16))), Candidate("bin", 0, unit(rng.normal(size=16)))]
        hook = "blocks.1.hook_resid_post"
    else:
        cands = [Candidate("neuron", 0, coordinate=5), Candidate("random_coordinate", 0, coordinate=9)]
        hook = "blocks.1.mlp.hook_post"
    ids = [4, 17, 33]
    probe, cfg = Probe(ids, nearest_target_cosine(cpu.embedding(), ids)), MetricConfig()
    seqs = [rng.integers(0, 60, n).tolist() for n in (7, 3, 11, 1, 5)]  # ragged: padding matters
    scales = [-4.0, 0.0, 0.5, 8.0]
    batched = sweep_sentences(gpu, seqs, hook, cands, scales, probe, cfg, kind=kind, memory_budget_mb=1024)
    for seq, rows in zip(seqs, batched, strict=True):
        naive = sweep_sentence(cpu, seq, hook, cands, scales, probe, cfg, kind=kind, naive=True)
        got = np.array([[r[c] for c in METRIC_COLUMNS] for r in rows])
        want = np.array([[r[c] for c in METRIC_COLUMNS] for r in naive])
        assert np.nanmax(np.abs(got - want)) <= 1e-5
        assert np.ptp(got[:, METRIC_COLUMNS.index("kl")]) > 0
