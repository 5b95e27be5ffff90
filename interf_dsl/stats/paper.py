"""Stats, paper mode: the authors' aggregation and tests, reproduced exactly (docs/method.md §3.6, §6.2, §8.4-8.6).

Input: metric values per sentence × scale, per-trial 0/1 success vectors. Output: best-over-scales values, the
authors' (optionally positive-only) means, Welch's t-test and significance stars. These reproduce the paper's
numbers; rigorous mode (`rigorous.py`) is what interf recommends.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from interf_dsl.errors import SpecError
from interf_dsl.stats._checks import as_1d, check_ci
from interf_dsl.stats.estimate import Estimate

INITS = ("zero", "baseline")


def best_over_scales(values: Any, baseline: Any, init: Literal["zero", "baseline"] = "zero") -> np.ndarray:
    """Per-sentence best metric value over the scale grid, as the authors' running-max loops recorded it.

    The authors kept, for each sentence, the largest metric value over all scales (docs/method.md §3.6), with two
    different starting values (§8.6): the SAE-direction loop started its running max at 0, so it can record a
    value BELOW the baseline when every scale lowers the metric; the gradient loop started at the baseline, so its
    value is ≥ baseline by construction. A NaN at some scale is skipped, as `v > best` is False for NaN.

    Args:
        values: metric values [..., n_scales] (the last axis is the α grid; candidate vectors can be folded in).
        baseline: the unintervened metric value, broadcastable to values.shape[:-1].
        init: "zero" (SAE-direction loop) or "baseline" (gradient loop).

    Returns:
        best values with shape values.shape[:-1] (float64).
    """
    if init not in INITS:
        raise SpecError(f"unknown best-over-scales init '{init}'", name=str(init), choices=INITS)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0 or v.shape[-1] == 0:
        raise SpecError(f"best_over_scales needs a non-empty scale axis, got shape {v.shape}")
    start = np.zeros(v.shape[:-1]) if init == "zero" else np.broadcast_to(
        np.asarray(baseline, dtype=np.float64), v.shape[:-1])
    best = np.where(np.isnan(v), -np.inf, v).max(axis=-1)
    return np.maximum(start, best)


def paper_mean(values: Any, positive_only: bool = False) -> float:
    """Mean of per-sentence values as the authors computed it (docs/method.md §8.5).

    NaN values (undefined relative changes) are skipped. With positive_only=True only strictly positive values
    are averaged, as the authors' released plotting code does: that conditional mean is biased upward for every
    condition, Random included. NaN is returned when nothing is left to average.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    if positive_only:
        v = v[v > 0]
    return float(v.mean()) if v.size else float("nan")


def t_interval(values: Any, ci: float = 0.95, method: str = "t_interval") -> Estimate:
    """Mean with a Student-t interval, treating every value as independent (the paper's error bars, Fig. 3-5).

    NaN values are skipped (counted out of `n`); with fewer than 2 values the interval is NaN.
    """
    from scipy import stats

    ci = check_ci(ci)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    if v.size < 2:
        mean = float(v.mean()) if v.size else float("nan")
        return Estimate(mean, float("nan"), float("nan"), int(v.size), None, ci, method)
    mean, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
    if se == 0:
        return Estimate(mean, mean, mean, int(v.size), None, ci, method)
    lo, hi = stats.t.interval(ci, v.size - 1, loc=mean, scale=se)
    return Estimate(mean, float(lo), float(hi), int(v.size), None, ci, method)


def welch_t(a: Any, b: Any) -> tuple[float, float]:
    """Welch's two-sample t-test of mean(a) vs mean(b): scipy.stats.ttest_ind(equal_var=False), two-sided.

    The paper applies it to 0/1 trial-success vectors (docs/method.md §6.2), treating the 100 trials of one sentence
    as independent (pseudo-replication, §8.7). Returns (t, p); with zero variance in both arms t is ±inf
    (different means, p = 0) or NaN (equal means, p = NaN).
    """
    from scipy import stats

    x, y = as_1d(a, "a"), as_1d(b, "b")
    if x.size < 2 or y.size < 2:
        raise SpecError(f"Welch's t-test needs ≥ 2 observations per arm, got {x.size} and {y.size}")
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        # scipy warns and returns NaN here; the limit is exact and needs no warning.
        d = float(x[0] - y[0])
        return (float("nan"), float("nan")) if d == 0 else (float(np.copysign(np.inf, d)), 0.0)
    res = stats.ttest_ind(x, y, equal_var=False)
    return float(res.statistic), float(res.pvalue)


def stars(p: float) -> str:
    """The paper's significance marks: '***' p < 0.001, '**' p < 0.01, '*' p < 0.05, '' otherwise or NaN."""
    if p is None or np.isnan(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
