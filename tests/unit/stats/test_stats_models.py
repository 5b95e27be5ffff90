"""Held-out α, fraction improved, clustered OLS (against lstsq and a hand sandwich), power, Estimate."""

import dataclasses
import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from interf_dsl.errors import SpecError
from interf_dsl.stats.estimate import Estimate
from interf_dsl.stats.power import design_effect, min_detectable_effect
from interf_dsl.stats.regression import ols_clustered
from interf_dsl.stats.rigorous import fraction_improved, holdout_alpha, holdout_split


def test_holdout_alpha_selects_on_select_evaluates_once():
    select = np.array([[0.0, 0.2, 0.1], [0.0, 0.4, 0.5]])  # means: 0, .3, .3 → tie goes to the first, index 1
    evaluate = np.array([[9.0, 1.0, 7.0], [8.0, 2.0, 6.0], [7.0, 3.0, 5.0]])
    best, values = holdout_alpha(select, evaluate)
    assert best == 1
    np.testing.assert_array_equal(values, [1.0, 2.0, 3.0])  # not the eval-set maximum (9, 8, 7)


def test_holdout_alpha_skips_nan():
    best, _ = holdout_alpha(np.array([[np.nan, 0.1], [np.nan, 0.2]]), np.zeros((1, 2)))
    assert best == 1


def test_holdout_split_partitions():
    sel, ev = holdout_split(np.repeat(np.arange(10), 3), select_fraction=0.3, seed=1)
    assert sel.size == 3 and ev.size == 7
    assert set(sel) | set(ev) == set(range(10)) and not set(sel) & set(ev)
    with pytest.raises(SpecError):
        holdout_split([1, 1, 1])


def test_fraction_improved():
    assert fraction_improved([0.1, 0.0, -0.2, 0.3, np.nan]) == pytest.approx(0.5)


def _frame(seed=0, n_clusters=25, per=8):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_clusters), per)
    x = rng.normal(size=g.size) + rng.normal(size=n_clusters)[g]
    s = rng.normal(size=g.size)
    layer = np.array(["att", "mlp", "res"])[rng.integers(0, 3, g.size)]
    y = 0.5 + 2.0 * x - 1.0 * s + (layer == "mlp") * 0.3 + rng.normal(size=n_clusters)[g] + rng.normal(size=g.size)
    return pl.DataFrame({"y": y, "interference": x, "S": s, "layer_type": layer, "target": g})


def test_ols_coefficients_match_lstsq_and_clustered_se_matches_sandwich():
    df = _frame()
    out = ols_clustered(df, "y ~ interference + S", cluster="target")
    X = np.column_stack([np.ones(df.height), df["interference"].to_numpy(), df["S"].to_numpy()])
    y = df["y"].to_numpy()
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(out["coef"].to_numpy(), beta, rtol=1e-10)
    assert out["term"].to_list() == ["Intercept", "interference", "S"]
    # CR1 sandwich with the small-sample factor G/(G−1)·(N−1)/(N−K)
    resid, g = y - X @ beta, df["target"].to_numpy()
    bread = np.linalg.inv(X.T @ X)
    meat = sum(np.outer(X[g == c].T @ resid[g == c], X[g == c].T @ resid[g == c]) for c in np.unique(g))
    n, k, G = X.shape[0], X.shape[1], np.unique(g).size
    cov = bread @ meat @ bread * G / (G - 1) * (n - 1) / (n - k)
    np.testing.assert_allclose(out["se"].to_numpy(), np.sqrt(np.diag(cov)), rtol=1e-8)
    assert out["n"].to_list() == [200] * 3 and out["n_clusters"].to_list() == [25] * 3
    assert (out["ci_lo"] < out["coef"]).all() and (out["coef"] < out["ci_hi"]).all()


def test_ols_categorical_controls_and_missing_rows():
    df = _frame(seed=1).with_columns(pl.when(pl.col("target") == 0).then(None).otherwise(pl.col("S")).alias("S"))
    out = ols_clustered(df, "y ~ interference + S + C(layer_type)", cluster="target")
    assert set(out["term"]) == {"Intercept", "interference", "S", "C(layer_type)[T.mlp]", "C(layer_type)[T.res]"}
    assert out["n"][0] == 192 and out["n_clusters"][0] == 24  # cluster 0 dropped with its missing S
    coef = dict(zip(out["term"], out["coef"], strict=True))
    assert coef["interference"] == pytest.approx(2.0, abs=0.2)


def test_ols_errors_name_the_column():
    df = _frame()
    with pytest.raises(SpecError) as exc:
        ols_clustered(df, "y ~ interference", cluster="targte")
    assert "target" in (exc.value.items[0].full_hint() or "")
    with pytest.raises(SpecError):
        ols_clustered(df, "y ~ nonexistent", cluster="target")


def test_min_detectable_effect_closed_form():
    res = min_detectable_effect(0.35, 10_000)
    h = (norm.ppf(0.975) + norm.ppf(0.8)) / math.sqrt(10_000 / 2)
    assert res.cohens_h == pytest.approx(h, rel=1e-4)
    assert res.p1 == pytest.approx(math.sin(math.asin(math.sqrt(0.35)) + res.cohens_h / 2) ** 2, rel=1e-12)
    assert res.diff == pytest.approx(0.019, abs=5e-4)
    # 100 trials per sentence with ICC 0.05 → design effect 5.95 → the detectable h grows by √5.95
    deff = design_effect(100, 0.05)
    assert deff == pytest.approx(5.95)
    clustered = min_detectable_effect(0.35, 10_000, design_effect=deff)
    assert clustered.cohens_h == pytest.approx(h * math.sqrt(deff), rel=1e-4)
    assert clustered.to_dict()["n_effective"] == pytest.approx(10_000 / deff)


def test_estimate_is_frozen_and_flat():
    est = Estimate(0.1, 0.0, 0.2, 10, 5, 0.95, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.estimate = 1.0  # type: ignore[misc]
    assert est.to_dict() == {"estimate": 0.1, "lo": 0.0, "hi": 0.2, "n": 10, "n_clusters": 5, "ci": 0.95,
                             "method": "x", "p": None, "statistic": None}
    assert "0.1 [0, 0.2]" in str(est)


def test_icc_oneway_recovers_simulated_icc():
    from interf_dsl.stats.power import icc_oneway

    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(200), 10)
    values = rng.normal(0, 1.0, 200)[g] + rng.normal(0, 1.0, g.size)  # ICC = 1 / (1 + 1) = 0.5
    assert icc_oneway(values, g) == pytest.approx(0.5, abs=0.07)
    assert icc_oneway(rng.normal(size=2000), g) == pytest.approx(0.0, abs=0.05)
    # hand example: clusters {1,1}, {3,3} → MSW 0, ICC 1
    assert icc_oneway([1.0, 1.0, 3.0, 3.0], [0, 0, 1, 1]) == pytest.approx(1.0)
