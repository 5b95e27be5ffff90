"""Stats, rigorous mode (interf's default): sentence-clustered bootstrap, held-out α, proportions, FDR (docs/method.md §8-9).

Input: per-observation metric values with their cluster (sentence) ids, success counts, p-value families.
Output: `Estimate`s with CIs and sample sizes, adjusted p-values, the held-out α choice. Trials or scales of one
sentence are not independent (§8.7), so intervals resample whole sentences. Proportion tests live in
`proportions.py` and are re-exported here so callers import one module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from interf_dsl.errors import InternalError, SpecError
from interf_dsl.stats._checks import as_1d, check_ci, check_n_boot
from interf_dsl.stats.estimate import Estimate
from interf_dsl.stats.proportions import (
    benjamini_hochberg,
    cluster_robust_proportion_test,
    cohens_h,
    two_proportion_z,
    wilson_ci,
)

__all__ = [
    "Estimate",
    "benjamini_hochberg",
    "cluster_bootstrap_diff",
    "cluster_bootstrap_mean",
    "cluster_robust_proportion_test",
    "cohens_h",
    "fraction_improved",
    "holdout_alpha",
    "holdout_split",
    "two_proportion_z",
    "wilson_ci",
]


def _cluster_sums(values: Any, clusters: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-cluster sums and counts, the sorted cluster labels, and the number of observations."""
    v = as_1d(values, name)
    c = np.asarray(clusters).reshape(-1)
    if c.shape != v.shape:
        raise InternalError(f"{name}: {v.size} values but {c.size} cluster ids")
    labels, inv = np.unique(c, return_inverse=True)
    sums = np.bincount(inv, weights=v, minlength=labels.size)
    counts = np.bincount(inv, minlength=labels.size).astype(np.float64)
    return sums, counts, labels, v.size


