"""Benchmark: how long the paper's feature and token studies take on this machine, from measured units.

Compiles `specs/paper/feature.yaml` and `specs/paper/token.yaml` offline (the planned forward and gradient passes of
every intervene step), then measures the units those passes are made of on random-weight models of the real shapes
(GPT-2-Small: 12 layers x 768, vocabulary 50,257; Pythia-70M: 6 layers x 512, vocabulary 50,304, rotary, parallel
attention/MLP), with the loops' own sweep (`interventions.sweep.sweep_sentences`: one sentence at a time on a
CPU, a target's sentences batched up to `--memory-budget-mb` on an accelerator; metrics on the device):

* feature focus: one target x sentence = the baseline forward plus (conditions x scales) steered rows from the SAE
  hook on, measured at the first, middle and last layer (the plan spreads targets evenly over layers);
* token focus: the same at the embedding (every row runs the whole model), plus one input-embedding gradient.

The extrapolation is planned passes / measured passes per second, per source and focus; the last stdout line is one
JSON object. Needs neither the weights nor polars (a GPU worker's stack: torch, numpy, transformer_lens, pydantic).

    python benchmarks/bench_paper_scale.py [--device cuda] [--sentences N] [--tokens 24] [--memory-budget-mb MB]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]

SHAPES = {
    "gpt2-small": {"n_layers": 12, "d_model": 768, "n_heads": 12, "d_head": 64, "d_mlp": 3072, "d_vocab": 50257,
                   "n_ctx": 1024, "act_fn": "gelu_new", "normalization_type": "LN"},
    "pythia-70m-deduped": {"n_layers": 6, "d_model": 512, "n_heads": 8, "d_head": 64, "d_mlp": 2048, "d_vocab": 50304,
                           "n_ctx": 2048, "act_fn": "gelu", "normalization_type": "LN",
                           "positional_embedding_type": "rotary", "rotary_dim": 16, "parallel_attn_mlp": True},
}


def planned(spec: str) -> dict[str, dict[str, int]]:
    """Forward and gradient passes of the spec's intervene steps, per source model."""
    from interf_dsl.parse import load_spec
    from interf_dsl.plan import compile_plan
    from interf_dsl.resolve import resolve_spec

    resolved = resolve_spec(load_spec(ROOT / spec))
    plan = compile_plan(resolved)
    out: dict[str, dict[str, int]] = {}
    for step in plan.steps:
        if step.kind != "intervene":
            continue
        model = resolved.sources[step.params["source"]].model
        acc = out.setdefault(model, {"forward_passes": 0, "gradient_passes": 0, "rows_per_unit": 0})
        acc["forward_passes"] += step.estimate.forward_passes
        acc["gradient_passes"] += step.estimate.gradient_passes
    return out


def sentences_of(spec: str) -> int:
    """Sentences one target is measured on (the focus's estimate), at least 1: what the loops batch per sweep."""
    from interf_dsl.foci._base import sentences_per_target
    from interf_dsl.parse import load_spec
    from interf_dsl.resolve import resolve_spec

    r = resolve_spec(load_spec(ROOT / spec))
    return max(1, round(sentences_per_target(r, r.interventions[0])))


