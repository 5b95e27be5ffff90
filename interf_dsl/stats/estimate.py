"""Stats value: `Estimate`, one effect with its estimator, sample size and confidence interval (STYLE: science).

Every aggregated number interf reports is an `Estimate`; `to_dict()` gives the flat row the report tables store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval.

    Attributes:
        estimate: the point estimate (a mean, a difference of means, a proportion, ...).
        lo: lower end of the confidence interval.
        hi: upper end of the confidence interval.
        n: number of observations (trials, or sentence × scale values) behind it.
        n_clusters: number of independent clusters (sentences) resampled, or None when not clustered.
        ci: confidence level of [lo, hi], e.g. 0.95.
        method: the estimator and interval, e.g. "cluster_bootstrap_percentile", "wilson".
        p: two-sided p-value of "no effect" when the method gives one, else None.
        statistic: the test statistic behind `p` (z, t), else None.
    """

    estimate: float
    lo: float
    hi: float
    n: int
    n_clusters: int | None
    ci: float
    method: str
    p: float | None = None
    statistic: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A flat dict of plain Python values, one report row."""
        return asdict(self)

    def __str__(self) -> str:
        clusters = f", {self.n_clusters} clusters" if self.n_clusters is not None else ""
        p = f", p={self.p:.3g}" if self.p is not None else ""
        return (f"{self.estimate:.4g} [{self.lo:.4g}, {self.hi:.4g}] ({self.ci:.0%} CI, {self.method}, "
                f"n={self.n}{clusters}{p})")
