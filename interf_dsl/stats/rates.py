"""Stats, rigorous mode: success rates and paired rate differences with sentence-clustered CIs that never collapse.

Input: 0/1 success vectors with their cluster (sentence) ids. Output: `Estimate`s. The sentence-clustered bootstrap
(`rigorous.py`) is the estimator; where it has nothing to resample — no success or only successes, or a paired
difference that is the same in every sentence — its percentile interval is a point ([0, 0]), a false certainty.
There the interval is taken with the sentences as the units (the within-sentence correlation cannot be estimated
without variation, so this is the conservative count): Wilson for a rate (0/64 trials over 8 sentences ->
[0, 0.32]), Newcombe's hybrid score interval for a difference (0/8 vs 0/8 -> [-0.32, 0.32]; it ignores the
pairing, so it is conservative too). The method string says which was used.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from interf_dsl.stats._checks import as_1d
from interf_dsl.stats.estimate import Estimate
from interf_dsl.stats.rigorous import cluster_bootstrap_diff, cluster_bootstrap_mean, wilson_ci

DEGENERATE = "(no variation: bootstrap degenerate)"


def clustered_rate(success: Any, clusters: Any, n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> Estimate:
    """The success rate with a sentence-clustered bootstrap CI; Wilson over trials below 2 sentences, Wilson over
    the sentences where no trial (or every trial) succeeds."""
    s, sc = as_1d(success, "success"), as_1d(clusters, "clusters")
    k, n, n_sent = int(s.sum()), int(s.size), int(np.unique(sc).size)
    if n_sent < 2:
        return dataclasses.replace(wilson_ci(k, n, ci), n_clusters=n_sent)
    if k in (0, n):  # the interval counts sentences; n stays the trials behind the rate
        w = wilson_ci(n_sent if k else 0, n_sent, ci)
        return dataclasses.replace(w, estimate=k / n, n=n, n_clusters=n_sent,
                                   method=f"wilson_over_sentences {DEGENERATE}")
    return cluster_bootstrap_mean(s, sc, n_boot, ci, seed)


def paired_rate_diff(a: Any, a_clusters: Any, b: Any, b_clusters: Any, n_boot: int = 2000, ci: float = 0.95,
                     seed: int = 0) -> Estimate:
    """rate(a) − rate(b) measured on the same sentences: the paired cluster bootstrap, or Newcombe's interval over
    the sentences (counts = summed sentence rates) when the difference is the same in every sentence."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    ra, rb = _sentence_rates(a, a_clusters), _sentence_rates(b, b_clusters)
    if ra.size != rb.size or np.ptp(ra - rb) != 0:
        return cluster_bootstrap_diff(a, a_clusters, b, b_clusters, n_boot, ci, seed, paired=True)
    n = int(ra.size)
    lo, hi = confint_proportions_2indep(float(ra.sum()), n, float(rb.sum()), n, method="newcomb", compare="diff",
                                        alpha=1 - ci)
    return Estimate(float(ra.mean() - rb.mean()), float(lo), float(hi), int(np.size(a) + np.size(b)), n, ci,
                    f"newcombe_over_sentences {DEGENERATE}")


def _sentence_rates(x: Any, sentences: Any) -> np.ndarray:
    """Success rate per sentence, in sorted sentence order."""
    ids, inverse = np.unique(as_1d(sentences, "clusters"), return_inverse=True)
    return np.bincount(inverse, weights=as_1d(x, "success"), minlength=ids.size) / np.bincount(inverse,
                                                                                              minlength=ids.size)
