"""Zoo build, step 5: TopK sparse autoencoders on the source models, saved in sae_lens' on-disk format.

Input: a trained zoo model folder and the training token stream. Output: `saes/<model>/<L1.resid_post>/` with
`cfg.json` + `sae_weights.safetensors` as written by `sae_lens.TopKSAE.save_model` (fp16 weights to keep the
committed zoo under 30 MB; `load_sae` upcasts to float32), and per-SAE metrics (`sae_metrics.py`).

Why our own loop and not sae_lens' training runner: the runner re-runs the model for every buffer and trains one
hook at a time; on 2 shared CPU cores caching the six hook points of a model in one pass and training a TopK SAE on
the cache is several times faster. The trained weights are then handed to a real `TopKSAE` and saved by sae_lens,
so loading goes through `SAE.load_from_disk` exactly as for any sae_lens SAE.

Training details (OpenAI-style TopK): inputs are divided by one scalar (their RMS norm) during training and the scale
is folded back into the biases at save time; decoder rows are kept unit-norm; an AuxK loss on features that have not
fired for a while revives dead features. Position 0 (BOS) is excluded from training and metrics.
"""

from __future__ import annotations

import time
from pathlib import Path

from interf_dsl.backends.loading import load_model_dir
from interf_dsl.zoo import models, sae_metrics, tokens

SAE_MODELS = ("gpt2-tiny", "pythia-tiny")
SAE_LAYERS = (1, 3)
SAE_HOOKS = ("attn_out", "mlp_out", "resid_post")
SAE_SITES = tuple((layer, hook) for layer in SAE_LAYERS for hook in SAE_HOOKS)
"""(layer, hook) of each source model's six SAEs, in build order (their seeds follow it)."""
D_SAE = 1536  # 12x expansion of d_model 128
K = 32
CACHE_WINDOWS = 4000  # x 255 positions ~ 1.0 M activations per hook point
BATCH = 2048
LR = 1e-3
DEAD_AFTER = 40  # batches without firing before a feature counts as dead for AuxK
K_AUX = 256


def sae_key(layer: int, hook: str) -> str:
    """The short name of a zoo SAE, e.g. `L1.resid_post`."""
    return f"L{layer}.{hook}"


def hook_name(layer: int, hook: str) -> str:
    """The canonical transformer_lens hook name, e.g. `blocks.1.hook_resid_post`."""
    return f"blocks.{layer}.hook_{hook}"


def cache_activations(model, stream, hooks: list[str], n_windows: int, seed: int):
    """Activations (fp16 on the CPU, BOS position dropped) of `hooks` on random `[BOS] + 255` windows of `stream`,
    run on the model's device."""
    import torch

    device = next(model.parameters()).device

    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(stream) - 256, (n_windows,), generator=gen)
    out: dict[str, list] = {h: [] for h in hooks}
    model.eval()
    with torch.no_grad():
        for i in range(0, n_windows, 32):
            idx = starts[i : i + 32, None] + torch.arange(255)[None, :]
            toks = torch.cat([torch.zeros(len(idx), 1, dtype=torch.long), stream[idx]], dim=1).to(device)
            _, cache = model.run_with_cache(toks, names_filter=lambda n: n in hooks)
            for h in hooks:
                out[h].append(cache[h][:, 1:].reshape(-1, cache[h].shape[-1]).to(torch.float16).cpu())
    return {h: torch.cat(v) for h, v in out.items()}


def train_topk(acts, minutes: float, seed: int, log=print, device: str = "cpu") -> dict:
    """Train a TopK SAE on cached activations [N, d_in] (on the CPU) for `minutes` on `device`; return raw-scale
    weights (on the CPU) and stats. Initialisation and batch order come from the seed on the CPU: the same on
    every device."""
    import torch

    torch.manual_seed(seed)
    n, d_in = acts.shape
    scale = acts[:20000].float().pow(2).sum(-1).mean().sqrt().item()
    mean = acts[:20000].float().mean(0) / scale
    w_dec = torch.randn(D_SAE, d_in)
    w_dec /= w_dec.norm(dim=-1, keepdim=True)
    init = {"W_dec": w_dec, "W_enc": w_dec.T.contiguous(), "b_enc": torch.zeros(D_SAE), "b_dec": mean}
    params = {k: v.to(device).clone().requires_grad_() for k, v in init.items()}
    opt = torch.optim.Adam(params.values(), lr=LR, betas=(0.9, 0.999))
    since_fired = torch.zeros(D_SAE, dtype=torch.long, device=device)
    budget, t0, step = minutes * 60, time.time(), 0
    perm = torch.randperm(n)
    while (elapsed := time.time() - t0) < budget:
        frac = elapsed / budget
        for g in opt.param_groups:
            g["lr"] = LR * min(1.0, 5 * (1 - frac))  # linear decay over the last 20 % of the budget
        j = (step * BATCH) % (n - BATCH)
        x = acts[perm[j : j + BATCH]].to(device, non_blocking=True).float() / scale
        pre = (x - params["b_dec"]) @ params["W_enc"] + params["b_enc"]
        vals, idx = pre.topk(K, dim=-1)
        z = torch.zeros_like(pre).scatter(-1, idx, vals.relu())
        recon = z @ params["W_dec"] + params["b_dec"]
        err = x - recon
        var = (x - x.mean(0)).pow(2).sum(-1).mean()
        loss = err.pow(2).sum(-1).mean() / var
        fired = (z > 0).any(0)
        since_fired = torch.where(fired, 0, since_fired + 1)
        dead = since_fired > DEAD_AFTER
        if dead.any():
            k_aux = min(K_AUX, int(dead.sum()))
            aux_vals, aux_idx = pre.masked_fill(~dead, -1e9).topk(k_aux, dim=-1)
            z_aux = torch.zeros_like(pre).scatter(-1, aux_idx, aux_vals.relu())
            aux_recon = z_aux @ params["W_dec"]
            loss = loss + (err.detach() - aux_recon).pow(2).sum(-1).mean() / var / 32
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            params["W_dec"] /= params["W_dec"].norm(dim=-1, keepdim=True)
        step += 1
        if step % 200 == 0:
            log(f"  sae step {step} loss {loss.item():.4f} dead {int(dead.sum())}")
    weights = {"W_enc": params["W_enc"].detach().cpu(), "W_dec": params["W_dec"].detach().cpu(),
               "b_enc": params["b_enc"].detach().cpu() * scale, "b_dec": params["b_dec"].detach().cpu() * scale}
    return {"weights": weights, "stats": {"steps": step, "tokens_seen": step * BATCH, "input_scale": scale,
                                          "minutes": round((time.time() - t0) / 60, 2)}}


