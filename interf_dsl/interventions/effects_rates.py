"""Interventions kind: effects of the neuron focus (by degree bin) and of type injection (success rates).

Input: the `interventions` rows of one focus and the `stats` section. Output: `effects` rows in both modes.
Neuron (§5.4): masking = the largest drop over scales < 1, amplifying = the largest increase over scales > 1 per
case (paper); rigorous picks the masking/amplifying scale on select sentences and evaluates it once. Type injection
(§6.2, §8.7): paper = success rate with Welch's t on trials vs random and stars; rigorous = Wilson CI, the
sentence-clustered rate difference to random (cluster-robust OLS), Cohen's h.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from interf_dsl.interventions.effects import _row, case_ids, t_interval
from interf_dsl.stats import BOOTSTRAP_SEED
from interf_dsl.stats.estimate import Estimate
from interf_dsl.stats.paper import stars, welch_t
from interf_dsl.stats.proportions import cluster_robust_proportion_test, cohens_h, wilson_ci
from interf_dsl.stats.rates import clustered_rate
from interf_dsl.stats.rigorous import cluster_bootstrap_mean, holdout_alpha

if TYPE_CHECKING:
    import polars as pl

    from interf_dsl.lang.sections import Stats

NEURON_CASE = ["source", "hook", "condition", "level", "coordinate", "target", "sentence_id"]


def neuron_effects(df: pl.DataFrame, stats: Stats, log: Any = print) -> list[dict]:
    """Masking and amplifying effects on weighted cosine (Δc absolute) per condition × degree bin."""
    import polars as pl

    ci, n_boot, seed = stats.ci, stats.bootstrap, BOOTSTRAP_SEED
    rows: list[dict] = []
    for direction, sel_scale, sign in (("masking", pl.col("alpha") < 1, -1.0), ("amplifying", pl.col("alpha") > 1, 1.0)):
        part = df.filter(sel_scale)
        if part.height == 0:
            continue
        # Paper: the largest change in the direction over the scales, per case.
        pc = part.group_by(NEURON_CASE).agg((pl.col("wc_delta") * sign).max().alias("v"))
        for (source, cond, level), lv in pc.group_by(["source", "condition", "level"]):
            g = {"source": source, "focus": "neuron", "tau": None, "type": direction, "level": f"{cond}:{level}"}
            v = sign * lv["v"].to_numpy()
            rows.append(_row(g, "wc_delta", "paper", f"max_{direction}", t_interval(v, ci, "t_interval"),
                             cases=(case_ids(lv, ["hook", "coordinate", "target", "sentence_id"]), v)))
        # Rigorous: one scale per (hook, condition, bin), chosen on select sentences, evaluated on eval ones.
        for (source, cond, level), lv in part.group_by(["source", "condition", "level"]):
            vals, clusters, alphas, ids = [], [], [], []
            for (hook,), h in lv.group_by(["hook"]):
                wide = h.with_columns((pl.col("wc_delta") * sign).alias("v")).pivot(
                    on="alpha", index=["coordinate", "target", "sentence_id", "split"], values="v",
                    aggregate_function="mean")
                cols = [c for c in wide.columns if c not in ("coordinate", "target", "sentence_id", "split")]
                s, e = wide.filter(pl.col("split") == "select"), wide.filter(pl.col("split") == "eval")
                if s.height == 0 or e.height == 0:
                    continue
                best, ev = holdout_alpha(s.select(cols).to_numpy(), e.select(cols).to_numpy())
                vals += list(sign * ev)
                clusters += e["sentence_id"].to_list()
                ids += [f"{hook}/{k}" for k in case_ids(e, ["coordinate", "target", "sentence_id"])]
                alphas.append(float(cols[best]))
            if len(set(clusters)) < 2:
                log(f"neuron {direction} {cond}:{level}: fewer than 2 eval sentences; rigorous row skipped")
                continue
            g = {"source": source, "focus": "neuron", "tau": None, "type": direction, "level": f"{cond}:{level}"}
            rows.append(_row(g, "wc_delta", "rigorous", "heldout_alpha_mean",
                             cluster_bootstrap_mean(np.array(vals), np.array(clusters), n_boot, ci, seed),
                             float(np.mean(alphas)), cases=(ids, np.array(vals))))
    return rows


def type_effects(df: pl.DataFrame, stats: Stats, control: str = "random") -> list[dict]:
    """Success rates per (source, token sets injected, type, condition) and their comparison with the random
    condition."""
    import polars as pl

    ci = stats.ci
    rows: list[dict] = []
    if "token_sets" not in df.columns:  # trials of before the column: the source's own sets
        df = df.with_columns(pl.col("source").alias("token_sets"))
    if "trial" not in df.columns:  # trials numbered within each sentence and condition, for the case ids
        df = df.with_columns(pl.int_range(pl.len()).over(["source", "token_sets", "type", "condition", "sentence_id"])
                             .alias("trial"))
    for (source, sets, typ), part in df.group_by(["source", "token_sets", "type"]):
        # sorted before any column is read: outcomes, clusters and case ids must line up row by row
        ctl = part.filter(pl.col("condition") == control).sort("sentence_id", "trial")
        cs = ctl["success"].cast(pl.Float64).to_numpy()
        ctl_ids = case_ids(ctl, ["sentence_id", "trial"])
        for (cond,), lv in part.group_by(["condition"]):
            lv = lv.sort("sentence_id", "trial")
            s = lv["success"].cast(pl.Float64).to_numpy()
            ids = case_ids(lv, ["sentence_id", "trial"])
            g = {"source": source, "focus": "prompt", "tau": None, "type": typ, "level": cond, "token_sets": sets}
            p = welch_t(s, cs)[1] if cond != control and s.size >= 2 and cs.size >= 2 else None
            w = wilson_ci(int(s.sum()), int(s.size), ci)
            r = _row(g, "success_rate", "paper", "rate_welch_vs_random",
                     Estimate(w.estimate, w.lo, w.hi, w.n, None, ci, "wilson", p=p), cases=(ids, s))
            r["stars"] = stars(p) if p is not None else ""
            rows.append(r)
            # trials within a sentence are not independent: the interval resamples sentences (a Wilson interval
            # over trials covered the true rate 33 % of the time in simulation, the cluster bootstrap 95 %)
            rate = clustered_rate(s, lv["sentence_id"].to_numpy(), stats.bootstrap, ci, BOOTSTRAP_SEED)
            rows.append(_row(g, "success_rate", "rigorous", "rate", dataclasses.replace(
                rate, n_clusters=int(lv["sentence_id"].n_unique())), cases=(ids, s)))
            if cond != control and cs.size and lv["sentence_id"].n_unique() >= 2:
                d = cluster_robust_proportion_test(s, lv["sentence_id"].to_numpy(), cs, ctl["sentence_id"].to_numpy(), ci)
                # Every condition runs the same trials on the same sentences: pair trial k of sentence s.
                cases = (ids, s - cs) if ids == ctl_ids else None
                r = _row(g, "success_rate", "rigorous", f"diff_vs_{control}", d, cases=cases)
                r["cohens_h"] = float(cohens_h(s.mean(), cs.mean()))
                rows.append(r)
    return rows
