"""Paper mode: the authors' best-over-scales initialisations, conditional mean, Welch's test and stars."""

import math

import numpy as np
import pytest

from interf_dsl.errors import SpecError
from interf_dsl.stats.paper import best_over_scales, paper_mean, stars, welch_t

VALUES = np.array([[0.1, 0.3], [0.2, -1.0], [np.nan, np.nan], [-0.4, -0.3]])
BASE = np.array([0.5, 0.3, 0.4, -0.5])


def test_best_over_scales_zero_init_can_fall_below_baseline():
    # SAE loop: running max starts at 0 → sentence 0 records 0.3 < baseline 0.5; negative metrics floor at 0
    np.testing.assert_allclose(best_over_scales(VALUES, BASE, init="zero"), [0.3, 0.2, 0.0, 0.0])


def test_best_over_scales_baseline_init_is_at_least_baseline():
    np.testing.assert_allclose(best_over_scales(VALUES, BASE, init="baseline"), [0.5, 0.3, 0.4, -0.3])


def test_best_over_scales_batch_dims_and_scalar_baseline():
    v = np.arange(24, dtype=float).reshape(2, 3, 4)
    out = best_over_scales(v, 100.0, init="baseline")
    assert out.shape == (2, 3) and (out == 100).all()
    np.testing.assert_array_equal(best_over_scales(v, 0.0), v[..., -1])


def test_best_over_scales_bad_init():
    with pytest.raises(SpecError):
        best_over_scales(VALUES, BASE, init="max")


def test_paper_mean_conditional_on_positive():
    v = [1.0, -1.0, 2.0, np.nan, 0.0]
    assert paper_mean(v) == pytest.approx(0.5)
    assert paper_mean(v, positive_only=True) == pytest.approx(1.5)
    assert math.isnan(paper_mean([-1.0, 0.0], positive_only=True))


def test_welch_against_hand_formula():
    from scipy import stats as st

    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 8.0, 10.0])
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    got_t, got_p = welch_t(a, b)
    assert got_t == pytest.approx(t, rel=1e-12)
    assert got_p == pytest.approx(2 * st.t.sf(abs(t), df), rel=1e-9)


def test_welch_degenerate_arms():
    assert welch_t(np.ones(5), np.zeros(5)) == (math.inf, 0.0)
    t, p = welch_t(np.ones(5), np.ones(5))
    assert math.isnan(t) and math.isnan(p)


@pytest.mark.parametrize("p, mark", [(0.0009999, "***"), (0.001, "**"), (0.00999, "**"), (0.01, "*"),
                                     (0.0499, "*"), (0.05, ""), (0.5, ""), (float("nan"), "")])
def test_stars_thresholds(p, mark):
    assert stars(p) == mark


def test_t_interval_against_formula():
    from scipy import stats as st

    from interf_dsl.stats.paper import t_interval

    v = np.array([1.0, 2.0, 4.0, np.nan])
    est = t_interval(v)
    half = st.t.ppf(0.975, 2) * np.std([1.0, 2.0, 4.0], ddof=1) / math.sqrt(3)
    assert est.estimate == pytest.approx(7 / 3)
    assert (est.lo, est.hi) == (pytest.approx(7 / 3 - half), pytest.approx(7 / 3 + half))
    assert est.n == 3 and est.n_clusters is None and est.method == "t_interval"
    assert math.isnan(t_interval([1.0]).lo)
