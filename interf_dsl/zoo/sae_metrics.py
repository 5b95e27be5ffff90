"""Zoo build and tests: the quality numbers of one SAE, measured through the same loaders users get.

Input: a loaded source model, a saved sae_lens SAE folder and held-out tokens. Output: a dict with
`metrics` (L0, fraction of variance explained, CE loss recovered, dead fraction on the full held-out split),
`slice_metrics` (L0 and explained variance on the fixed shipped slice, re-checked by the tests) and
`decoder_cosine_bins` (pair counts of |cos| between decoder rows in the interference-map bins).

Conventions: position 0 (BOS) is excluded everywhere; CE recovered = (CE_zero - CE_sae) / (CE_zero - CE_clean),
with the hook output replaced (positions >= 1) by the SAE reconstruction or by zeros.
"""

from __future__ import annotations

from pathlib import Path

from interf_dsl.backends.loading import load_sae
from interf_dsl.zoo import catalog, tokens

COS_BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 1.0001)
METRIC_WINDOWS = 256  # held-out windows for L0 / EV / dead fraction (~65 k tokens)
CE_WINDOWS = 32
SLICE_WINDOWS = 16  # first windows of the shipped atlas slice, re-measured by the tests


def _windows(stream, n: int):
    import torch

    width = 255
    n = min(n, len(stream) // width)
    w = stream[: n * width].view(n, width)
    return torch.cat([torch.zeros(n, 1, dtype=torch.long), w], dim=1)


def activation_stats(model, sae, toks, batch: int = 16) -> dict:
    """L0, explained variance and per-feature firing counts of `sae` on its hook over token windows."""
    import torch

    hook = sae.cfg.metadata.hook_name
    sq_err = tot = l0 = n = 0.0
    fired = torch.zeros(sae.cfg.d_sae, dtype=torch.long)
    xs = []
    with torch.no_grad():
        for i in range(0, len(toks), batch):
            _, cache = model.run_with_cache(toks[i : i + batch], names_filter=[hook])
            x = cache[hook][:, 1:].reshape(-1, sae.cfg.d_in).float()
            z = sae.encode(x)
            rec = sae.decode(z)
            sq_err += (x - rec).pow(2).sum().item()
            xs.append(x)
            l0 += (z > 0).sum().item()
            fired += (z > 0).sum(0)
            n += len(x)
        allx = torch.cat(xs)
        tot = (allx - allx.mean(0)).pow(2).sum().item()
    return {"l0": l0 / n, "explained_variance": 1 - sq_err / tot, "fired": fired, "tokens": int(n)}


def ce_recovered(model, sae, toks, batch: int = 16) -> dict:
    """Cross-entropy of the model clean, with the SAE spliced in, and with the hook zero-ablated."""
    import torch

    hook = sae.cfg.metadata.hook_name

    def splice(act, hook):  # noqa: ARG001 - transformer_lens hook signature
        act = act.clone()
        act[:, 1:] = sae.decode(sae.encode(act[:, 1:].float())).to(act.dtype)
        return act

    def zero(act, hook):  # noqa: ARG001
        act = act.clone()
        act[:, 1:] = 0
        return act

    sums = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    with torch.no_grad():
        for i in range(0, len(toks), batch):
            chunk = toks[i : i + batch]
            sums["clean"] += model(chunk, return_type="loss").item() * len(chunk)
            sums["sae"] += model.run_with_hooks(chunk, return_type="loss", fwd_hooks=[(hook, splice)]).item() * len(chunk)
            sums["zero"] += model.run_with_hooks(chunk, return_type="loss", fwd_hooks=[(hook, zero)]).item() * len(chunk)
    ce = {k: v / len(toks) for k, v in sums.items()}
    rec = (ce["zero"] - ce["sae"]) / (ce["zero"] - ce["clean"])
    return {"ce_clean": ce["clean"], "ce_with_sae": ce["sae"], "ce_zero_ablation": ce["zero"], "ce_loss_recovered": rec}


def decoder_cosine_bins(sae) -> dict[str, int]:
    """Counts of feature pairs (i < j) by |cosine| of their unit decoder directions, in the interference bins."""
    import torch

    with torch.no_grad():
        w = sae.W_dec.float()
        w = w / w.norm(dim=-1, keepdim=True)
        cos = (w @ w.T).abs()
        iu = torch.triu_indices(len(w), len(w), offset=1)
        vals = cos[iu[0], iu[1]]
        out = {}
        for lo, hi in zip(COS_BINS[:-1], COS_BINS[1:], strict=True):
            out[f"[{lo:.1f},{min(hi, 1.0):.1f}{']' if hi > 1 else ')'}"] = int(((vals >= lo) & (vals < hi)).sum())
    return out


def slice_stats(model, sae, slice_stream, n_windows: int) -> dict:
    """L0 and explained variance on the fixed shipped slice (what the tests re-check against the card)."""
    stats = activation_stats(model, sae, _windows(slice_stream, n_windows))
    return {"l0": round(stats["l0"], 4), "explained_variance": round(stats["explained_variance"], 5),
            "tokens": stats["tokens"], "windows": n_windows}


def measure_sae(model, sae_dir: Path, heldout_stream, build_dir: Path) -> dict:
    """Every number the card records for one SAE, loading it back from disk first."""

    sae = load_sae(str(sae_dir))
    toks = _windows(tokens.spread(heldout_stream, METRIC_WINDOWS), METRIC_WINDOWS)
    stats = activation_stats(model, sae, toks)
    ce = ce_recovered(model, sae, toks[:CE_WINDOWS])
    atlas = catalog.read_sample(build_dir / "heldout.jsonl.gz", "atlas")
    slice_stream = tokens.eval_slice(atlas, build_dir / "tokenizer")
    metrics = {"l0": round(stats["l0"], 3), "explained_variance": round(stats["explained_variance"], 4),
               "ce_loss_recovered": round(ce["ce_loss_recovered"], 4),
               "dead_fraction": round(float((stats["fired"] == 0).float().mean()), 4)}
    return {"metrics": metrics, "ce": {k: round(v, 4) for k, v in ce.items()}, "metric_tokens": stats["tokens"],
            "slice_metrics": slice_stats(model, sae, slice_stream, SLICE_WINDOWS),
            "decoder_cosine_bins": decoder_cosine_bins(sae)}
