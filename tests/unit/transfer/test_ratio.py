"""transfer_ratio: Fieller's CI on hand-built effects and in simulation, and no false certainty from degenerate CIs."""

from __future__ import annotations

import math

import polars as pl
import pytest

from interf_dsl.lang.sections import Stats
from interf_dsl.transfer.summary import transfer_ratios


def _summary(rows):
    return pl.DataFrame([{"target": "t", "estimator": "logprobs", "k": 5, **r} for r in rows])


def test_fieller_interval_and_degenerate_cases():
    z = 1.959963984540054
    summary = _summary([
        {"type": "a", "condition": "high", "diff_vs_random": 0.1, "diff_lo": 0.1 - 0.05 * z, "diff_hi": 0.1 + 0.05 * z},
        {"type": "b", "condition": "high", "diff_vs_random": 0.0, "diff_lo": 0.0, "diff_hi": 0.0},
        {"type": "c", "condition": "high", "diff_vs_random": 0.2, "diff_lo": 0.1, "diff_hi": 0.3},
    ])
    sources = {("s", "a", "high"): (0.2, 0.2 - 0.1 * z, 0.2 + 0.1 * z), ("s", "b", "high"): (-0.05, -0.1, 0.0),
               ("s", "c", "high"): (0.0, -0.1, 0.1)}
    out = {r["type"]: r for r in transfer_ratios(summary, sources).to_dicts()}
    a = out["a"]  # ratio 0.5; Fieller: (0.1 − 0.2ρ)² ≤ z²(0.05² + 0.1²ρ²), a quadratic in ρ
    qa, qb, qc = 0.2**2 - z**2 * 0.1**2, -2 * 0.1 * 0.2, 0.1**2 - z**2 * 0.05**2
    root = math.sqrt(qb * qb - 4 * qa * qc)
    assert a["ratio"] == pytest.approx(0.5) and a["method"] == "fieller"
    assert (a["ratio_lo"], a["ratio_hi"]) == pytest.approx(((-qb - root) / (2 * qa), (-qb + root) / (2 * qa)))
    assert a["ratio_lo"] < 0.5 < a["ratio_hi"] and a["ratio_hi"] - 0.5 > 0.5 - a["ratio_lo"]  # skewed, not ±
    b = out["b"]  # no success in either arm on the target: ratio 0, but no interval
    assert b["ratio"] == 0.0 and math.copysign(1, b["ratio"]) == 1.0
    assert math.isnan(b["ratio_lo"]) and math.isnan(b["ratio_hi"]) and b["method"].startswith("fieller: no CI")
    assert math.isnan(out["c"]["ratio"]) and out["c"]["method"] == "no ratio: the source's effect is 0"  # said why


def test_success_rate_ci_is_never_a_point_when_nothing_varies():
    """0 of 64 trials over 8 sentences: Wilson over the 8 sentences ([0, 0.32]), not the bootstrap's [0, 0]; the same
    for differences the paired bootstrap cannot vary (Newcombe over the sentences)."""
    from interf_dsl.transfer.execute import TRIALS_SCHEMA
    from interf_dsl.transfer.summary import summarize

    rows = []
    arms = (("a", "target", set()), ("a", "random", {(0, 0), (0, 1), (3, 2), (5, 5)}),
            ("b", "target", set()), ("b", "random", set()),
            ("c", "target", {(2, t) for t in range(8)}), ("c", "random", {(2, t) for t in range(8)}))
    for typ, cond, hits in arms:
        for sid in range(8):
            for t in range(8):
                rows.append({"target": "t", "type": typ, "condition": cond, "sentence_id": sid, "trial": t,
                             "estimator": "logprobs", "k": 5, "count": 1, "baseline_count": 0,
                             "success": (sid, t) in hits, "prompt_sha": "x"})
    out = summarize(pl.DataFrame(rows, schema=TRIALS_SCHEMA), Stats(mode="rigorous", bootstrap=200))
    zero = out.filter((pl.col("type") == "a") & (pl.col("condition") == "target")).row(0, named=True)
    assert zero["success_rate"] == 0.0 and zero["ci_lo"] == 0.0
    assert zero["ci_hi"] == pytest.approx(0.3244, abs=1e-3) and zero["ci_method"].startswith("wilson_over_sentences")
    varied = out.filter((pl.col("type") == "a") & (pl.col("condition") == "random")).row(0, named=True)
    assert varied["ci_method"] == "cluster_bootstrap_percentile" and varied["ci_hi"] > varied["success_rate"] > 0
    assert zero["diff_lo"] < zero["diff_vs_random"] < zero["diff_hi"]  # one arm varies: the paired bootstrap
    # neither arm varies: Newcombe over the 8 sentences (0/8 vs 0/8), not a point at 0
    both = out.filter((pl.col("type") == "b") & (pl.col("condition") == "target")).row(0, named=True)
    assert both["diff_vs_random"] == 0.0
    assert (both["diff_lo"], both["diff_hi"]) == pytest.approx((-0.3244, 0.3244), abs=2e-3)
    # both arms vary, but sentence 2 always succeeds and the others never do, in both arms: the paired difference
    # is 0 in every sentence; Newcombe over the sentences (1/8 vs 1/8), not a point at 0
    same = out.filter((pl.col("type") == "c") & (pl.col("condition") == "target")).row(0, named=True)
    assert same["diff_vs_random"] == 0.0
    assert (same["diff_lo"], same["diff_hi"]) == pytest.approx((-0.3608, 0.3608), abs=2e-3)


def test_fieller_interval_covers_the_true_ratio():
    """1,000 simulated (target, source) effect pairs, the source's effect 3 SEs from 0: the bounded Fieller intervals
    hold the true ratio 0.93-0.97 of the time; a source within z SEs of 0 gets no bounded interval (the set is
    unbounded), said so, instead of a wide symmetric interval around a ratio that means nothing."""
    import numpy as np

    from interf_dsl.transfer.summary import fieller

    z, rng = 1.959963984540054, np.random.default_rng(3)
    theta_t, theta_s, se_t, se_s = 0.05, 0.1, 0.02, 0.1 / 3
    hit = shown = 0
    for _ in range(1000):
        t, s = rng.normal(theta_t, se_t), rng.normal(theta_s, se_s)
        lo, hi, method = fieller(t, se_t, s, se_s, z)
        assert math.isnan(lo) == (abs(s) <= z * se_s)
        if not math.isnan(lo):
            shown += 1
            hit += lo <= theta_t / theta_s <= hi
    assert shown > 800 and 0.93 <= hit / shown <= 0.97, (shown, hit / shown)
    lo, hi, method = fieller(0.1, 0.02, 0.05, 0.04, z)
    assert math.isnan(lo) and math.isnan(hi) and "no bounded CI" in method
