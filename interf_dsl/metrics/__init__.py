"""Metrics kind: functions scoring next-token distributions, and the `METRICS` registry that names them.

Input: probabilities [..., V] (torch or numpy), target token ids, embeddings, top-k ids. Output: float64 numpy
values with the batch shape. Every registry entry carries `direction` ("higher_is_toward_target" or "disruption")
and `inputs` (the argument names it takes) in `extra`, so report code can label and call them generically.
"""

from __future__ import annotations

from interf_dsl.metrics.change import absolute_change, relative_change, relative_change_authors
from interf_dsl.metrics.disruption import entropy, entropy_change, kl_divergence, total_variation
from interf_dsl.metrics.type_success import top_k_ids, type_count, type_success
from interf_dsl.metrics.weighted_cosine import (
    nearest_target_cosine,
    weighted_cosine,
    weighted_cosine_from_similarity,
)
from interf_dsl.metrics.weighted_overlap import weighted_overlap
from interf_dsl.registry import Registry

TOWARD = "higher_is_toward_target"
DISRUPTION = "disruption"

METRICS: Registry = Registry("metric")
METRICS.add("weighted_cosine", weighted_cosine, direction=TOWARD, inputs=("probs", "target_ids", "embed", "top_k"),
            effect_prefix="wc",
            summary="Σ_t O(t)·max_{t̄∈T_f} cos(E_t, E_t̄) over the full vocabulary or the top-k (METHOD §3.2)")
METRICS.add("weighted_overlap", weighted_overlap, direction=TOWARD, inputs=("probs", "target_ids"), effect_prefix="wo",
            summary="probability mass on the target tokens, Σ_{t∈T_f} O(t) (METHOD §3.3)")
METRICS.add("kl", kl_divergence, direction=DISRUPTION, inputs=("p", "q"), effect_prefix="kl",
            summary="KL(O‖Õ) in nats, original against intervened distribution (METHOD §8.12)")
METRICS.add("total_variation", total_variation, direction=DISRUPTION, inputs=("p", "q"),
            summary="total variation ½Σ|O − Õ| between original and intervened distribution")
METRICS.add("entropy_change", entropy_change, direction=DISRUPTION, inputs=("p", "q"),
            summary="entropy change H(Õ) − H(O) in nats")
METRICS.add("type_success", type_success, direction=TOWARD, inputs=("count_injected", "count_original"),
            effect_prefix="success",
            summary="more target-type tokens in the top-k after injection than without, strict (METHOD §3.4)")



def is_primary_effect(effect_metric: str, primary: str | None) -> bool:
    """Whether an `effects` row's metric (`wc_rel`, `wo_delta`, `success_rate`, `kl_at_wc_alpha`, ...) measures the
    primary output metric `metrics.primary` (its registry entry's `effect_prefix`)."""
    if primary is None or primary not in METRICS:
        return False
    prefix = METRICS.entry(primary).extra.get("effect_prefix")
    return prefix is not None and effect_metric.startswith(f"{prefix}_")


__all__ = [
    "is_primary_effect",
    "DISRUPTION",
    "METRICS",
    "TOWARD",
    "absolute_change",
    "entropy",
    "entropy_change",
    "kl_divergence",
    "nearest_target_cosine",
    "relative_change",
    "relative_change_authors",
    "top_k_ids",
    "total_variation",
    "type_count",
    "type_success",
    "weighted_cosine",
    "weighted_cosine_from_similarity",
    "weighted_overlap",
]
