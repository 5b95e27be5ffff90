"""Metrics kind: disruption of the next-token distribution by an intervention (docs/method.md §8.12).

Input: the original distribution p = O and the intervened q = Õ, both [..., V]. Output: KL(O‖Õ), total variation
and entropy change H(Õ) − H(O), in nats, with the batch shape. The paper claims its interventions do not disrupt
the output distribution but never measures it; these controls do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interf_dsl.errors import InternalError
from interf_dsl.metrics._arrays import as_probs, scalar_or_array


def _pair(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    pa, qa = as_probs(p, "p"), as_probs(q, "q")
    if pa.shape[-1] != qa.shape[-1]:
        raise InternalError(f"p and q have different vocabulary sizes: {pa.shape[-1]} vs {qa.shape[-1]}")
    return pa, qa


def kl_divergence(p: Any, q: Any) -> Any:
    """KL(p‖q) = Σ_t p(t) log(p(t)/q(t)) in nats, with p = original O and q = intervened Õ.

    0·log 0 = 0; a token with p > 0 and q = 0 makes the divergence +inf. Inputs are not renormalised.
    """
    pa, qa = _pair(p, q)
    # p·log(p/q) with 0·log 0 = 0 and p > 0, q = 0 → +inf (scipy's rel_entr, in numpy: compute workers have no scipy)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pa > 0, pa * np.log(pa / qa), 0.0)
    return scalar_or_array(terms.sum(axis=-1))


def total_variation(p: Any, q: Any) -> Any:
    """Total variation distance ½ Σ_t |p(t) − q(t)|, in [0, 1] for normalised inputs."""
    pa, qa = _pair(p, q)
    return scalar_or_array(0.5 * np.abs(pa - qa).sum(axis=-1))


def entropy(p: Any) -> Any:
    """Shannon entropy H(p) = −Σ_t p(t) log p(t) in nats (0·log 0 = 0)."""
    pa = as_probs(p, "p")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pa > 0, -pa * np.log(pa), 0.0)
    return scalar_or_array(terms.sum(axis=-1))


def entropy_change(p: Any, q: Any) -> Any:
    """H(q) − H(p) in nats, with p = original O and q = intervened Õ; positive = the intervention flattened O."""
    pa, qa = _pair(p, q)
    return scalar_or_array(np.asarray(entropy(qa)) - np.asarray(entropy(pa)))
