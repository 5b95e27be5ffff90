"""Clustered rates and paired rate differences: the bootstrap where it can vary, sentence-level intervals where not."""

from __future__ import annotations

import numpy as np
import pytest

from interf_dsl.stats.rates import clustered_rate, paired_rate_diff

SENT = np.repeat(np.arange(8), 8)  # 8 sentences x 8 trials


def test_rate_without_variation_is_wilson_over_sentences():
    zero = clustered_rate(np.zeros(64), SENT, n_boot=200)
    assert (zero.estimate, zero.lo) == (0.0, 0.0) and zero.hi == pytest.approx(0.3244, abs=1e-3)
    # the interval counts the 8 sentences; n is still the 64 trials behind the rate
    assert zero.method.startswith("wilson_over_sentences") and (zero.n, zero.n_clusters) == (64, 8)
    full = clustered_rate(np.ones(64), SENT, n_boot=200)
    assert full.estimate == 1.0 and full.lo == pytest.approx(1 - 0.3244, abs=1e-3) and full.hi == 1.0
    assert (full.n, full.n_clusters) == (64, 8)


def test_rate_with_variation_is_the_cluster_bootstrap():
    s = np.zeros(64)
    s[:8] = 1
    est = clustered_rate(s, SENT, n_boot=200)
    assert est.method == "cluster_bootstrap_percentile" and est.lo < est.estimate == 0.125 < est.hi
    assert clustered_rate(np.array([0.0, 1.0, 1.0]), np.zeros(3)).method == "wilson"  # one sentence


def test_paired_difference_that_never_varies_is_newcombe_over_sentences():
    zeros = paired_rate_diff(np.zeros(64), SENT, np.zeros(64), SENT, n_boot=200)
    assert zeros.estimate == 0.0 and (zeros.lo, zeros.hi) == pytest.approx((-0.3244, 0.3244), abs=2e-3)
    one = np.zeros(64)
    one[16:24] = 1  # sentence 2 always succeeds, in both arms
    same = paired_rate_diff(one, SENT, one.copy(), SENT, n_boot=200)
    assert same.method.startswith("newcombe_over_sentences") and same.n_clusters == 8
    assert (same.lo, same.hi) == pytest.approx((-0.3608, 0.3608), abs=2e-3)
    other = one.copy()
    other[0] = 1  # now the paired difference varies: the paired bootstrap
    assert paired_rate_diff(other, SENT, one, SENT, n_boot=200).method == "paired_cluster_bootstrap_percentile"
