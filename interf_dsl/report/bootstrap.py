"""Report stage, diff statistics: paired bootstrap confidence interval of a mean difference."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def paired_bootstrap_ci(a: np.ndarray, b: np.ndarray, *, n_boot: int = 2000, ci: float = 0.95,
                        seed: int = 0) -> tuple[float, float, float]:
    """Mean of `b - a` over paired cases and its percentile bootstrap CI (cases resampled with replacement).

    Args:
        a: per-case values of run A.
        b: per-case values of run B, same cases in the same order.
        n_boot: bootstrap resamples.
        ci: confidence level.
        seed: resampling seed (fixed, so a diff is reproducible).

    Returns:
        (mean difference, CI low, CI high); CI bounds are NaN with fewer than 2 cases.
    """
    import numpy as np

    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    d = d[~np.isnan(d)]
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(d.mean())
    if d.size < 2:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    alpha = (1.0 - ci) / 2.0
    return mean, float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))
