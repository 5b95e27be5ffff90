"""Metrics kind: weighted overlap w(O, T_f) = Σ_{t ∈ T_f} O(t) (docs/method.md §3.3, paper App. G).

Input: next-token probabilities O [..., V] and a target token set T_f. Output: w [...], the probability mass on T_f.
"""

from __future__ import annotations

from typing import Any

from interf_dsl.metrics._arrays import as_probs, scalar_or_array, target_set


def weighted_overlap(probs: Any, target_ids: Any) -> Any:
    """Probability mass the distribution puts on the target tokens, w = Σ_{t ∈ T_f} O(t).

    The most interpretable of the metrics (docs/method.md §8.12). T_f is a set, so a repeated id counts once.

    Args:
        probs: next-token probabilities [..., V] (torch or numpy; batch dims allowed).
        target_ids: token ids of T_f.

    Returns:
        w with the batch shape of `probs` (a numpy scalar when `probs` is one distribution).
    """
    p = as_probs(probs)
    return scalar_or_array(p[..., target_set(target_ids, p.shape[-1])].sum(axis=-1))
