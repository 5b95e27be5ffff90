"""Stats helpers: validation of the settings every estimator shares (confidence level, bootstrap size, alpha)."""

from __future__ import annotations

from typing import Any

import numpy as np

from interf_dsl.errors import InternalError, SpecError


def check_ci(ci: float) -> float:
    """A confidence level strictly between 0 and 1 (`stats.ci` in the spec)."""
    if not (isinstance(ci, (int, float)) and 0 < ci < 1):
        raise SpecError(f"stats.ci must be a confidence level in (0, 1), e.g. 0.95; got {ci!r}")
    return float(ci)


def check_alpha(alpha: float, key: str = "stats.fdr") -> float:
    """A significance level strictly between 0 and 1."""
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise SpecError(f"{key} must be a significance level in (0, 1), e.g. 0.05; got {alpha!r}")
    return float(alpha)


def check_n_boot(n_boot: int) -> int:
    """A bootstrap size of at least 100 resamples (`stats.bootstrap`); fewer give meaningless percentiles."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise SpecError(f"stats.bootstrap must be an integer ≥ 100 resamples, got {n_boot!r}")
    return int(n_boot)


def as_1d(values: Any, name: str) -> np.ndarray:
    """A 1-D float64 array (torch tensors and bool vectors accepted); NaN is rejected, callers drop it first."""
    if hasattr(values, "detach"):
        values = values.detach().to("cpu").double().numpy()
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise InternalError(f"{name} is empty")
    if np.isnan(arr).any():
        raise InternalError(f"{name} contains NaN; drop undefined values (and count them) before estimating")
    return arr
