"""Transfer kind: statistics of the `transfer_trials` table → the `transfer` summary and the transfer ratio.

Input: trial rows (target, type, condition, sentence_id, trial, estimator, k, count, baseline_count, success), the
`stats` section, and the sources' prompt-focus `effects` rows (rescored at the target's k when it is below theirs,
see `inputs.rescored_source_effects`; their k labels the grid's source rows and the ratio's `source_k`). Output, per target × type × condition: success rate
with a sentence-clustered bootstrap CI (pooled rate; sentences resampled), the difference to the random condition
with a paired cluster-bootstrap CI (every condition runs on the same sentences), Cohen's h vs random, Welch's t p
and stars on the 0/1 trials (paper mode, pseudo-replicated as the authors did), a cluster-robust p (OLS with
sentence-clustered SEs) and its Benjamini-Hochberg q over the target's family of comparisons (rigorous mode).

Transfer ratio = (target rate − target random rate) / (source rate − source random rate), per source, with a
delta-method CI: SE(target diff) and SE(source diff) are taken from their CI half-widths (/ z), assumed independent,
SE(R) ≈ sqrt(SE_t² / s² + t² SE_s² / s⁴). Undefined (NaN) when the source effect is 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from interf_dsl.stats import BOOTSTRAP_SEED
from interf_dsl.stats.paper import stars, welch_t
from interf_dsl.stats.proportions import benjamini_hochberg, cluster_robust_proportion_test, cohens_h
from interf_dsl.stats.rates import clustered_rate, paired_rate_diff
from interf_dsl.transfer.trials import CONDITIONS, CONTROL

if TYPE_CHECKING:
    from interf_dsl.lang.sections import Stats

SUMMARY_KEYS = ["target", "type", "condition"]


def summarize(trials: pl.DataFrame, stats: Stats) -> pl.DataFrame:
    """The `transfer` summary table (one row per target × type × condition)."""

    if stats.mode is None:
        raise ValueError("stats.mode is unset: the spec's preset resolves it before the plan is built")
    mode = stats.mode
    paper, rigorous = mode in ("paper", "both"), mode in ("rigorous", "both")
    ci, n_boot, seed = stats.ci, stats.bootstrap, BOOTSTRAP_SEED
    rows: list[dict[str, Any]] = []
    for (target, typ), part in sorted(trials.group_by(["target", "type"]), key=lambda kv: kv[0]):
        part = part.sort(["sentence_id", "trial"])
        ctl = part.filter(pl.col("condition") == CONTROL)
        cs, cc = ctl["success"].cast(pl.Float64).to_numpy(), ctl["sentence_id"].to_numpy()
        for cond in (c for c in CONDITIONS if c in set(part["condition"])):
            lv = part.filter(pl.col("condition") == cond)
            s, sc = lv["success"].cast(pl.Float64).to_numpy(), lv["sentence_id"].to_numpy()
            n_sent = int(np.unique(sc).size)
            rate = clustered_rate(s, sc, n_boot, ci, seed)
            row: dict[str, Any] = {
                "target": target, "type": typ, "condition": cond, "estimator": lv["estimator"][0],
                "k": lv["k"][0], "n_trials": int(s.size), "n_sentences": n_sent, "successes": int(s.sum()),
                "success_rate": rate.estimate, "ci_lo": rate.lo, "ci_hi": rate.hi, "ci_method": rate.method,
                "diff_vs_random": None, "diff_lo": None, "diff_hi": None, "cohens_h": None,
                "p_welch": None, "stars": None, "p_cluster": None, "q_bh": None}
            if cond != CONTROL and cs.size and n_sent >= 2 and np.array_equal(np.unique(sc), np.unique(cc)):
                d = paired_rate_diff(s, sc, cs, cc, n_boot, ci, seed)
                row.update(diff_vs_random=d.estimate, diff_lo=d.lo, diff_hi=d.hi,
                           cohens_h=float(cohens_h(s.mean(), cs.mean())))
                if paper:
                    p = welch_t(s, cs)[1]
                    row.update(p_welch=None if math.isnan(p) else p, stars=stars(p))
                if rigorous:
                    p = cluster_robust_proportion_test(s, sc, cs, cc, ci).p
                    row["p_cluster"] = None if p is None or math.isnan(p) else p
            rows.append(row)
    out = pl.DataFrame(rows, schema=SUMMARY_SCHEMA)
    if rigorous and out.height:
        for target in out["target"].unique().to_list():
            mask = (out["target"] == target) & out["p_cluster"].is_not_null()
            if mask.any():
                _, q = benjamini_hochberg(out.filter(mask)["p_cluster"].to_numpy(), stats.fdr)
                idx = np.flatnonzero(mask.to_numpy())
                qs = out["q_bh"].to_list()
                for i, v in zip(idx, q, strict=True):
                    qs[i] = float(v)
                out = out.with_columns(pl.Series("q_bh", qs, dtype=pl.Float64))
    return out


SUMMARY_SCHEMA = {
    "target": pl.Utf8, "type": pl.Utf8, "condition": pl.Utf8, "estimator": pl.Utf8, "k": pl.Int64,
    "n_trials": pl.Int64, "n_sentences": pl.Int64, "successes": pl.Int64, "success_rate": pl.Float64,
    "ci_lo": pl.Float64, "ci_hi": pl.Float64, "ci_method": pl.Utf8, "diff_vs_random": pl.Float64,
    "diff_lo": pl.Float64, "diff_hi": pl.Float64, "cohens_h": pl.Float64, "p_welch": pl.Float64, "stars": pl.Utf8,
    "p_cluster": pl.Float64, "q_bh": pl.Float64,
}


def source_diffs(effects: pl.DataFrame) -> dict[tuple[str, str, str], tuple[float, float, float]]:
    """(source, type, condition) → (diff vs random, ci_lo, ci_hi) from the sources' prompt-focus effects."""
    if effects.height == 0 or "estimator" not in effects.columns:
        return {}
    rows = effects.filter((pl.col("focus") == "prompt") & (pl.col("estimator") == f"diff_vs_{CONTROL}"))
    return {(r["source"], r["type"], r["level"]): (r["estimate"], r["ci_lo"], r["ci_hi"]) for r in rows.to_dicts()
            if r["estimate"] is not None}


