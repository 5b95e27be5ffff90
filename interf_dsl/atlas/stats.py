"""Atlas kind, `atlas` step core: per-feature statistics of one SAE streamed over a corpus.

Input: a HookedTransformer, an sae_lens SAE, its hook name, corpus windows [W, T] and the atlas settings.
Output: `Atlas` with the `features` and `contexts` tables (schemas in atlas/README.md), the corpus vocabulary
counts, and two per-feature vector sets used by corpus-based interference metrics (`activation_sample`,
`context_means`). Two passes over batches keep memory flat: pass 1 keeps running counts, maxima and the top-K
window ids per feature; pass 2 re-runs only the windows that are some feature's top context.

Pass 1 is resumable: given a unit store (`ctx.units`), its running state is checkpointed every
`checkpoint_batches` batches (atlas/checkpoint.py), and a rerun after a kill continues from the last checkpoint
with results identical to an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interf_dsl.atlas.corpus import vocab_strings
from interf_dsl.errors import BackendError

if TYPE_CHECKING:
    import polars as pl
    import torch


@dataclass
class Atlas:
    features: pl.DataFrame
    contexts: pl.DataFrame
    token_counts: torch.Tensor  # [vocab] corpus counts
    activation_sample: torch.Tensor  # [n, t]
    context_means: torch.Tensor  # [n, d]
    n_tokens: int


def layer_of(hook_name: str) -> int | None:
    parts = hook_name.split(".")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "blocks" and parts[1].isdigit() else None


def hook_acts(model: Any, tokens: torch.Tensor, hook_name: str) -> torch.Tensor:
    """Activations at `hook_name` (one forward pass per row, stopped after the hook's layer)."""
    if hook_name not in model.hook_dict:
        raise BackendError(f"hook '{hook_name}' does not exist in the model", name=hook_name,
                           choices=tuple(model.hook_dict))
    layer = layer_of(hook_name)
    kw = {"stop_at_layer": layer + 1} if layer is not None else {}
    _, cache = model.run_with_cache(tokens, names_filter=hook_name, **kw)
    return cache[hook_name]


def check_sae(sae: Any, model: Any, hook_name: str) -> None:
    """The SAE's d_in must match the hook's width."""
    width = model.cfg.d_model if not hook_name.endswith("hook_z") else model.cfg.n_heads * model.cfg.d_head
    if "mlp.hook_post" in hook_name or "mlp.hook_pre" in hook_name:
        width = model.cfg.d_mlp
    if int(sae.cfg.d_in) != int(width):
        raise BackendError(f"SAE for '{hook_name}' has d_in = {sae.cfg.d_in}, but the hook has width {width}")


def compute_atlas(model: Any, sae: Any, hook_name: str, windows: torch.Tensor, settings: dict, *,
                  counters: Any = None, progress: Any = None, store: Any = None) -> Atlas:
    """Stream the corpus windows through model and SAE and build the atlas of every feature.

    Args:
        store: optional `UnitStore` for pass-1 checkpoints (resume after a kill); None = no checkpoints.
    """
    import torch

    from interf_dsl.atlas.checkpoint import Pass1, load_latest, save, windows_digest

    check_sae(sae, model, hook_name)
    k_ctx = int(settings.get("top_contexts") or 50)
    bs = int(settings.get("batch_size") or 16)
    n_sample = int(settings.get("coactivation_tokens") or 1024)
    every = int(settings.get("checkpoint_batches") or 50)
    n_f, vocab = int(sae.cfg.d_sae), int(model.cfg.d_vocab)
    n_win, t_len = windows.shape
    counts = torch.bincount(windows.reshape(-1), minlength=vocab)[:vocab]
    digest = windows_digest(windows) if store is not None else ""
    st = load_latest(store, n_win, bs, digest) if store is not None else None
    if st is None:
        st = Pass1.empty(n_f, k_ctx)
    elif progress is not None:
        progress.advance(st.next_window)
    with torch.no_grad():
        for b_idx, w0 in enumerate(range(st.next_window, n_win, bs), 1):
            batch = windows[w0:w0 + bs]
            acts = sae.encode(hook_acts(model, batch, hook_name)).float()  # [B, T, F]
            _count(counters, batch.shape[0])
            st.update(acts, w0, n_sample)
            if store is not None and (b_idx % every == 0 or st.next_window >= n_win):
                save(store, st, bs, digest)
            if progress is not None:
                progress.advance(batch.shape[0])
        top_win, top_val = st.top_win.clone(), st.top_val
        top_win[top_val <= 0] = -1  # a window only counts as a context where the feature fires
        rows, ctx_sum, ctx_n = _contexts(model, sae, hook_name, windows, top_win, top_val, bs, counters)
    from interf_dsl.atlas.tables import contexts_table, features_table

    strings = vocab_strings(model.tokenizer, vocab)
    contexts = contexts_table(rows, strings)
    features = features_table(contexts, st.fired / float(n_win * t_len), st.max_act, sae, model, strings, settings)
    return Atlas(features=features, contexts=contexts, token_counts=counts,
                 activation_sample=st.sample.T.contiguous(),
                 context_means=ctx_sum / ctx_n.clamp_min(1)[:, None], n_tokens=n_win * t_len)


def _count(counters: Any, n: int) -> None:
    if counters is not None:
        counters.forward_passes += n


def _contexts(model, sae, hook_name, windows, top_win, top_val, bs, counters):
    """Pass 2: per-token activations of every (feature, rank) top context, and the hook activation at its max."""
    import torch

    needed = torch.unique(top_win[top_win >= 0])
    d = int(sae.cfg.d_in)
    ctx_sum = torch.zeros(top_win.shape[1], d)
    ctx_n = torch.zeros(top_win.shape[1])
    recs: list[tuple] = []
    for c0 in range(0, needed.numel(), bs):
        wids = needed[c0:c0 + bs]
        raw = hook_acts(model, windows[wids], hook_name)
        acts = sae.encode(raw).float()
        _count(counters, wids.numel())
        local = torch.full((windows.shape[0],), -1, dtype=torch.long)
        local[wids] = torch.arange(wids.numel())
        hit = (top_win >= 0) & torch.isin(top_win, wids)
        rank, feat = hit.nonzero(as_tuple=True)
        b = local[top_win[rank, feat]]
        per_tok = acts[b, :, feat]  # [m, T]
        mpos = per_tok.argmax(1)
        ctx_sum.index_add_(0, feat, raw[b, mpos].float())
        ctx_n.index_add_(0, feat, torch.ones_like(feat, dtype=torch.float))
        toks = windows[wids][b]
        for j in range(feat.numel()):
            recs.append((int(feat[j]), int(rank[j]), toks[j].tolist(), per_tok[j].tolist(), int(mpos[j]),
                         float(per_tok[j, mpos[j]])))
    return recs, ctx_sum, ctx_n
