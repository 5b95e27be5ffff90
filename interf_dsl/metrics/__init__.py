"""Metrics kind: functions scoring next-token distributions, and the `METRICS` registry that names them.

Input: probabilities [..., V] (torch or numpy), target token ids, embeddings, top-k ids. Output: float64 numpy
values with the batch shape. Every registry entry carries `direction` ("higher_is_toward_target" or "disruption")
and `inputs` (the argument names it takes) in `extra`, so report code can label and call them generically.

This package imports no numpy until a metric is computed: `interf validate` reads the registry's names on a base
install (numpy is an extra). The implementations live in the submodules; the names below are loaded on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from interf_dsl.registry import Registry

TOWARD = "higher_is_toward_target"
DISRUPTION = "disruption"

_IMPLEMENTATIONS = {
    "absolute_change": "change", "relative_change": "change", "relative_change_authors": "change",
    "entropy": "disruption", "entropy_change": "disruption", "kl_divergence": "disruption",
    "total_variation": "disruption", "top_k_ids": "success", "type_count": "success",
    "type_success": "success", "nearest_target_cosine": "cosine", "weighted_cosine": "cosine",
    "weighted_cosine_from_similarity": "cosine", "weighted_overlap": "overlap",
}
"""Public function -> its submodule (no submodule shares a function's name: an imported submodule would shadow it)."""


def __getattr__(name: str) -> Any:
    if name in _IMPLEMENTATIONS:
        return getattr(importlib.import_module(f"{__name__}.{_IMPLEMENTATIONS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _lazy(function: str) -> Callable[..., Any]:
    """A registry entry that imports its implementation (and numpy) when first called."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return __getattr__(function)(*args, **kwargs)

    call.__name__ = call.__qualname__ = function
    return call


METRICS: Registry = Registry("metric")
METRICS.add("weighted_cosine", _lazy("weighted_cosine"), direction=TOWARD, effect_prefix="wc",
            inputs=("probs", "target_ids", "embed", "top_k"),
            summary="Σ_t O(t)·max_{t̄∈T_f} cos(E_t, E_t̄) over the full vocabulary or the top-k (docs/method.md §3.2)")
METRICS.add("weighted_overlap", _lazy("weighted_overlap"), direction=TOWARD, inputs=("probs", "target_ids"),
            effect_prefix="wo", summary="probability mass on the target tokens, Σ_{t∈T_f} O(t) (docs/method.md §3.3)")
METRICS.add("kl", _lazy("kl_divergence"), direction=DISRUPTION, inputs=("p", "q"), effect_prefix="kl",
            summary="KL(O‖Õ) in nats, original against intervened distribution (docs/method.md §8.12)")
METRICS.add("total_variation", _lazy("total_variation"), direction=DISRUPTION, inputs=("p", "q"),
            summary="total variation ½Σ|O − Õ| between original and intervened distribution")
METRICS.add("entropy_change", _lazy("entropy_change"), direction=DISRUPTION, inputs=("p", "q"),
            summary="entropy change H(Õ) − H(O) in nats")
METRICS.add("type_success", _lazy("type_success"), direction=TOWARD, inputs=("count_injected", "count_original"),
            effect_prefix="success",
            summary="more target-type tokens in the top-k after injection than without, strict (docs/method.md §3.4)")


def metric_of_effect(effect_metric: str) -> str | None:
    """The output metric an `effects` or `regressions` row measures (`wc_rel`, `wc` -> weighted_cosine,
    `kl_at_wo_alpha` -> kl, `success_rate` -> type_success), by its registry entry's `effect_prefix`; None if none."""
    for entry in METRICS:
        prefix = entry.extra.get("effect_prefix")
        if prefix is not None and (effect_metric == prefix or effect_metric.startswith(f"{prefix}_")):
            return entry.name
    return None


def is_primary_effect(effect_metric: str, primary: str | None) -> bool:
    """Whether an `effects` row's metric measures the primary output metric `metrics.primary`."""
    return primary is not None and metric_of_effect(effect_metric) == primary


__all__ = ["DISRUPTION", "METRICS", "TOWARD", "is_primary_effect", "metric_of_effect", *_IMPLEMENTATIONS]  # noqa: PLE0604
