"""Metrics kind: top-k target-type count and success (docs/method.md §3.4, Table 1).

Input: top-k predicted token ids [..., k] and the ids of a token type. Output: per-trial counts of type tokens in
the top-k, and success = count after injection strictly greater than count on the original sentence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interf_dsl.metrics._arrays import as_id_array, as_probs, check_top_k, top_k_indices


def top_k_ids(probs: Any, k: int) -> np.ndarray:
    """Ids [..., k] of the k most probable next tokens, most probable first (ties: lower id first)."""
    p = as_probs(probs)
    kk = check_top_k(k, p.shape[-1])
    return top_k_indices(p, kk if kk is not None else p.shape[-1])


def type_count(top_ids: Any, type_ids: Any) -> np.ndarray:
    """How many of the top-k ids belong to the type's id set, as an int64 array with the batch shape.

    Args:
        top_ids: predicted token ids [..., k] (from `top_k_ids`, or from an API's top logprobs).
        type_ids: ids labelled with the type (first sub-token ids of its strings, docs/method.md §6.2).
    """
    top = as_id_array(top_ids, "top_ids")
    types = np.unique(as_id_array(type_ids, "type_ids").reshape(-1))
    return np.isin(top, types).sum(axis=-1).astype(np.int64)


def type_success(count_injected: Any, count_original: Any) -> Any:
    """Success of a trial: strictly more type tokens in the top-k after injection than without (docs/method.md §3.4).

    Returns a bool array (or numpy bool scalar) with the broadcast shape; a tie is a failure.
    """
    return np.asarray(np.asarray(count_injected) > np.asarray(count_original))[()]
