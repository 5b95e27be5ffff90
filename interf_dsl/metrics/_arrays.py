"""Metrics kind, shared helper: turn torch or numpy inputs into float64 numpy arrays and check their shapes.

Input: tensors or array-likes. Output: numpy arrays (float64 for probabilities, int64 for ids). torch is never
imported here; a tensor is recognised by its `detach` method, so the metrics stay usable without torch installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from interf_dsl.errors import InternalError, SpecError


def as_float_array(x: Any, name: str) -> np.ndarray:
    """A float64 numpy copy of a torch tensor (any device, any dtype) or array-like."""
    if hasattr(x, "detach"):  # torch.Tensor without importing torch
        x = x.detach().to("cpu").double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise InternalError(f"{name} must have at least one dimension, got a scalar")
    return arr


def as_probs(x: Any, name: str = "probs") -> np.ndarray:
    """Probabilities [..., V] as float64; negative entries are a caller bug (logits passed by mistake)."""
    arr = as_float_array(x, name)
    if arr.shape[-1] == 0:
        raise InternalError(f"{name} has an empty vocabulary axis")
    if np.isnan(arr).any():
        raise InternalError(f"{name} contains NaN")
    if (arr < 0).any():
        raise InternalError(f"{name} has negative entries (min {arr.min():.3g}); pass probabilities, not logits")
    return arr


def as_id_array(ids: Any, name: str, vocab_size: int | None = None) -> np.ndarray:
    """Token ids as an int64 array, range-checked against the vocabulary size when given."""
    if hasattr(ids, "detach"):
        ids = ids.detach().to("cpu").numpy()
    if isinstance(ids, (set, frozenset)) or (isinstance(ids, Iterable) and not hasattr(ids, "shape")):
        ids = sorted(ids) if isinstance(ids, (set, frozenset)) else list(ids)
    arr = np.asarray(ids)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InternalError(f"{name} must be integer token ids, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if vocab_size is not None and arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise InternalError(f"{name} has ids outside [0, {vocab_size}): min {arr.min()}, max {arr.max()}")
    return arr


def target_set(target_ids: Any, vocab_size: int) -> np.ndarray:
    """A non-empty, de-duplicated, sorted 1-D array of target ids (T_f is a set: duplicates count once)."""
    arr = np.unique(as_id_array(target_ids, "target_ids", vocab_size).reshape(-1))
    if arr.size == 0:
        raise InternalError("target_ids is empty: a target token set T_f needs at least one token")
    return arr


def check_top_k(top_k: int | None, vocab_size: int) -> int | None:
    """Validate a top-k setting (None = full vocabulary)."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise SpecError(f"metrics.top_k must be a positive integer or null, got {top_k!r}")
    return int(min(top_k, vocab_size))


def top_k_indices(probs: np.ndarray, k: int) -> np.ndarray:
    """Indices [..., k] of the k largest probabilities, in descending order of probability.

    Ties are broken by the lower token id first (a stable sort), so numpy and torch callers agree on ties.
    """
    v = probs.shape[-1]
    if k >= v:
        return np.argsort(-probs, axis=-1, kind="stable")
    part = np.argpartition(-probs, k - 1, axis=-1)[..., :k]
    # Any tie at the k-th value must be resolved by id: include all tied candidates, then stable-sort.
    kth = np.take_along_axis(probs, part, axis=-1).min(axis=-1, keepdims=True)
    if int((probs >= kth).sum(axis=-1).max()) > k:
        return np.argsort(-probs, axis=-1, kind="stable")[..., :k]
    vals = np.take_along_axis(probs, part, axis=-1)
    order = np.lexsort((part, -vals), axis=-1)
    return np.take_along_axis(part, order, axis=-1)


def scalar_or_array(x: np.ndarray) -> np.ndarray | np.float64:
    """Unbatched results come back as numpy scalars (a float subclass), batched ones as arrays."""
    return np.asarray(x)[()]