def _boot_means(sums: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pooled mean of each resample: clusters drawn `weights[b, g]` times (a ratio estimator)."""
    return (weights @ sums) / (weights @ counts)


def _draw(rng: np.random.Generator, n_clusters: int, n_boot: int) -> np.ndarray:
    """How often each cluster is drawn in each of n_boot resamples of n_clusters clusters with replacement."""
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot).astype(np.float64)


def _interval(boot: np.ndarray, ci: float) -> tuple[float, float]:
    tail = (1.0 - ci) / 2.0
    lo, hi = np.quantile(boot, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _boot_p(boot: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 0: twice the smaller share of resamples on either side of 0, capped at 1."""
    share = min(np.mean(boot <= 0), np.mean(boot >= 0))
    return float(min(1.0, 2.0 * max(share, 1.0 / (boot.size + 1))))


def cluster_bootstrap_mean(values: Any, clusters: Any, n_boot: int = 2000, ci: float = 0.95,
                           seed: int = 0) -> Estimate:
    """Mean of the values with a percentile CI from resampling whole clusters (sentences) with replacement.

    The estimate is the pooled mean over all observations; each resample draws as many clusters as there are,
    with replacement, and recomputes the pooled mean. With one observation per cluster this is the ordinary
    bootstrap.

    Args:
        values: one value per observation (NaN not allowed: drop and count undefined values first).
        clusters: the cluster (sentence) id of each observation.
        n_boot: number of resamples (`stats.bootstrap`).
        ci: confidence level (`stats.ci`).
        seed: seed of the resampling generator.
    """
    ci, n_boot = check_ci(ci), check_n_boot(n_boot)
    sums, counts, labels, n = _cluster_sums(values, clusters, "values")
    if labels.size < 2:
        raise SpecError(f"a clustered bootstrap needs ≥ 2 clusters (sentences), got {labels.size}")
    boot = _boot_means(sums, counts, _draw(np.random.default_rng(seed), labels.size, n_boot))
    lo, hi = _interval(boot, ci)
    return Estimate(float(sums.sum() / counts.sum()), lo, hi, n, int(labels.size), ci,
                    "cluster_bootstrap_percentile")


def cluster_bootstrap_diff(a: Any, a_clusters: Any, b: Any, b_clusters: Any, n_boot: int = 2000,
                           ci: float = 0.95, seed: int = 0, paired: bool = False) -> Estimate:
    """mean(a) − mean(b) with a cluster-bootstrap percentile CI and a two-sided bootstrap p-value.

    Unpaired: the clusters of each arm are resampled independently (different sentences per arm). Paired: both
    arms were measured on the same sentences (as in Table 1, every condition on the same 100 sentences), so one
    draw of sentences is applied to both arms; the cluster sets must then be identical.

    Returns:
        an `Estimate` with n = total observations, n_clusters = distinct clusters over both arms, and `p`.
    """
    ci, n_boot = check_ci(ci), check_n_boot(n_boot)
    sa, ca, la, na = _cluster_sums(a, a_clusters, "a")
    sb, cb, lb, nb = _cluster_sums(b, b_clusters, "b")
    if min(la.size, lb.size) < 2:
        raise SpecError(f"a clustered bootstrap needs ≥ 2 clusters per arm, got {la.size} and {lb.size}")
    rng = np.random.default_rng(seed)
    if paired:
        if la.shape != lb.shape or not np.array_equal(la, lb):
            raise InternalError("paired bootstrap: both arms must cover exactly the same clusters (sentences)")
        w = _draw(rng, la.size, n_boot)
        boot = _boot_means(sa, ca, w) - _boot_means(sb, cb, w)
        n_clusters = int(la.size)
    else:
        boot = _boot_means(sa, ca, _draw(rng, la.size, n_boot)) - _boot_means(sb, cb, _draw(rng, lb.size, n_boot))
        n_clusters = int(np.union1d(la, lb).size)
    lo, hi = _interval(boot, ci)
    est = float(sa.sum() / ca.sum() - sb.sum() / cb.sum())
    method = "paired_cluster_bootstrap_percentile" if paired else "cluster_bootstrap_percentile"
    return Estimate(est, lo, hi, na + nb, n_clusters, ci, method, p=_boot_p(boot))


def holdout_split(clusters: Any, select_fraction: float = 0.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split distinct cluster (sentence) ids into a selection part and an evaluation part (docs/method.md §8.4).

    Returns (select_ids, eval_ids), both sorted; each part gets at least one cluster.
    """
    labels = np.unique(np.asarray(clusters).reshape(-1))
    if labels.size < 2:
        raise SpecError(f"held-out α selection needs ≥ 2 sentences, got {labels.size}")
    if not 0 < select_fraction < 1:
        raise SpecError(f"prompts.heldout_fraction must be in (0, 1), got {select_fraction!r}")
    perm = np.random.default_rng(seed).permutation(labels)
    k = min(max(1, round(select_fraction * labels.size)), labels.size - 1)
    return np.sort(perm[:k]), np.sort(perm[k:])


def holdout_alpha(values_select: Any, values_eval: Any) -> tuple[int, np.ndarray]:
    """Choose the scale on held-out sentences, then evaluate it once on the others (docs/method.md §8.4).

    The best scale is the one with the highest mean over the selection sentences (NaN skipped; ties go to the
    first scale in grid order); the evaluation sentences contribute only their value at that scale, so there is
    no best-of-N inflation on them.

    Args:
        values_select: metric values [n_select_sentences, n_scales].
        values_eval: metric values [n_eval_sentences, n_scales] on the same scale grid.

    Returns:
        (best_scale_index, eval_values[n_eval_sentences]).
    """
    sel = np.asarray(values_select, dtype=np.float64)
    ev = np.asarray(values_eval, dtype=np.float64)
    if sel.ndim != 2 or ev.ndim != 2 or sel.shape[1] != ev.shape[1] or 0 in sel.shape or 0 in ev.shape:
        raise InternalError(f"holdout_alpha needs two non-empty [sentences, scales] arrays on one grid, got "
                            f"{sel.shape} and {ev.shape}")
    counts = (~np.isnan(sel)).sum(axis=0)
    if not counts.any():
        raise InternalError("holdout_alpha: every selection value is NaN")
    means = np.where(counts > 0, np.nansum(sel, axis=0) / np.maximum(counts, 1), -np.inf)
    best = int(np.argmax(means))
    return best, ev[:, best].copy()


def fraction_improved(values: Any) -> float:
    """Share of values strictly above 0 (e.g. per-sentence Δ), NaN skipped; NaN when none is defined."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[~np.isnan(v)]
    return float(np.mean(v > 0)) if v.size else float("nan")
