"""Benchmark of the `map` step core (`interference.blocked.compute_map`): not a test.

Maps a random 32,768 × 768 decoder (GPT-2-Small SAE shape) and a 65,536 × 2,304 decoder (Gemma Scope 65k), each
with random unit gloss embeddings (384-d, all-MiniLM-L6-v2's width) so that S is computed in the same block loop,
as the `map` step does. Prints achieved FLOP/s against torch's GEMM FLOP/s measured side by side, wall time and
peak RSS. FLOPs counted: 2·n·n·d (I) + 2·n·n·e (S); the closed-form OLS sums (O(n·d²)) are extra work that is NOT
counted. The GEMM reference is measured inside the same run: after every `--ref-every`-th block the bare GEMMs of
that block (same shapes, same data, preallocated output) are timed, and that time is excluded from the map's time,
so both rates see the same machine load. Each case runs in its own process, so each peak RSS is that case's own.
Time to first result is reported apart from the steady state: `device_init_s` (CUDA context and cuBLAS, paid once
per process before any map), `first_block_s` (the first block, with any compilation) and `steady_gemm_fraction`
(the blocks after it); `process_seconds` is the fresh process end to end. `kernel` and `kernel_reason` say which
fused pass ran and why (dense.choose_kernel: compile only where it pays back; `--kernel` forces one).
The last line is one JSON object: gemm_fraction, seconds, peak_rss_mb, big_seconds, big_peak_rss_mb, ...

    python benchmarks/bench_map.py [--device cuda] [--budget-mb MB] [--skip-big] [--big-features 65536]
                                   [--kernel auto|eager|compiled]
    python benchmarks/bench_map.py --steps [--steps-features 32768]   # map + select runners on a random SAE

`--steps` pushes a random-weight sae_lens StandardSAE of GPT-2-Small shape (32,768 × 768) through the registered
`map` and `select` step runners (clustering, metric vectors, tables, figures, selection), with a synthetic atlas
(every feature active, real neuron alignments, random top tokens) and random 384-d explanation embeddings, and
reports wall time and peak RSS of that process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

EMB_DIM = 384


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_unit(n: int, d: int, device: str, seed: int):
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    w = torch.empty(n, d, device=device)
    for r0 in range(0, n, 4096):  # fill and normalise in place, chunk by chunk: no second copy
        w[r0:r0 + 4096].normal_(generator=g)
        w[r0:r0 + 4096] /= w[r0:r0 + 4096].norm(dim=1, keepdim=True)
    return w


class SideBySide:
    """Progress handle that times the bare GEMMs of every k-th block right after the map has processed it."""

    def __init__(self, v, e, block_rows: int, every: int, device: str) -> None:
        import torch

        self.v, self.e, self.every, self.device = v, e, every, device
        self.out = torch.empty(block_rows, v.shape[0], device=device)
        self.r0 = self.blocks = 0
        self.ref_seconds = self.ref_flops = 0.0

    def _sync(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def advance(self, nr: int) -> None:
        import torch

        if self.blocks % self.every == 0:
            self._sync()
            t0 = time.perf_counter()
            torch.mm(self.v[self.r0:self.r0 + nr], self.v.T, out=self.out[:nr])
            torch.mm(self.e[self.r0:self.r0 + nr], self.e.T, out=self.out[:nr])
            self._sync()
            self.ref_seconds += time.perf_counter() - t0
            self.ref_flops += 2.0 * nr * self.v.shape[0] * (self.v.shape[1] + self.e.shape[1])
        self.blocks += 1
        self.r0 += nr


def run_case(n: int, d: int, device: str, budget_mb: float | None, ref_every: int) -> dict:
    import torch

    from interf_dsl.interference.bins import parse_bins
    from interf_dsl.interference.blocked import block_budget_mb, block_rows_for, compute_map

    t_init = time.perf_counter()  # device start-up (CUDA context, cuBLAS), paid once per process before any map
    torch.mm(torch.ones(8, 8, device=device), torch.ones(8, 8, device=device))
    if device == "cuda":
        torch.cuda.synchronize()
    device_init_s = time.perf_counter() - t_init
    v, e = random_unit(n, d, device, seed=0), random_unit(n, EMB_DIM, device, seed=1)
    if budget_mb is None:  # the map step's own block budget on this device (a CPU: map.memory_budget_mb's default)
        budget_mb = block_budget_mb(1024, device)
    ref = SideBySide(v, e, block_rows_for(n, budget_mb), ref_every, device)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    out = compute_map(v, e, parse_bins(None), (0.4, 0.3, 0.2, 0.15), top_partners=20, memory_budget_mb=budget_mb,
                      progress=ref)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    seconds = wall - ref.ref_seconds
    gemm_rate = ref.ref_flops / ref.ref_seconds
    # steady state: the blocks after the first (whose time includes any compilation and first-call costs)
    steady_s = out.seconds - ref.ref_seconds - out.first_block_s
    rest = (n - out.block_rows) / n
    from interf_dsl.interference.dense import I_THRESHOLDS

    return {"n": n, "d": d, "e": EMB_DIM, "seconds": seconds, "wall_with_reference": wall, "flops": out.flops,
            "budget_mb": budget_mb, "device_init_s": device_init_s, "first_block_s": out.first_block_s,
            "outside_loop_s": seconds - (out.seconds - ref.ref_seconds),  # set-up before, tables after the blocks
            "steady_gemm_fraction": (out.flops * rest / steady_s) / gemm_rate if rest > 0 and steady_s > 0 else None,
            "gflop_s": out.flops / seconds / 1e9, "gemm_gflop_s": gemm_rate / 1e9,
            "gemm_fraction": (out.flops / seconds) / gemm_rate,
            "reference_blocks": -(-ref.blocks // ref_every), "blocks": ref.blocks, "block_rows": out.block_rows,
            "peak_rss_mb": peak_rss_mb(), "threads": torch.get_num_threads(), "load_before": load0,
            "load_after": os.getloadavg(), "pairs_kept": int(out.bin_rows["feature"].numel()),
            "kernel": out.kernel, "kernel_reason": out.kernel_note,
            "frac_I_below_0.1": float(out.i_below[I_THRESHOLDS.index(0.1)]) / (n * (n - 1.0))}


class _Ctx:
    """The slice of StepContext the map and select runners use."""

    def __init__(self, params, work_dir, inputs, sae=None):
        self.params, self.work_dir, self.inputs, self._sae = params, work_dir, inputs, sae
        self.logs: list[str] = []

    def inputs_of_kind(self, kind):
        return iter([(k, r) for k, (kd, r) in self.inputs.items() if kd == kind])

    def sae(self, source, hook_name):
        return self._sae

    def progress(self, total, description=""):
        return None

    def log(self, message):
        self.logs.append(message)


def run_steps(n: int, budget_mb: float) -> dict:
    """map + select through the registered runners on a random n × 768 sae_lens SAE (GPT-2-Small shape)."""
    import tempfile
    from pathlib import Path

    import numpy as np
    import polars as pl
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig

    from interf_dsl.atlas.tables import neuron_alignments
    from interf_dsl.steps import StepResult, get_runner

    torch.manual_seed(0)
    sae = StandardSAE(StandardSAEConfig(d_in=768, d_sae=n))
    with torch.no_grad():
        w = sae.W_dec.normal_()
        w /= w.norm(dim=1, keepdim=True)
        # plant one target per 256 features with a partner in each interference bin above the first (random
        # 768-d directions alone have no pair above 0.2, so no feature would qualify as a target)
        t = torch.arange(0, n - 4, 256)
        for j, c in enumerate((0.15, 0.25, 0.35, 0.5), 1):
            w[t + j] = c * w[t] + (1 - c * c) ** 0.5 * w[t + j]
    rng = np.random.default_rng(0)
    n_val, n_idx = neuron_alignments(sae, 3)
    vocab = [f"tok{i}" for i in range(1000)]
    top_ids = rng.integers(0, 1000, (n, 5))
    feats = pl.DataFrame({
        "source": "gpt2", "hook": "blocks.8.hook_resid_pre", "feature": np.arange(n), "frequency": 0.01,
        "max_act": 1.0, "active": np.ones(n, dtype=bool),
        "top_tokens": pl.Series([[vocab[i] for i in row] for row in top_ids], dtype=pl.List(pl.Utf8)),
        "top_token_ids": pl.Series(top_ids.tolist(), dtype=pl.List(pl.Int64)),
        "top_token_acts": pl.Series(np.ones((n, 5)).tolist(), dtype=pl.List(pl.Float64)),
        "neuron_idx": pl.Series(n_idx.tolist(), dtype=pl.List(pl.Int64)),
        "neuron_val": pl.Series(n_val.double().tolist(), dtype=pl.List(pl.Float64)), "logit_tokens": [["x"]] * n})
    vocab_t = pl.DataFrame({"token_id": np.arange(1000), "token_str": vocab, "count": np.ones(1000, dtype=np.int64)})
    emb = rng.normal(size=(n, EMB_DIM)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    emb_t = pl.DataFrame({"source": "gpt2", "hook": "blocks.8.hook_resid_pre", "feature": np.arange(n),
                          "vector": pl.Series(emb, dtype=pl.Array(pl.Float32, EMB_DIM)).cast(pl.List(pl.Float32))})
    del emb
    atlas = StepResult(tables={"features": feats, "vocab": vocab_t, "contexts": pl.DataFrame()})
    embed = StepResult(tables={"embeddings": emb_t})
    map_p = {"metrics": ["decoder_cos"], "thresholds": [0.4, 0.3, 0.2, 0.15], "top_partners": 20,
             "memory_budget_mb": budget_mb, "linkage": "average", "selection": "pairwise", "targets_per_layer": 10,
             "partners_per_bin": 3}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        params = {"source": "gpt2", "sae": "random", "hook_name": "blocks.8.hook_resid_pre", "map": map_p}
        res = get_runner("map")(_Ctx(params, Path(tmp) / "map",
                                     {"atlas:g": ("atlas", atlas), "embed:g": ("embed", embed)}, sae))
        t_map = time.perf_counter() - t0
        map_peak = peak_rss_mb()  # peak of everything up to and including the map step (select comes after)
        del atlas, embed, feats, emb_t
        sel = get_runner("select")(_Ctx({"map": map_p, "seeds": {"gpt2": 53}}, Path(tmp) / "select",
                                        {"map:g": ("map", res)}))
        seconds = time.perf_counter() - t0
    targets, partners = sel.tables["targets"], sel.tables["partners"]
    # the select outputs' digest: a pairs-table layout change must leave it unchanged
    digest = hashlib.sha256(targets.write_csv().encode() + partners.write_csv().encode()).hexdigest()[:16]
    return {"n": n, "seconds": seconds, "map_seconds": t_map, "peak_rss_mb": peak_rss_mb(), "map_peak_rss_mb": map_peak,
            "pairs_rows": res.tables["pairs"].height, "clustering": res.meta["clustering"],
            "kernel": res.meta["decoder_cos.kernel"], "targets": targets.height, "partners": partners.height,
            "target_taus": sorted(set(targets["tau"].to_list())), "select_sha256": digest,
            "load": os.getloadavg()}


def _child(args) -> dict:
    """Run one case in a fresh process (so its peak RSS is its own) and return its JSON line."""
    cmd = [sys.executable, __file__, "--case", f"{args[0]}x{args[1]}", "--device", args[2], "--ref-every",
           str(args[4]), "--kernel", args[5]] + (["--budget-mb", str(args[3])] if args[3] is not None else [])
    t0 = time.perf_counter()
    got = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if got.returncode != 0:
        raise SystemExit(f"case {args[0]}x{args[1]} failed:\n{got.stderr}")
    # process_seconds: the fresh process end to end (imports, device start-up, data, map, reference GEMMs)
    return json.loads(got.stdout.strip().splitlines()[-1]) | {"process_seconds": time.perf_counter() - t0}


def _fmt(x: float | None) -> str:
    return "n/a (one block)" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budget-mb", type=float, default=None,
                    help="block budget (default: 128 on a CPU, as in the recorded CPU figures; on a GPU the map "
                         "step's own, blocked.block_budget_mb)")
    ap.add_argument("--ref-every", type=int, default=4, help="time the bare GEMMs after every k-th block")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--big-features", type=int, default=65536, help="width of the big case (d = 2304)")
    ap.add_argument("--steps", action="store_true", help="map + select runners on a random GPT-2-Small-shape SAE")
    ap.add_argument("--steps-features", type=int, default=32768)
    ap.add_argument("--kernel", choices=("auto", "eager", "compiled"), default="auto",
                    help="the map kernel: the map's own choice (auto), or forced, to measure what compiling pays")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: NxD, run one case in this process
    args = ap.parse_args()
    if args.budget_mb is None and args.device == "cpu":
        args.budget_mb = 128.0
    if args.steps:
        print(json.dumps(run_steps(args.steps_features, args.budget_mb or 1024.0)))
        return
    if args.kernel != "auto":
        from interf_dsl.interference import dense

        dense.FORCE = args.kernel
    if args.case:
        n, d = (int(x) for x in args.case.split("x"))
        print(json.dumps(run_case(n, d, args.device, args.budget_mb, args.ref_every)))
        return
    res = _child((32768, 768, args.device, args.budget_mb, args.ref_every, args.kernel))
    print(f"32768x768: {res['seconds']:.2f} s ({res['kernel']}; first block {res['first_block_s']:.2f} s), "
          f"{res['gflop_s']:.1f} GFLOP/s vs GEMM {res['gemm_gflop_s']:.1f} GFLOP/s ({res['gemm_fraction']:.2f}; "
          f"steady {_fmt(res['steady_gemm_fraction'])}), peak RSS {res['peak_rss_mb']:.0f} MB, "
          f"load {res['load_before']}", flush=True)
    summary = {"device": args.device, "threads": res["threads"], "budget_mb": args.budget_mb,
               "gemm_fraction": res["gemm_fraction"], "seconds": res["seconds"], "peak_rss_mb": res["peak_rss_mb"],
               "gflop_s": res["gflop_s"], "gemm_gflop_s": res["gemm_gflop_s"], "block_rows": res["block_rows"],
               "load_before": res["load_before"], "load_after": res["load_after"],
               "frac_I_below_0.1": res["frac_I_below_0.1"], "kernel": res["kernel"],
               "kernel_reason": res["kernel_reason"], "process_seconds": res["process_seconds"],
               "device_init_s": res["device_init_s"], "first_block_s": res["first_block_s"],
               "steady_gemm_fraction": res["steady_gemm_fraction"], "block_budget_mb": res["budget_mb"]}
    if not args.skip_big:
        big = _child((args.big_features, 2304, args.device, args.budget_mb, max(args.ref_every, 8), args.kernel))
        summary.update(big_features=args.big_features, big_seconds=big["seconds"],
                       big_peak_rss_mb=big["peak_rss_mb"], big_gflop_s=big["gflop_s"],
                       big_gemm_gflop_s=big["gemm_gflop_s"], big_gemm_fraction=big["gemm_fraction"],
                       big_load_before=big["load_before"], big_load_after=big["load_after"], big_kernel=big["kernel"],
                       big_process_seconds=big["process_seconds"], big_first_block_s=big["first_block_s"],
                       big_steady_gemm_fraction=big["steady_gemm_fraction"], big_block_rows=big["block_rows"])
        print(f"{args.big_features}x2304: {big['seconds']:.2f} s ({big['gemm_fraction']:.2f} of GEMM; steady "
              f"{_fmt(big['steady_gemm_fraction'])}; {big['kernel']}), peak RSS {big['peak_rss_mb']:.0f} MB",
              flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