def fieller(t: float, se_t: float, s: float, se_s: float, z: float) -> tuple[float, float, str]:
    """Fieller's interval for θ_t / θ_s from independent normal estimates t, s with SEs se_t, se_s: the ρ with
    (t − ρ·s)² ≤ z²·(se_t² + ρ²·se_s²). Exact under normality, where the delta method (symmetric around t/s)
    under-covers unless the source's effect is many SEs from 0. Returns (lo, hi, method); NaN bounds with the reason
    when the set is unbounded (the source's effect within z SEs of 0) or the target's CI has zero width (no
    uncertainty to propagate: [ratio, ratio] would be a false certainty).
    """
    if se_t == 0:
        return float("nan"), float("nan"), "fieller: no CI (the target's difference has a zero-width CI)"
    a = s * s - z * z * se_s * se_s
    if a <= 0:
        return float("nan"), float("nan"), ("fieller: no bounded CI (the source's difference is within "
                                            f"{z:.2f} SEs of 0)")
    b, c = -2 * t * s, t * t - z * z * se_t * se_t
    root = math.sqrt(max(b * b - 4 * a * c, 0.0))
    return (-b - root) / (2 * a) + 0.0, (-b + root) / (2 * a) + 0.0, "fieller"


def transfer_ratios(summary: pl.DataFrame, sources: dict[tuple[str, str, str], tuple[float, float, float]],
                    ci: float = 0.95, source_k: int | None = None) -> pl.DataFrame:
    """Target effect / source effect per target × type × condition × source, with Fieller's CI (`fieller`).

    `source_k` labels the k the sources' effects were scored (or rescored) at; the target's is in its summary.
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + ci / 2)
    rows = []
    for r in summary.filter(pl.col("diff_vs_random").is_not_null()).to_dicts():
        for (src, typ, cond), (s, s_lo, s_hi) in sorted(sources.items()):
            if typ != r["type"] or cond != r["condition"]:
                continue
            t = r["diff_vs_random"]
            se_t, se_s = (r["diff_hi"] - r["diff_lo"]) / (2 * z), (s_hi - s_lo) / (2 * z)
            ratio = lo = hi = float("nan")
            method = "no ratio: the source's effect is 0" if s == 0 else "fieller"
            if s != 0:
                ratio = t / s + 0.0  # + 0.0: no -0.0 in the table
                lo, hi, method = fieller(t, se_t, s, se_s, z)
            rows.append({"target": r["target"], "type": typ, "condition": cond, "source": src,
                         "target_effect": t, "source_effect": s, "ratio": ratio, "ratio_lo": lo, "ratio_hi": hi,
                         "method": method, "estimator": r["estimator"], "k": r["k"], "source_k": source_k})
    schema = {"target": pl.Utf8, "type": pl.Utf8, "condition": pl.Utf8, "source": pl.Utf8,
              "target_effect": pl.Float64, "source_effect": pl.Float64, "ratio": pl.Float64, "ratio_lo": pl.Float64,
              "ratio_hi": pl.Float64, "method": pl.Utf8, "estimator": pl.Utf8, "k": pl.Int64, "source_k": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def grid_rows(summary: pl.DataFrame, effects: pl.DataFrame, source_k: int | None = None) -> pl.DataFrame:
    """The Table-1 grid: sources' rows (from their effects) and the targets' rows, one row per model × type × cond.

    A source row's `k` is the effects' `k` column (set when they were rescored at the target's k), else `source_k`.
    """
    rows = []
    if effects.height and "estimator" in effects.columns:
        src = effects.filter((pl.col("focus") == "prompt") & (pl.col("metric") == "success_rate")
                             & pl.col("estimator").is_in(["rate_welch_vs_random", "rate"]))
        seen: set[tuple] = set()
        for r in src.sort("estimator", descending=True).to_dicts():  # the paper row (with stars) first
            key = (r["source"], r["type"], r["level"])
            if key in seen:
                continue
            seen.add(key)
            rows.append({"model": r["source"], "role": "source", "type": r["type"], "condition": r["level"],
                         "success_rate": r["estimate"], "ci_lo": r["ci_lo"], "ci_hi": r["ci_hi"],
                         "stars": r.get("stars") or "", "estimator": "logprobs",
                         "k": r["k"] if r.get("k") is not None else source_k})
    for r in summary.to_dicts():
        rows.append({"model": r["target"], "role": "target", "type": r["type"], "condition": r["condition"],
                     "success_rate": r["success_rate"], "ci_lo": r["ci_lo"], "ci_hi": r["ci_hi"],
                     "stars": r["stars"] or "", "estimator": r["estimator"], "k": r["k"]})
    schema = {"model": pl.Utf8, "role": pl.Utf8, "type": pl.Utf8, "condition": pl.Utf8, "success_rate": pl.Float64,
              "ci_lo": pl.Float64, "ci_hi": pl.Float64, "stars": pl.Utf8, "estimator": pl.Utf8, "k": pl.Int64}
    return pl.DataFrame(rows, schema=schema)
