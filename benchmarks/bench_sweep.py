"""Benchmark: the fast batched sweep against the authors' one-forward-per-row way (feature focus).

A Pythia-70M-shaped model with random weights (6 layers, d_model 512, vocab 50,304, rotary, parallel attn/MLP;
built offline from a HookedTransformerConfig), steering at blocks.3.hook_resid_post with 7 conditions × 32 scales
per sentence. Both ways score the same metrics; the last stdout line is one JSON object with speedup,
fast_seconds, naive_seconds, max_abs_diff, peak_rss_mb.

`--batched` adds, side by side in the same run, the sentences batched per forward and per scoring pass up to
`--memory-budget-mb` (`sweep_sentences`, what the foci run): batched_seconds, batched_speedup (over the per-call
loop), batched_vs_per_sentence (the per-sentence fast path's time over the batched one), and the max abs diffs of
the batched rows against the per-call and per-sentence rows.

    python benchmarks/bench_sweep.py [--sentences 3] [--tokens 16] [--device cpu|cuda] [--batched]
                                     [--memory-budget-mb MB] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--hook", default="blocks.3.hook_resid_post")
    ap.add_argument("--batched", action="store_true", help="also time sentences batched up to the budget")
    ap.add_argument("--memory-budget-mb", type=float, default=None,
                    help="budget of the batched way (default: execute.memory_budget_mb auto on --device)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs of each fast way (the best is kept)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from interf_dsl.backends.device import device_budget_mb
    from interf_dsl.backends.hooked import HookedBackend
    from interf_dsl.foci.feature import FeatureFocus
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

    PAPER_SCALES = list(FeatureFocus(focus="feature").scales)  # the paper's 32 α (the focus's default)
    if args.memory_budget_mb is None:
        args.memory_budget_mb = device_budget_mb(args.device)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    cfg = HookedTransformerConfig(n_layers=6, d_model=512, n_heads=8, d_head=64, d_mlp=2048, d_vocab=50304,
                                  n_ctx=2048, act_fn="gelu", normalization_type="LN", positional_embedding_type="rotary",
                                  rotary_dim=16, parallel_attn_mlp=True, device=args.device, seed=0)
    model = HookedTransformer(cfg)
    model.eval()
    backend = HookedBackend(model, name="pythia-70m-shaped")
    rng = np.random.default_rng(0)
    d_sae = 64
    W_dec = rng.normal(size=(d_sae, 512)).astype(np.float32)
    # self + 5 bins + random_direction = 7 conditions, one direction each (the feature focus's candidates, built
    # here without the atlas table so the benchmark needs no polars, like a GPU worker)
    cands = [Candidate("self", 0, unit(W_dec[0]), partner=0, I=1.0)]
    cands += [Candidate("bin", 0, unit(W_dec[10 + b]), bin=f"b{b}", partner=10 + b, I=0.1 * b, S=0.1)
              for b in range(5)]
    cands.append(Candidate("random_direction", 0, unit(rng.normal(size=512))))
    ids = [int(i) for i in rng.choice(50304, 5, replace=False)]
    probe = Probe(ids, nearest_target_cosine(backend.embedding(), ids))
    mcfg = MetricConfig()
    seqs = [rng.integers(0, 50304, args.tokens).tolist() for _ in range(args.sentences)]

    def run(naive: bool) -> tuple[float, np.ndarray]:
        t0 = time.perf_counter()
        rows = []
        for s in seqs:
            rows += sweep_sentence(backend, s, args.hook, cands, PAPER_SCALES, probe, mcfg, naive=naive)
        if args.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, np.array([[r[c] for c in METRIC_COLUMNS] for r in rows])

    def run_batched() -> tuple[float, np.ndarray]:
        t0 = time.perf_counter()
        rows = [r for got in sweep_sentences(backend, seqs, args.hook, cands, PAPER_SCALES, probe, mcfg,
                                             memory_budget_mb=args.memory_budget_mb) for r in got]
        if args.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, np.array([[r[c] for c in METRIC_COLUMNS] for r in rows])

    def best(fn) -> tuple[float, np.ndarray]:
        runs = [fn() for _ in range(max(1, args.repeat))]
        return min(t for t, _ in runs), runs[0][1]

    run(False)  # warm-up (allocator, kernels)
    if args.batched:
        run_batched()
    fast_s, fast_v = best(lambda: run(False))
    batched = best(run_batched) if args.batched else None
    naive_s, naive_v = run(True)
    diff = float(np.nanmax(np.abs(fast_v - naive_v)))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"speedup": round(naive_s / fast_s, 2), "fast_seconds": round(fast_s, 3), "naive_seconds": round(naive_s, 3),
           "max_abs_diff": diff, "peak_rss_mb": round(rss, 1), "rows_per_sentence": len(cands) * len(PAPER_SCALES),
           "sentences": args.sentences, "tokens": args.tokens, "device": args.device, "hook": args.hook,
           "threads": torch.get_num_threads()}
    if batched is not None:
        b_s, b_v = batched
        out.update(batched_seconds=round(b_s, 3), batched_speedup=round(naive_s / b_s, 2),
                   batched_vs_per_sentence=round(fast_s / b_s, 2),
                   batched_max_abs_diff=float(np.nanmax(np.abs(b_v - naive_v))),
                   batched_vs_per_sentence_max_abs_diff=float(np.nanmax(np.abs(b_v - fast_v))),
                   memory_budget_mb=args.memory_budget_mb, load_avg_1m=round(os.getloadavg()[0], 2))
    if args.device == "cuda":
        out["gpu"] = torch.cuda.get_device_name(0)
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
