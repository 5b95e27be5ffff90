"""Metrics kind: weighted cosine similarity c(O, T_f) (docs/method.md §3.2, paper Eq. 1).

Input: next-token probabilities O [..., V], a target token set T_f, the model's input embedding matrix E [V, d].
Output: c [...] = Σ_t O(t) · max_{t̄ ∈ T_f} cos(E_t, E_t̄), over the full vocabulary or the top-k predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interf_dsl.errors import InternalError
from interf_dsl.metrics._arrays import (
    as_float_array,
    as_probs,
    check_top_k,
    scalar_or_array,
    target_set,
    top_k_indices,
)


def nearest_target_cosine(embed: Any, target_ids: Any) -> np.ndarray:
    """m[t] = max_{t̄ ∈ T_f} cos(E_t, E_t̄) for every vocabulary token t, as float64 [V].

    It depends only on (E, T_f), so callers that score many distributions against one target should compute it
    once and use `weighted_cosine_from_similarity`. A zero embedding row has cosine 0 with everything (its
    direction is undefined; dividing by a zero norm would give NaN).

    Args:
        embed: input token-embedding matrix [V, d] (`W_E`, `wte`, `embed_in`).
        target_ids: token ids of T_f (duplicates count once).
    """
    emb = as_float_array(embed, "embed")
    if emb.ndim != 2:
        raise InternalError(f"embed must be a [V, d] matrix, got shape {emb.shape}")
    targets = target_set(target_ids, emb.shape[0])
    norms = np.linalg.norm(emb, axis=1)
    unit = emb / np.where(norms > 0, norms, 1.0)[:, None]
    cos = unit @ unit[targets].T  # [V, |T|]
    return cos.max(axis=1)


def weighted_cosine_from_similarity(probs: Any, similarity: np.ndarray, top_k: int | None = None) -> Any:
    """c = Σ_t O(t) · m[t] for a precomputed m = `nearest_target_cosine(embed, target_ids)`.

    Args:
        probs: next-token probabilities [..., V].
        similarity: m [V].
        top_k: None sums over the whole vocabulary; an int sums over the k most probable tokens only, with their
            probabilities NOT renormalised, as in the authors' implementation of the top-k variant.

    Returns:
        c with the batch shape of `probs` (a numpy scalar when `probs` is one distribution).
    """
    p = as_probs(probs)
    m = np.asarray(similarity, dtype=np.float64)
    if m.shape != (p.shape[-1],):
        raise InternalError(f"similarity has shape {m.shape} but probs has vocabulary size {p.shape[-1]}")
    k = check_top_k(top_k, p.shape[-1])
    if k is None:
        return scalar_or_array(p @ m)
    idx = top_k_indices(p, k)
    return scalar_or_array((np.take_along_axis(p, idx, axis=-1) * m[idx]).sum(axis=-1))


def weighted_cosine(probs: Any, target_ids: Any, embed: Any, top_k: int | None = None) -> Any:
    """Weighted cosine similarity c(O, T_f) = Σ_t O(t) · max_{t̄ ∈ T_f} cos(E_t, E_t̄) (docs/method.md §3.2).

    A probability-weighted average of each predicted token's nearest-target embedding cosine; higher means the
    distribution sits closer to T_f in embedding space. It has a high floor (cosines between unrelated tokens are
    often 0.1-0.3), so relative changes look small.

    Args:
        probs: next-token probabilities [..., V] (torch or numpy; batch dims allowed).
        target_ids: token ids of T_f.
        embed: input token-embedding matrix [V, d].
        top_k: None = full vocabulary (the authors' v3 steering runs); an int = only the top-k predictions, their
            probabilities summed unrenormalised (the authors' prompt-injection and neuron runs, k = 30 or 10).

    Returns:
        c with the batch shape of `probs` (a numpy scalar when `probs` is one distribution).
    """
    p = as_probs(probs)
    emb = as_float_array(embed, "embed")
    if emb.ndim != 2 or emb.shape[0] != p.shape[-1]:
        raise InternalError(f"embed has shape {emb.shape} but probs has vocabulary size {p.shape[-1]}")
    return weighted_cosine_from_similarity(p, nearest_target_cosine(emb, target_ids), top_k=top_k)