def rows_per_unit(spec: str) -> int:
    """Steered rows of one target x sentence: (forward passes per unit) - 1 baseline, from the focus's estimate."""
    from interf_dsl.foci import FOCI
    from interf_dsl.foci._base import sentences_per_target, targets_of
    from interf_dsl.parse import load_spec
    from interf_dsl.resolve import resolve_spec

    r = resolve_spec(load_spec(ROOT / spec))
    block = r.interventions[0]
    work = FOCI.get(block.focus).estimate(block, r, 1)
    per_layer = getattr(block, "targets_per_layer", None) or r.map.targets_per_layer
    units = targets_of(r, 1, per_layer) * sentences_per_target(r, block)
    return int(work.forward_passes // units) - 1


def measure(shape: str, device: str, hooks: list[str], rows: int, sentences: int, tokens: int,
            gradient: bool, memory_budget_mb: float) -> dict[str, float]:
    """Passes per second of the sweep at `hooks` (rows steered per sentence), and seconds per gradient pass.

    The sweep is the loops' own: on a CPU one sentence at a time, on an accelerator a target's sentences batched
    up to `memory_budget_mb` (`sweep_sentences`, as interventions.loops does)."""
    import numpy as np
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from interf_dsl.backends.hooked import HookedBackend
    from interf_dsl.interventions.sweep import (
        Candidate,
        MetricConfig,
        Probe,
        sweep_sentence,
        sweep_sentences,
        unit,
    )
    from interf_dsl.metrics import nearest_target_cosine

    torch.manual_seed(0)
    model = HookedTransformer(HookedTransformerConfig(**SHAPES[shape], device=device, seed=0))
    model.eval()
    backend = HookedBackend(model, name=shape)
    rng = np.random.default_rng(0)
    vocab, d = SHAPES[shape]["d_vocab"], SHAPES[shape]["d_model"]
    ids = [int(i) for i in rng.choice(vocab, 5, replace=False)]
    probe = Probe(ids, nearest_target_cosine(backend.embedding(), ids))
    scales = np.linspace(-20, 20, 32).tolist()
    n_dirs = max(1, rows // len(scales))
    cands = [Candidate("bin", k, unit(rng.normal(size=d))) for k in range(n_dirs)]
    seqs = [rng.integers(0, vocab, tokens).tolist() for _ in range(sentences)]

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    sweep_sentence(backend, seqs[0], hooks[0], cands[:1], scales[:2], probe, MetricConfig())  # warm-up
    sync()
    budget = None if backend.on_cpu else memory_budget_mb
    t0, passes = time.perf_counter(), 0
    for hook in hooks:
        sweep_sentences(backend, seqs, hook, cands, scales, probe, MetricConfig(), memory_budget_mb=budget)
        passes += len(seqs) * (1 + len(cands) * len(scales))
    sync()
    out = {"passes_per_s": passes / (time.perf_counter() - t0), "rows_per_unit": len(cands) * len(scales)}
    if gradient:
        t0 = time.perf_counter()
        for s in seqs:
            backend.embed_gradient(s, hooks[0] if hooks[0] != "hook_embed" else "blocks.0.hook_resid_post",
                                   [tokens - 1], rng.normal(size=d).astype(np.float32))
        sync()
        out["seconds_per_gradient"] = (time.perf_counter() - t0) / len(seqs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sentences", type=int, default=None,
                    help="sentences measured per hook (default: the spec's sentences per target, batched as the "
                         "loops batch them on an accelerator)")
    ap.add_argument("--memory-budget-mb", type=float, default=None,
                    help="execute.memory_budget_mb on an accelerator (default: auto, as the run resolves it)")
    ap.add_argument("--tokens", type=int, default=24, help="tokens per sentence (mined prefixes are short)")
    args = ap.parse_args()

    import torch

    from interf_dsl.backends.device import device_budget_mb

    if args.memory_budget_mb is None:
        args.memory_budget_mb = device_budget_mb(args.device)
    studies = {"feature": "specs/paper/feature.yaml", "token": "specs/paper/token.yaml"}
    report: dict = {"device": args.device, "threads": torch.get_num_threads(), "tokens": args.tokens,
                    "memory_budget_mb": args.memory_budget_mb, "studies": {}}
    if args.device.startswith("cuda"):
        report["gpu"] = torch.cuda.get_device_name(0)
    total_h = 0.0
    for focus, spec in studies.items():
        plan, rows = planned(spec), rows_per_unit(spec)
        sentences = args.sentences or sentences_of(spec)
        study: dict = {"spec": spec, "rows_per_unit": rows, "sentences": sentences, "sources": {}}
        for model, work in plan.items():
            n = SHAPES[model]["n_layers"]
            hooks = (["hook_embed"] if focus == "token" else
                     [f"blocks.{k}.hook_resid_post" for k in sorted({0, n // 2, n - 1})])
            m = measure(model, args.device, hooks, rows, sentences, args.tokens, gradient=focus == "token",
                        memory_budget_mb=args.memory_budget_mb)
            hours = work["forward_passes"] / m["passes_per_s"] / 3600
            hours += work["gradient_passes"] * m.get("seconds_per_gradient", 0.0) / 3600
            study["sources"][model] = {**work, **m, "hours": hours}
            total_h += hours
            print(f"{focus} {model}: {m['passes_per_s']:.0f} passes/s, {work['forward_passes']:,} planned "
                  f"-> {hours:.2f} h", flush=True)
        study["hours"] = sum(s["hours"] for s in study["sources"].values())
        report["studies"][focus] = study
    report["hours"] = total_h
    print(json.dumps(report))


if __name__ == "__main__":
    main()
