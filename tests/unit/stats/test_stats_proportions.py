"""Wilson CIs, Cohen's h, z-test, Benjamini-Hochberg and the cluster-robust rate difference against hand values."""

import math

import numpy as np
import pytest
from scipy.stats import norm

from interf_dsl.errors import InternalError
from interf_dsl.stats.rigorous import (
    benjamini_hochberg,
    cluster_robust_proportion_test,
    cohens_h,
    two_proportion_z,
    wilson_ci,
)


def test_wilson_against_formula():
    k, n, z = 3, 10, norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    est = wilson_ci(k, n)
    assert est.estimate == pytest.approx(0.3)
    assert (est.lo, est.hi) == (pytest.approx(centre - half, abs=1e-10), pytest.approx(centre + half, abs=1e-10))
    assert est.method == "wilson" and est.n == 10 and est.n_clusters is None


def test_wilson_reproduces_method_reference():
    # docs/method.md §12: paired choice 64.3% of 3,800, Wilson [0.628, 0.658]
    est = wilson_ci(round(0.643 * 3800), 3800)
    assert est.lo == pytest.approx(0.628, abs=1e-3) and est.hi == pytest.approx(0.658, abs=1e-3)


def test_wilson_bad_counts():
    with pytest.raises(InternalError):
        wilson_ci(11, 10)


def test_cohens_h_values():
    assert cohens_h(0.5, 0.5) == 0.0
    assert cohens_h(1.0, 0.0) == pytest.approx(math.pi)
    np.testing.assert_allclose(cohens_h(np.array([0.2, 0.8]), 0.5),
                               [2 * math.asin(math.sqrt(0.2)) - math.pi / 2, 2 * math.asin(math.sqrt(0.8)) - math.pi / 2])


def test_two_proportion_z_formula_and_degenerate():
    k1, n1, k2, n2 = 30, 100, 20, 100
    pool = (k1 + k2) / (n1 + n2)
    z = (k1 / n1 - k2 / n2) / math.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
    got_z, got_p = two_proportion_z(k1, n1, k2, n2)
    assert got_z == pytest.approx(z) and got_p == pytest.approx(2 * norm.sf(z))
    assert all(math.isnan(x) for x in two_proportion_z(0, 10, 0, 20))


def test_benjamini_hochberg_hand_example():
    # sorted p: .005 .01 .02 .045 .5; thresholds i·.05/5: .01 .02 .03 .04 .05 → largest passing rank 3
    p = [0.01, 0.045, 0.02, 0.005, 0.5]
    rejected, adjusted = benjamini_hochberg(p, alpha=0.05)
    np.testing.assert_array_equal(rejected, [True, False, True, True, False])
    np.testing.assert_allclose(adjusted, [0.025, 0.05625, 0.02 * 5 / 3, 0.025, 0.5])


def test_benjamini_hochberg_keeps_shape_and_rejects_nan():
    rejected, adjusted = benjamini_hochberg(np.array([[0.001, 0.9], [0.04, 0.03]]))
    assert rejected.shape == adjusted.shape == (2, 2)
    with pytest.raises(InternalError):
        benjamini_hochberg([0.01, float("nan")])


def _trials(rng, rate_a, rate_b, n_sent=50, per=40, sd=1.0):
    """0/1 trials per sentence from a logistic model with a sentence random effect (shared by both arms)."""
    sent = rng.normal(0, sd, n_sent)
    clusters = np.repeat(np.arange(n_sent), per)
    logit = lambda r: math.log(r / (1 - r))  # noqa: E731
    pa = 1 / (1 + np.exp(-(logit(rate_a) + sent[clusters])))
    pb = 1 / (1 + np.exp(-(logit(rate_b) + sent[clusters])))
    return (rng.random(clusters.size) < pa).astype(float), (rng.random(clusters.size) < pb).astype(float), clusters


def test_cluster_robust_is_wider_than_naive_on_clustered_trials():
    rng = np.random.default_rng(11)
    a, b, c = _trials(rng, 0.35, 0.35, sd=1.5)
    # shuffle b's sentences so the arms are not paired; the sentence effect then inflates the variance
    est = cluster_robust_proportion_test(a, c, b, c + 1000)
    naive_se = math.sqrt(a.mean() * (1 - a.mean()) / a.size + b.mean() * (1 - b.mean()) / b.size)
    robust_se = (est.hi - est.lo) / (2 * 1.96)
    assert est.estimate == pytest.approx(a.mean() - b.mean())
    assert robust_se > 2.0 * naive_se
    assert est.n == 4000 and est.n_clusters == 100 and est.p is not None


def test_cluster_robust_matches_ols_without_clustering_when_independent():
    rng = np.random.default_rng(3)
    a = (rng.random(2000) < 0.4).astype(float)
    b = (rng.random(2000) < 0.3).astype(float)
    est = cluster_robust_proportion_test(a, np.arange(2000), b, np.arange(2000, 4000))
    naive_se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert (est.hi - est.lo) / (2 * 1.96) == pytest.approx(naive_se, rel=0.02)
    assert est.p < 1e-6 and est.statistic > 5
