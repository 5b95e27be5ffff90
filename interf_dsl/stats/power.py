"""Stats: power analysis for success rates — the smallest effect a design can detect (docs/method.md §9, "small effects").

Input: baseline rate p0, trials per arm n, α, power, and a design effect (`design_effect(m, icc_oneway(...))`).
Output: `Power`, the minimum detectable rate p1 > p0, the difference p1 − p0 and Cohen's h (statsmodels
NormalIndPower).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from interf_dsl.errors import InternalError
from interf_dsl.stats._checks import as_1d, check_alpha


@dataclass(frozen=True)
class Power:
    """Minimum detectable effect of a two-arm comparison of rates."""

    p0: float
    p1: float
    diff: float
    cohens_h: float
    n: int
    n_effective: float
    alpha: float
    power: float
    design_effect: float

    def to_dict(self) -> dict[str, Any]:
        """A flat dict, one report row."""
        return asdict(self)


def design_effect(cluster_size: float, icc: float) -> float:
    """Kish design effect 1 + (m − 1)·ICC for clusters of m trials with intra-cluster correlation ICC."""
    if cluster_size < 1 or not -1 < icc <= 1:
        raise InternalError(f"design_effect: need cluster_size ≥ 1 and ICC in (−1, 1], got {cluster_size}, {icc}")
    return 1.0 + (cluster_size - 1.0) * icc


def icc_oneway(values: Any, clusters: Any) -> float:
    """Intra-cluster correlation ICC(1) from a one-way ANOVA, (MSB − MSW) / (MSB + (n0 − 1)·MSW).

    n0 is the usual size for unbalanced clusters, (N − Σ n_g² / N) / (G − 1). Works for 0/1 trials (the ICC of
    success within a sentence). Can be slightly negative by sampling noise; NaN when MSB + (n0 − 1)·MSW = 0.
    """
    v = as_1d(values, "values")
    c = np.asarray(clusters).reshape(-1)
    if c.size != v.size:
        raise InternalError(f"icc_oneway: {v.size} values but {c.size} cluster ids")
    labels, inv = np.unique(c, return_inverse=True)
    g, n = labels.size, v.size
    if g < 2 or n <= g:
        raise InternalError(f"icc_oneway needs ≥ 2 clusters and more values than clusters, got {g} and {n}")
    sizes = np.bincount(inv).astype(np.float64)
    means = np.bincount(inv, weights=v) / sizes
    msb = float((sizes * (means - v.mean()) ** 2).sum() / (g - 1))
    msw = float(((v - means[inv]) ** 2).sum() / (n - g))
    n0 = (n - (sizes**2).sum() / n) / (g - 1)
    denom = msb + (n0 - 1.0) * msw
    return (msb - msw) / denom if denom > 0 else float("nan")


def detection_power(h: float, n: int, alpha: float = 0.05, design_effect: float = 1.0,
                    clusters: int | None = None) -> float:
    """Probability that the two-sided test of two rates detects an effect of Cohen's h with n trials per arm.

    Without `clusters`, the normal test (statsmodels NormalIndPower on n / design_effect trials). With `clusters`
    (sentences shared by both arms), the test the rigorous mode runs (`cluster_robust_proportion_test`: t with
    G − 1 df): a noncentral t with noncentrality h·√(n_eff / 2). At the demo's 8 sentences x 8 trials the t test
    detects h = 0.5 in 0.70 of simulated studies where the normal formula promises 0.81.
    """
    alpha = check_alpha(alpha, "stats alpha")
    n_eff = n / design_effect
    if clusters is None:
        from statsmodels.stats.power import NormalIndPower

        return float(NormalIndPower().power(effect_size=abs(h), nobs1=n_eff, alpha=alpha, ratio=1.0))
    from scipy.stats import nct, t

    df = clusters - 1
    if df < 1:
        raise InternalError(f"detection_power: a clustered test needs ≥ 2 clusters, got {clusters}")
    crit, ncp = float(t.ppf(1 - alpha / 2, df)), abs(h) * math.sqrt(n_eff / 2.0)
    upper, lower = float(nct.sf(crit, df, ncp)), float(nct.cdf(-crit, df, ncp))
    # scipy's noncentral t returns NaN far in a tail at large noncentrality: there the tail is 1 (upper) or 0 (lower)
    return (1.0 if math.isnan(upper) else upper) + (0.0 if math.isnan(lower) else lower)


def min_detectable_effect(p0: float, n: int, alpha: float = 0.05, power: float = 0.8,
                          design_effect: float = 1.0, clusters: int | None = None) -> Power:
    """Smallest rate p1 > p0 a two-sided test with n trials per arm detects with the given power (`clusters`: the
    clustered t test's power, see `detection_power`).

    Solved on Cohen's h scale (statsmodels NormalIndPower, equal arms) with n / design_effect effective trials
    per arm, then mapped back: p1 = sin²(asin(√p0) + h/2). With 10,000 trials per arm and p0 = 0.35 this is about
    +1.9 pp when trials are independent; clustering by sentence (design effect > 1) makes it larger.
    """
    from statsmodels.stats.power import NormalIndPower

    alpha = check_alpha(alpha, "stats alpha")
    if not 0 < power < 1 or not 0 <= p0 < 1 or n < 2 or design_effect < 1:
        raise InternalError(f"min_detectable_effect: need 0 ≤ p0 < 1, 0 < power < 1, n ≥ 2 and design effect ≥ 1;"
                            f" got p0={p0}, power={power}, n={n}, design_effect={design_effect}")
    n_eff = n / design_effect
    if clusters is None:
        h = float(NormalIndPower().solve_power(effect_size=None, nobs1=n_eff, alpha=alpha, power=power, ratio=1.0,
                                               alternative="two-sided"))
    else:  # the clustered t test's own power (see detection_power)
        from scipy.optimize import brentq

        h = float(brentq(lambda x: detection_power(x, n, alpha, design_effect, clusters) - power, 1e-9, math.pi))  # h ≤ π
    angle = math.asin(math.sqrt(p0)) + h / 2.0
    p1 = 1.0 if angle >= math.pi / 2 else math.sin(angle) ** 2
    return Power(p0, p1, p1 - p0, h, int(n), n_eff, alpha, power, design_effect)
