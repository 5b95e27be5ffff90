"""Interventions kind: aggregate the `interventions` table into `effects` and `regressions`, in both modes.

Input: one `interventions` table (rows = case × condition × candidate × α, or trials for type injection) and the
`stats` section. Output: `effects` rows (source, focus, tau, type, level, metric, mode, estimator, n, n_clusters,
estimate, ci_lo, ci_hi, p, p_bh, alpha) and `regressions` rows (mode, model, metric, term, coef, se, …).

paper: best α (and candidate) per case, the authors' positive-only mean with a t interval, Welch's t against the
control level (§3.6, §8.5). rigorous: α chosen per (hook, level) on `select` sentences and evaluated once on `eval`
sentences, candidates averaged (equal budgets), unconditional mean and fraction improved with sentence-clustered
bootstrap CIs, the paired difference to the control, Benjamini-Hochberg over the step's family (§8.4-8.7).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interf_dsl.errors import SpecError
from interf_dsl.metrics import is_primary_effect, relative_change_authors
from interf_dsl.stats import BOOTSTRAP_SEED
from interf_dsl.stats.estimate import Estimate
from interf_dsl.stats.paper import best_over_scales, paper_mean, welch_t
from interf_dsl.stats.proportions import benjamini_hochberg
from interf_dsl.stats.regression import ols_clustered
from interf_dsl.stats.rigorous import cluster_bootstrap_diff, cluster_bootstrap_mean, holdout_alpha

if TYPE_CHECKING:
    import polars as pl

    from interf_dsl.lang.sections import Stats

CASE = ["source", "hook", "tau", "target", "coordinate", "sentence_id"]
STEER_METRICS = ("wc", "wo")
CLUSTER = "cluster"
"""The resampling unit of rigorous steering intervals: a target feature (`hook/target`), with all its sentences."""


def _row(group: dict, metric: str, mode: str, estimator: str, est: Estimate, alpha: float | None = None,
         cases: tuple[Any, Any] | None = None) -> dict:
    """One effects row; `cases` = (case ids, per-case values the estimate averages), kept under `_cases`."""
    row = {**group, "metric": metric, "mode": mode, "estimator": estimator, "n": est.n,
           "n_clusters": est.n_clusters, "estimate": est.estimate, "ci_lo": est.lo, "ci_hi": est.hi, "p": est.p,
           "alpha": alpha}
    if cases is not None:
        row["_cases"] = cases
    return row


def case_ids(df: pl.DataFrame, keys: list[str]) -> list[str]:
    """Text ids of the rows of `df` ("hook/target/sentence_id"…), from the key columns it has."""
    cols = [k for k in keys if k in df.columns]
    return ["/".join("" if v is None else str(v) for v in r) for r in df.select(cols).iter_rows()]


def split_cases(rows: list[dict]) -> list[dict]:
    """Pop `_cases` from effects rows into `effect_cases` rows (effect keys + case + value, NaN values dropped).

    A case id seen twice in one effect is a bug in the caller (the diff pairs cases one-to-one), so it raises.
    """
    keys = ("source", "focus", "tau", "type", "level", "token_sets", "metric", "mode", "estimator")
    out: list[dict] = []
    for r in rows:
        cases = r.pop("_cases", None)
        if cases is None:
            continue
        ids, values = cases
        g = {k: r.get(k) for k in keys}
        seen: set[str] = set()
        for c, v in zip(ids, np.asarray(values, dtype=float).tolist(), strict=True):
            if v != v:
                continue
            if c in seen:
                raise ValueError(f"effect {g}: case '{c}' appears twice")
            seen.add(c)
            out.append({**g, "case": str(c), "value": float(v)})
    return out


def t_interval(values: np.ndarray, ci: float, method: str) -> Estimate:
    """Mean with a Student-t interval (the paper's error bars); NaN interval for n < 2."""
    from scipy import stats

    v = values[~np.isnan(values)]
    if v.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, None, ci, method)
    m = float(v.mean())
    if v.size < 2:
        return Estimate(m, float("nan"), float("nan"), int(v.size), None, ci, method)
    half = float(stats.t.ppf(0.5 + ci / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return Estimate(m, m - half, m + half, int(v.size), None, ci, method)


def paper_cases(df: pl.DataFrame, metric: str, init: str, first_candidate: bool) -> pl.DataFrame:
    """Per case × level: best metric over α (and candidates), baseline, and the authors' relative change."""
    import polars as pl


    sub = df.filter(pl.col("candidate") == 0) if first_candidate else df
    keys = [c for c in CASE + ["level"] if c in sub.columns]
    g = sub.group_by(keys).agg(pl.col(metric).max().alias("best_raw"), pl.col(f"{metric}_base").first().alias("base"),
                               pl.col("I").max(), pl.col("S").max(), pl.col("layer_type").first())
    best = best_over_scales(g["best_raw"].to_numpy()[:, None], g["base"].to_numpy(), init=init)
    return g.with_columns(pl.Series("best", best),
                          pl.Series("rel", np.asarray(relative_change_authors(best, g["base"].to_numpy()))))


def rigorous_cases(df: pl.DataFrame, metric: str, log: Any = print) -> pl.DataFrame:
    """Per case × level at the α chosen on select sentences (per hook and level), candidates averaged."""
    import polars as pl

    col = f"{metric}_rel"
    keys = [c for c in CASE + ["level"] if c in df.columns]
    per = df.group_by(keys + ["split", "alpha", "layer_type"]).agg(
        pl.col(col).mean(), pl.col(metric).mean(), pl.col(f"{metric}_base").first(), pl.col("kl").mean(),
        pl.col("I").mean(), pl.col("S").mean())
    out = []
    for (hook, level), part in per.group_by(["hook", "level"]):
        wide = part.pivot(on="alpha", index=[k for k in keys if k != "level"] + ["split"], values=col,
                          aggregate_function="first")
        alphas = [c for c in wide.columns if c not in keys + ["split"]]
        sel = wide.filter(pl.col("split") == "select")
        ev = wide.filter(pl.col("split") == "eval")
        if sel.height == 0 or ev.height == 0:
            log(f"rigorous: hook {hook} level {level} has no select or no eval sentences; skipped")
            continue
        best, _ = holdout_alpha(sel.select(alphas).to_numpy(), ev.select(alphas).to_numpy())
        a = float(alphas[best])
        out.append(part.filter((pl.col("split") == "eval") & (pl.col("alpha") == a)))
    return pl.concat(out) if out else per.clear()


def steering_effects(df: pl.DataFrame, stats: Stats, control: str, init: str, first_candidate: bool,
                     log: Any = print) -> list[dict]:
    """Effects rows of a steering-like focus (feature, token, snippets), both modes, every level."""
    import polars as pl

    ci, n_boot, seed = stats.ci, stats.bootstrap, BOOTSTRAP_SEED
    rows: list[dict] = []
    focus = df["focus"][0]
    for metric in STEER_METRICS:
        for (source, tau), part in df.group_by(["source", "tau"]):
            grp = {"source": source, "focus": focus, "tau": tau, "type": None}
            pc = paper_cases(part, metric, init, first_candidate)
            ctrl = pc.filter(pl.col("level") == control)["rel"].drop_nans().drop_nulls().to_numpy()
            for (level,), lv in pc.group_by(["level"]):
                rel = lv["rel"].to_numpy().astype(float)
                ids = np.array(case_ids(lv, CASE), dtype=object)
                # The authors' plotting code averaged only strictly positive improvements (§8.5).
                pos = rel > 0
                e = t_interval(rel[pos], ci, "t_interval_positive_only")
                e = Estimate(paper_mean(rel, positive_only=True), e.lo, e.hi, e.n, None, ci, e.method)
                p = None
                vals = rel[~np.isnan(rel)]
                if level != control and vals.size >= 2 and ctrl.size >= 2:
                    p = welch_t(vals, ctrl)[1]
                rows.append(_row({**grp, "level": level}, f"{metric}_rel", "paper", "best_alpha_positive_mean",
                                 Estimate(e.estimate, e.lo, e.hi, e.n, None, ci, e.method, p=p),
                                 cases=(ids[pos].tolist(), rel[pos])))
                rows.append(_row({**grp, "level": level}, f"{metric}_rel", "paper", "best_alpha_mean",
                                 t_interval(rel, ci, "t_interval"), cases=(ids.tolist(), rel)))
            rc = rigorous_cases(part, metric, log)
            if rc.height == 0:
                continue
            # Sentences are nested in target features (on the demo the target explains ≈ 40 % of the variance):
            # intervals resample targets, each with all its sentences, so they are not too narrow.
            rc = rc.with_columns(pl.concat_str([pl.col("hook"), pl.col("target").cast(pl.Utf8)], separator="/")
                                 .alias(CLUSTER))
            ctl = rc.filter(pl.col("level") == control)
            for (level,), lv in rc.group_by(["level"]):
                v, cl = lv[f"{metric}_rel"].to_numpy(), lv[CLUSTER].to_numpy()
                if np.unique(cl).size < 2:
                    continue
                alpha = float(lv["alpha"].mean())
                g = {**grp, "level": level}
                ids = case_ids(lv, CASE)
                kl = lv["kl"].to_numpy()
                improved = (v > 0).astype(float)
                rows.append(_row(g, f"{metric}_rel", "rigorous", "heldout_alpha_mean",
                                 cluster_bootstrap_mean(v, cl, n_boot, ci, seed), alpha, cases=(ids, v)))
                rows.append(_row(g, f"{metric}_rel", "rigorous", "fraction_improved",
                                 cluster_bootstrap_mean(improved, cl, n_boot, ci, seed), alpha,
                                 cases=(ids, improved)))
                # Disruption at the α chosen for this metric: one row per metric, so effect keys stay unique.
                rows.append(_row(g, f"kl_at_{metric}_alpha", "rigorous", "heldout_alpha_mean",
                                 cluster_bootstrap_mean(kl, cl, n_boot, ci, seed), alpha, cases=(ids, kl)))
                if level != control and ctl.height and ctl[CLUSTER].n_unique() >= 2:
                    paired = set(cl.tolist()) == set(ctl[CLUSTER].to_list())
                    a = lv.group_by(CLUSTER).agg(pl.col(f"{metric}_rel").mean()).sort(CLUSTER)
                    b = ctl.group_by(CLUSTER).agg(pl.col(f"{metric}_rel").mean()).sort(CLUSTER)
                    av, bv = a[f"{metric}_rel"].to_numpy(), b[f"{metric}_rel"].to_numpy()
                    # Paired: the per-target difference is the case value; unpaired arms have no per-case value.
                    cases = (a[CLUSTER].to_list(), av - bv) if paired else None
                    rows.append(_row(g, f"{metric}_rel", "rigorous", f"diff_vs_{control}", cluster_bootstrap_diff(
                        av, a[CLUSTER].to_numpy(), bv, b[CLUSTER].to_numpy(), n_boot, ci, seed,
                        paired=paired), alpha, cases=cases))
    return rows


def regressions(df: pl.DataFrame, stats: Stats, init: str, first_candidate: bool, log: Any = print) -> list[dict]:
    """Models A (metric ~ I + S + baseline + layer type) and B (relative change ~ I + S + layer type), both modes."""
    import polars as pl


    ci = stats.ci
    out = []
    for metric in STEER_METRICS:
        data = {"paper": paper_cases(df, metric, init, first_candidate).rename({"best": "value", "base": "baseline"}),
                "rigorous": rigorous_cases(df, metric, log).rename({metric: "value", f"{metric}_base": "baseline",
                                                                    f"{metric}_rel": "rel"})}
        for mode, d in data.items():
            d = d.filter(pl.col("I").is_not_null() & pl.col("S").is_not_null() & (pl.col("level") != "self"))
            if d.height < 5:
                continue
            d = d.with_columns(pl.concat_str([pl.col("source"), pl.col("hook"), pl.col("target").cast(pl.Utf8)],
                                             separator="/").alias("cluster"))
            lt = " + C(layer_type)" if d["layer_type"].n_unique() > 1 else ""
            for model, formula in (("A", f"value ~ I + S + baseline{lt}"), ("B", f"rel ~ I + S{lt}")):
                k = formula.count("+") + 2 + (d["layer_type"].n_unique() - 2 if lt else 0)
                if d["cluster"].n_unique() <= k:
                    # A clustered covariance with no more clusters than parameters is singular.
                    log(f"regression {mode}/{model}/{metric} skipped: {d['cluster'].n_unique()} target clusters "
                        f"for {k} parameters")
                    continue
                try:
                    res = ols_clustered(d, formula, "cluster", ci)
                except SpecError as exc:
                    log(f"regression {mode}/{model}/{metric} skipped: {exc}")
                    continue
                out += [dict(r, mode=mode, model=model, metric=metric, formula=formula) for r in res.to_dicts()]
    return out


def bh_adjust(rows: list[dict], fdr: float, primary: str | None = None) -> list[dict]:
    """Add `primary` (the row measures `metrics.primary`) and `p_bh`: Benjamini-Hochberg within each family of one
    statistics mode and one role (primary or secondary metrics). Paper-mode p-values (pseudo-replicated) never
    share a family with rigorous ones, and secondary metrics do not dilute the primary family."""

    families: dict[tuple[Any, bool], list[int]] = {}
    for i, r in enumerate(rows):
        r["primary"] = is_primary_effect(str(r.get("metric", "")), primary)
        r.setdefault("p_bh", None)
        r.setdefault("bh_family", None)
        if r.get("p") is not None and not np.isnan(r["p"]):
            families.setdefault((r.get("mode"), r["primary"]), []).append(i)
    for (mode, is_primary), idx in families.items():
        _, adj = benjamini_hochberg(np.array([rows[i]["p"] for i in idx]), fdr)
        # the family each q-value was adjusted in, and its size, on the row itself
        family = f"{mode}/{'primary' if is_primary else 'secondary'} ({len(idx)} tests)"
        for i, a in zip(idx, adj, strict=True):
            rows[i]["p_bh"], rows[i]["bh_family"] = float(a), family
    return rows


def positive_control(effects: pl.DataFrame) -> dict[str, Any] | None:
    """The `self` condition as a positive control: steering a target along its own direction must move the primary
    metric (rigorous held-out α, interval above 0). Returns {checked, detected, taus_missed}; None when the focus
    has no `self` rows (prompt type injection, neuron)."""
    import polars as pl

    need = {"level", "mode", "estimator", "primary", "ci_lo", "tau"}
    if effects.height == 0 or not need <= set(effects.columns):
        return None
    rows = effects.filter((pl.col("level") == "self") & (pl.col("mode") == "rigorous")
                          & (pl.col("estimator") == "heldout_alpha_mean") & pl.col("primary"))
    if rows.height == 0:
        return None
    hit = rows["ci_lo"].fill_null(float("nan")) > 0
    return {"checked": rows.height, "detected": int(hit.sum()),
            "taus_missed": sorted({t for t, h in zip(rows["tau"].to_list(), hit.to_list(), strict=True) if not h})}

