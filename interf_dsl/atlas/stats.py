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

from interf_dsl.atlas.checkpoint import Pass1, load_latest, save, windows_digest
from interf_dsl.atlas.corpus import vocab_strings
from interf_dsl.atlas.tables import contexts_table, features_table
from interf_dsl.errors import BackendError

# Keep pass-1 hook activations for pass 2 up to this many bytes (the zoo's 50k tokens × 128 dims: 26 MB).
RAW_CACHE_BYTES = 1 << 30
CHECKPOINT_BATCHES = 50
"""Pass 1 saves its running state every this many batches (execution only: a killed run loses at most these)."""

if TYPE_CHECKING:
    import polars as pl
    import torch

    from interf_dsl.lang.sections import AtlasStats


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


def compute_atlas(model: Any, sae: Any, hook_name: str, windows: torch.Tensor, settings: AtlasStats, *,
                  counters: Any = None, progress: Any = None, store: Any = None,
                  checkpoint_batches: int = CHECKPOINT_BATCHES, raw_cache_bytes: int = RAW_CACHE_BYTES) -> Atlas:
    """Stream the corpus windows through model and SAE and build the atlas of every feature.

    Args:
        settings: the spec's atlas section (its corpus fields are the caller's: `windows` are already cut).
        store: optional `UnitStore` for pass-1 checkpoints (resume after a kill); None = no checkpoints.
        checkpoint_batches, raw_cache_bytes: execution knobs (checkpoint period, pass-2 activation cache);
            they never change the result.
    """
    import torch


    check_sae(sae, model, hook_name)
    k_ctx, bs, n_sample, every = settings.top_contexts, settings.batch_size, settings.coactivation_tokens, checkpoint_batches
    n_f, vocab = int(sae.cfg.d_sae), int(model.cfg.d_vocab)
    n_win, t_len = windows.shape
    counts = torch.bincount(windows.reshape(-1), minlength=vocab)[:vocab]
    digest = windows_digest(windows) if store is not None else ""
    st = load_latest(store, n_win, bs, digest) if store is not None else None
    if st is None:
        st = Pass1.empty(n_f, k_ctx)
    elif progress is not None:
        progress.advance(st.next_window)
    # Pass 2 only needs the hook activations of the top windows: keep pass 1's in memory when they fit, so pass 2
    # re-encodes them with the SAE instead of re-running the model (half the forward passes).
    raw_keep = RawCache.for_shape(n_win, t_len, int(sae.cfg.d_in), raw_cache_bytes)
    with torch.no_grad():
        for b_idx, w0 in enumerate(range(st.next_window, n_win, bs), 1):
            batch = windows[w0:w0 + bs]
            raw = hook_acts(model, batch, hook_name)
            raw_keep.put(w0, raw)
            acts = sae.encode(raw).float()  # [B, T, F]
            _count(counters, batch.shape[0])
            st.update(acts, w0, n_sample)
            if store is not None and (b_idx % every == 0 or st.next_window >= n_win):
                save(store, st, bs, digest)
            if progress is not None:
                progress.advance(batch.shape[0])
        top_win, top_val = st.top_win.clone(), st.top_val
        top_win[top_val <= 0] = -1  # a window only counts as a context where the feature fires
        ctx, ctx_sum, ctx_n = _contexts(model, sae, hook_name, windows, top_win, bs, counters, raw_keep)

    strings = vocab_strings(model.tokenizer, vocab)
    contexts = contexts_table(ctx, strings)
    features = features_table(contexts, st.fired / float(n_win * t_len), st.max_act, sae, model, strings, settings)
    return Atlas(features=features, contexts=contexts, token_counts=counts,
                 activation_sample=st.sample.T.contiguous(),
                 context_means=ctx_sum / ctx_n.clamp_min(1)[:, None], n_tokens=n_win * t_len)


def _count(counters: Any, n: int) -> None:
    if counters is not None:
        counters.forward_passes += n


class RawCache:
    """Hook activations [windows, T, d] of pass 1, kept for pass 2 when they fit in `limit` bytes (else none)."""

    def __init__(self, raw: torch.Tensor | None):
        import torch

        self.raw = raw
        self.have = torch.zeros(0 if raw is None else raw.shape[0], dtype=torch.bool)

    @classmethod
    def for_shape(cls, n_win: int, t_len: int, d: int, limit: int) -> RawCache:
        import torch

        return cls(torch.empty(n_win, t_len, d) if n_win * t_len * d * 4 <= limit else None)

    def put(self, w0: int, raw: torch.Tensor) -> None:
        if self.raw is not None:
            self.raw[w0:w0 + raw.shape[0]] = raw
            self.have[w0:w0 + raw.shape[0]] = True

    def get(self, wids: torch.Tensor) -> torch.Tensor | None:
        """The kept activations of windows `wids`, or None when any is missing (e.g. before a resumed checkpoint)."""
        if self.raw is None or not bool(self.have[wids].all()):
            return None
        return self.raw[wids]


def _contexts(model, sae, hook_name, windows, top_win, bs, counters, raw_keep: RawCache):
    """Pass 2: per-token activations of every (feature, rank) top context, and the hook activation at its max.

    Returns column arrays (feature, rank, token_ids [m, T], acts [m, T], max_pos, max_act), unsorted, and the
    per-feature sum and count of the hook activation at the max position.
    """
    import torch

    needed = torch.unique(top_win[top_win >= 0])
    d = int(sae.cfg.d_in)
    ctx_sum = torch.zeros(top_win.shape[1], d)
    ctx_n = torch.zeros(top_win.shape[1])
    local = torch.full((windows.shape[0],), -1, dtype=torch.long)
    cols: dict[str, list] = {k: [] for k in ("feature", "rank", "token_ids", "acts", "max_pos", "max_act")}
    for c0 in range(0, needed.numel(), bs):
        wids = needed[c0:c0 + bs]
        raw = raw_keep.get(wids)
        if raw is None:
            raw = hook_acts(model, windows[wids], hook_name)
            _count(counters, wids.numel())
        acts = sae.encode(raw).float()
        local[wids] = torch.arange(wids.numel())
        hit = (top_win >= 0) & torch.isin(top_win, wids)
        rank, feat = hit.nonzero(as_tuple=True)
        b = local[top_win[rank, feat]]
        per_tok = acts[b, :, feat]  # [m, T]
        mact, mpos = per_tok.max(1)
        ctx_sum.index_add_(0, feat, raw[b, mpos].float())
        ctx_n.index_add_(0, feat, torch.ones_like(feat, dtype=torch.float))
        for k, v in (("feature", feat), ("rank", rank), ("token_ids", windows[wids][b]), ("acts", per_tok),
                     ("max_pos", mpos), ("max_act", mact)):
            cols[k].append(v)
    t_len = windows.shape[1]
    empty = {"token_ids": torch.zeros(0, t_len, dtype=torch.long), "acts": torch.zeros(0, t_len)}
    out = {k: torch.cat(v) if v else empty.get(k, torch.zeros(0, dtype=torch.long)) for k, v in cols.items()}
    return out, ctx_sum, ctx_n
