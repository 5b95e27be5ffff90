"""Metrics kind, helper: absolute and relative changes of a metric against its baseline (docs/method.md §3.2-3.3).

Input: intervened and baseline metric values (broadcastable). Output: Δ, Δ/max(|base|, ε) (paper App. G), or the
authors' plotting-code variant (best − base)/|base|, NaN where |base| ≤ 1e-8.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interf_dsl.errors import SpecError
from interf_dsl.metrics._arrays import scalar_or_array

AUTHORS_MIN_BASELINE = 1e-8
"""The authors' plotting code computes a relative change only when |baseline| exceeds this (docs/method.md §3.3)."""


def absolute_change(new: Any, base: Any) -> Any:
    """Δ = new − base, elementwise (broadcasting)."""
    return scalar_or_array(np.asarray(new, dtype=np.float64) - np.asarray(base, dtype=np.float64))


def relative_change(new: Any, base: Any, eps: float = 1e-8) -> Any:
    """Δ / max(|base|, ε): the paper's relative change with an ε floor (App. G, Δŵ); always finite.

    Args:
        new: intervened metric value(s).
        base: baseline metric value(s), broadcastable against `new`.
        eps: floor of the denominator (the paper's "small constant"; `metrics.epsilon` in the spec).
    """
    if not eps > 0:
        raise SpecError(f"metrics.epsilon must be > 0, got {eps!r}")
    b = np.asarray(base, dtype=np.float64)
    delta = np.asarray(new, dtype=np.float64) - b
    return scalar_or_array(delta / np.maximum(np.abs(b), eps))


def relative_change_authors(new: Any, base: Any) -> Any:
    """(new − base) / |base| where |base| > 1e-8, NaN elsewhere: the authors' v3 plotting code (docs/method.md §3.3).

    Undefined cases are NaN rather than floored, so aggregates must say how they treat them (`paper_mean`
    ignores NaN, as the authors' loop skipped them).
    """
    b = np.asarray(base, dtype=np.float64)
    delta = np.asarray(new, dtype=np.float64) - b
    ok = np.abs(b) > AUTHORS_MIN_BASELINE
    out = np.full(np.broadcast(delta, b).shape, np.nan)
    np.divide(delta, np.abs(b), out=out, where=np.broadcast_to(ok, out.shape))
    return scalar_or_array(out)
