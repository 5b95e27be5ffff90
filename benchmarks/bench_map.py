"""Benchmark of the `map` step core (`interference.blocked.compute_map`): not a test.

Maps a random 32,768 × 768 decoder (GPT-2-Small SAE shape) and a 65,536 × 2,304 decoder (Gemma Scope 65k), and
prints achieved FLOP/s against torch's measured GEMM FLOP/s on the same device, wall time and peak RSS. The last
line is one JSON object: gemm_fraction, seconds, peak_rss_mb, big_seconds, big_peak_rss_mb, ...

    python benchmarks/bench_map.py [--device cuda] [--budget-mb 256] [--skip-big]
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def gemm_flops(device: str, n: int, d: int, rows: int) -> float:
    """FLOP/s of the same block GEMM shape (rows × d) @ (d × n) the map runs, best of three."""
    import torch

    a, b = torch.randn(rows, d, device=device), torch.randn(n, d, device=device)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        c = a @ b.T
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
        del c
    return 2.0 * rows * n * d / best


def random_unit_decoder(n: int, d: int, device: str, seed: int):
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    w = torch.empty(n, d, device=device)
    for r0 in range(0, n, 4096):  # fill and normalise in place, chunk by chunk: no second copy
        w[r0:r0 + 4096].normal_(generator=g)
        w[r0:r0 + 4096] /= w[r0:r0 + 4096].norm(dim=1, keepdim=True)
    return w


def run_map(n: int, d: int, device: str, budget_mb: float) -> dict:
    import torch

    from interf_dsl.interference.bins import parse_bins
    from interf_dsl.interference.blocked import compute_map

    w = random_unit_decoder(n, d, device, seed=0)
    t0 = time.perf_counter()
    out = compute_map(w, None, parse_bins(None), (0.4, 0.3, 0.2, 0.15), top_partners=20,
                      memory_budget_mb=budget_mb)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    return {"n": n, "d": d, "seconds": seconds, "flops": out.flops, "flop_s": out.flops / seconds,
            "block_rows": out.block_rows, "pairs_kept": int(out.top_rows["feature"].numel()),
            "frac_below_0.1": float(out.hist_i[:110].sum() / out.hist_i.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budget-mb", type=float, default=256.0)
    ap.add_argument("--skip-big", action="store_true")
    args = ap.parse_args()
    import torch

    res = run_map(32768, 768, args.device, args.budget_mb)
    res["peak_rss_mb"] = peak_rss_mb()
    ref = gemm_flops(args.device, 32768, 768, res["block_rows"])
    res["gemm_flop_s"] = ref
    res["gemm_fraction"] = res["flop_s"] / ref
    print(f"32768x768: {res['seconds']:.1f} s, {res['flop_s'] / 1e9:.1f} GFLOP/s vs GEMM {ref / 1e9:.1f} GFLOP/s "
          f"({res['gemm_fraction']:.2f}), peak RSS {res['peak_rss_mb']:.0f} MB", flush=True)
    summary = {"device": args.device, "threads": torch.get_num_threads(), "budget_mb": args.budget_mb,
               "gemm_fraction": res["gemm_fraction"], "seconds": res["seconds"], "peak_rss_mb": res["peak_rss_mb"],
               "gflop_s": res["flop_s"] / 1e9, "gemm_gflop_s": ref / 1e9, "block_rows": res["block_rows"],
               "frac_I_below_0.1": res["frac_below_0.1"]}
    if not args.skip_big:
        big = run_map(65536, 2304, args.device, args.budget_mb)
        summary.update(big_seconds=big["seconds"], big_peak_rss_mb=peak_rss_mb(),
                       big_gflop_s=big["flop_s"] / 1e9)
        print(f"65536x2304: {big['seconds']:.1f} s, peak RSS {summary['big_peak_rss_mb']:.0f} MB", flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