def save_sae(weights: dict, model_name: str, layer: int, hook: str, out_dir: Path) -> Path:
    """Wrap trained weights in a sae_lens `TopKSAE` and save it with `save_model` (fp16)."""
    import torch
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    d_in = weights["W_dec"].shape[1]
    meta = SAEMetadata(model_name=f"zoo:{model_name}", hook_name=hook_name(layer, hook), hook_head_index=None,
                       context_size=256, prepend_bos=True, dataset_path="interf zoo corpus (Debian packages)",
                       model_from_pretrained_kwargs={})
    cfg = TopKSAEConfig(d_in=d_in, d_sae=D_SAE, k=K, dtype="float16", device="cpu", apply_b_dec_to_input=True,
                        normalize_activations="none", metadata=meta)
    sae = TopKSAE(cfg)
    sae.load_state_dict({k: v.to(torch.float16) for k, v in weights.items()}, strict=True)
    sae.save_model(out_dir)
    return out_dir


def _raw_path(build_dir: Path, model_name: str, key: str) -> Path:
    return build_dir / "sae_weights" / model_name / f"{key}.safetensors"


def train_saes(build_dir: Path, model_name: str, minutes: float, log=print, device: str = "cpu") -> dict:
    """Cache activations and train the six SAEs of one source model on `device`; write their raw weights (fp16,
    the precision they ship in) under `sae_weights/`. Needs torch and transformer_lens only, so a GPU machine can
    run it without sae_lens; `build_saes` wraps and measures them afterwards."""
    import torch
    from safetensors.torch import save_file

    tok_dir = build_dir / "tokenizer"
    model = load_model_dir(build_dir / "models" / model_name)
    stream = tokens.train_stream(build_dir, tok_dir)
    hooks = [hook_name(layer, h) for layer, h in SAE_SITES]
    t0 = time.time()
    acts = cache_activations(model.to(device), stream, hooks, CACHE_WINDOWS, seed=5)
    log(f"[{model_name}] cached {len(acts[hooks[0]])} activations x {len(hooks)} hooks in {time.time() - t0:.0f}s")
    stats = {}
    for i, (layer, hook) in enumerate(SAE_SITES):
        key = sae_key(layer, hook)
        trained = train_topk(acts.pop(hook_name(layer, hook)), minutes, seed=100 + i, log=log, device=device)
        path = _raw_path(build_dir, model_name, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.to(torch.float16).contiguous() for k, v in trained["weights"].items()}, str(path))
        stats[key] = {**trained["stats"], "device": models.device_name(device)}
    return {"train": stats}


def build_saes(build_dir: Path, model_name: str, train_stats: dict, log=print) -> dict:
    """Wrap the trained weights of one source model's six SAEs in sae_lens `TopKSAE`s, save them, and measure
    them (on the CPU, through the loaders users get)."""
    from safetensors.torch import load_file

    tok_dir = build_dir / "tokenizer"
    model = load_model_dir(build_dir / "models" / model_name)
    heldout = tokens.heldout_stream(build_dir, tok_dir)
    results = {}
    for layer, hook in SAE_SITES:
        key = sae_key(layer, hook)
        weights = load_file(str(_raw_path(build_dir, model_name, key)))
        out_dir = save_sae(weights, model_name, layer, hook, build_dir / "saes" / model_name / key)
        metrics = sae_metrics.measure_sae(model, out_dir, heldout, build_dir)
        log(f"[{model_name}/{key}] {metrics['metrics']}")
        results[key] = {"train": train_stats[key], **metrics}
    return {"saes": results}
