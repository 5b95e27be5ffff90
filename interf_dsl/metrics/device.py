"""Metrics kind, batched on the model's device: every sweep metric of many intervened rows in one pass of torch.

Input: the baseline logits [V] (or [B, V], the rows in B consecutive blocks) and the intervened logits [n, V] (tensors on any device, or arrays), the target
set T_f with its nearest-target cosines m [V], the top-k setting and ε. Output: one float64 tensor [n, C] on the
same device, columns `SCORE_COLUMNS`; the caller moves it to the host once. Same definitions as the numpy metrics
(cosine.py, overlap.py, disruption.py, change.py), which stay the reference the tests compare against (≤ 1e-9).

Everything is float64 and starts from log-softmax, so KL and entropy never take the log of an underflowed
probability. Top-k sums take the k most probable tokens with ties broken by the lower token id (a stable sort),
as the numpy reference does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

SCORE_COLUMNS = ("wc_base", "wc", "wc_delta", "wc_rel", "wo_base", "wo", "wo_delta", "wo_rel", "kl", "tv",
                 "entropy_change")
"""The columns of `score_logits`, in order (the sweep's metric columns)."""


class TargetProbe:
    """T_f and m[t] = max cos(E_t, E_T_f), moved to one device once and reused for every sentence of a target."""

    def __init__(self, target_ids: Any, similarity: Any, device: Any) -> None:
        import torch

        self.device = torch.device(device)
        self.ids = torch.as_tensor(sorted({int(i) for i in target_ids}), dtype=torch.long, device=self.device)
        self.similarity = torch.as_tensor(similarity, dtype=torch.float64, device=self.device)


def _weighted_cosine(probs: torch.Tensor, m: torch.Tensor, top_k: int | None) -> torch.Tensor:
    if top_k is None or top_k >= probs.shape[-1]:
        return probs @ m
    import torch

    # descending, ties by lower id: a stable sort of -p (torch.topk does not order ties)
    order = torch.sort(-probs, dim=-1, stable=True).indices[..., :top_k]
    return (torch.gather(probs, -1, order) * m[order]).sum(-1)


def score_logits(base_logits: Any, logits: Any, probe: TargetProbe, top_k: int | None, epsilon: float
                 ) -> torch.Tensor:
    """Baseline and intervened metrics of every row of `logits`: float64 [n, 11].

    `base_logits` is one baseline [V] (every row against it) or B baselines [B, V]: then the rows come in B
    consecutive blocks of n / B, block k scored against baseline k (sentences batched together, broadcast: no
    baseline is copied per row).
    """
    import torch

    dev = probe.device
    base = torch.as_tensor(base_logits, device=dev).to(torch.float64)
    base = base.reshape(1, -1) if base.ndim == 1 else base
    new = torch.as_tensor(logits, device=dev).to(torch.float64)
    n, b = new.shape[0], base.shape[0]
    if n % b:
        raise ValueError(f"{n} rows do not split into {b} equal blocks, one per baseline")
    log_p = torch.log_softmax(base, -1)[:, None, :]  # [B, 1, V]
    log_q = torch.log_softmax(new, -1).reshape(b, n // b, -1)  # [B, R, V]
    p, q = log_p.exp(), log_q.exp()
    m = probe.similarity
    wc0, wc = _weighted_cosine(p, m, top_k), _weighted_cosine(q, m, top_k)
    wo0, wo = p[..., probe.ids].sum(-1), q[..., probe.ids].sum(-1)
    kl = (p * (log_p - log_q)).sum(-1)
    tv = 0.5 * (p - q).abs().sum(-1)
    h_p, h_q = -(p * log_p).sum(-1), -(q * log_q).sum(-1)
    wc0, wo0, h_p = wc0.expand_as(wc), wo0.expand_as(wo), h_p.expand_as(h_q)

    def rel(delta: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return delta / b.abs().clamp_min(epsilon)

    cols = [wc0, wc, wc - wc0, rel(wc - wc0, wc0), wo0, wo, wo - wo0, rel(wo - wo0, wo0), kl, tv, h_q - h_p]
    return torch.stack([c.reshape(n) for c in cols], dim=1)
