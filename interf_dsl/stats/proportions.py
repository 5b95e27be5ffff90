"""Stats, rigorous mode: rates and their tests — Wilson CIs, Cohen's h, z-test, cluster-robust test, BH FDR.

Input: success counts and trials (or 0/1 vectors with sentence ids), p-value families. Output: `Estimate`s,
(statistic, p) pairs, Benjamini-Hochberg decisions. All formulas come from statsmodels (issue 6: no hand-written
tests); `rigorous.py` re-exports everything here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interf_dsl.errors import InternalError
from interf_dsl.stats._checks import as_1d, check_alpha, check_ci
from interf_dsl.stats.estimate import Estimate


def _check_count(k: int, n: int, name: str) -> None:
    if n < 1 or k < 0 or k > n:
        raise InternalError(f"{name}: need 0 ≤ successes ≤ trials and trials ≥ 1, got {k} of {n}")


def wilson_ci(k: int, n: int, ci: float = 0.95) -> Estimate:
    """Success rate k/n with its Wilson score interval (statsmodels proportion_confint, method='wilson')."""
    from statsmodels.stats.proportion import proportion_confint

    ci = check_ci(ci)
    _check_count(k, n, "wilson_ci")
    lo, hi = proportion_confint(k, n, alpha=1.0 - ci, method="wilson")
    return Estimate(k / n, float(lo), float(hi), int(n), None, ci, "wilson")


def cohens_h(p1: Any, p2: Any) -> Any:
    """Cohen's h = 2·asin(√p1) − 2·asin(√p2) (statsmodels proportion_effectsize); |h| 0.2 small, 0.5 medium."""
    from statsmodels.stats.proportion import proportion_effectsize

    a, b = np.asarray(p1, dtype=np.float64), np.asarray(p2, dtype=np.float64)
    if ((a < 0) | (a > 1) | (b < 0) | (b > 1)).any():
        raise InternalError(f"cohens_h needs proportions in [0, 1], got {p1!r} and {p2!r}")
    return np.asarray(proportion_effectsize(a, b))[()]


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Two-sided two-proportion z-test with pooled variance (statsmodels proportions_ztest).

    Returns (z, p); z > 0 when k1/n1 > k2/n2. When the pooled rate is 0 or 1 both rates are equal and the test
    is undefined: (NaN, NaN).
    """
    from statsmodels.stats.proportion import proportions_ztest

    _check_count(k1, n1, "two_proportion_z arm 1")
    _check_count(k2, n2, "two_proportion_z arm 2")
    if k1 + k2 in (0, n1 + n2):
        return float("nan"), float("nan")
    z, p = proportions_ztest(np.array([k1, k2]), np.array([n1, n2]))
    return float(z), float(p)


def benjamini_hochberg(pvals: Any, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg FDR control over a family of tests (statsmodels multipletests, 'fdr_bh').

    Returns (rejected bool array, adjusted p-values), in the input order and shape.
    """
    from statsmodels.stats.multitest import multipletests

    alpha = check_alpha(alpha)
    p = np.asarray(pvals, dtype=np.float64)
    flat = p.reshape(-1)
    if flat.size == 0:
        return np.zeros(p.shape, dtype=bool), np.zeros(p.shape)
    if np.isnan(flat).any() or (flat < 0).any() or (flat > 1).any():
        raise InternalError("benjamini_hochberg: p-values must be in [0, 1] and not NaN; drop undefined tests "
                            "from the family explicitly")
    rejected, adjusted, _, _ = multipletests(flat, alpha=alpha, method="fdr_bh")
    return rejected.reshape(p.shape), adjusted.reshape(p.shape)


def cluster_robust_proportion_test(success_a: Any, clusters_a: Any, success_b: Any, clusters_b: Any,
                                   ci: float = 0.95) -> Estimate:
    """Difference of success rates a − b with a cluster-robust SE (linear probability model).

    OLS of the 0/1 outcome on an intercept and an arm-a indicator, with standard errors clustered by sentence
    (statsmodels `cov_type='cluster'`, t with G − 1 df). Clusters with the same id in both arms are the same
    sentence, which is right for Table 1 (every condition runs on the same sentences). A mixed-effects-free
    answer to pseudo-replication (docs/method.md §8.7).

    Returns:
        an `Estimate` of the rate difference with its CI, t statistic and two-sided p.
    """
    import statsmodels.api as sm

    ci = check_ci(ci)
    ya, yb = as_1d(success_a, "success_a"), as_1d(success_b, "success_b")
    ca, cb = np.asarray(clusters_a).reshape(-1), np.asarray(clusters_b).reshape(-1)
    if ca.size != ya.size or cb.size != yb.size:
        raise InternalError("cluster_robust_proportion_test: one cluster id per trial is required")
    y = np.concatenate([ya, yb])
    if not np.isin(y, (0.0, 1.0)).all():
        raise InternalError("cluster_robust_proportion_test: outcomes must be 0/1 successes")
    _, groups = np.unique(np.concatenate([ca, cb]), return_inverse=True)
    n_clusters = int(groups.max() + 1)
    diff = float(ya.mean() - yb.mean())
    if n_clusters < 2:
        raise InternalError("cluster_robust_proportion_test needs ≥ 2 clusters (sentences)")
    if np.ptp(y) == 0:  # every trial identical: no variance, the difference is exactly 0
        return Estimate(diff, diff, diff, int(y.size), n_clusters, ci, "ols_cluster_robust", float("nan"), float("nan"))
    x = sm.add_constant(np.concatenate([np.ones(ya.size), np.zeros(yb.size)]))
    fit = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    lo, hi = fit.conf_int(alpha=1.0 - ci)[1]
    return Estimate(diff, float(lo), float(hi), int(y.size), n_clusters, ci, "ols_cluster_robust",
                    p=float(fit.pvalues[1]), statistic=float(fit.tvalues[1]))
