"""Interference kind, `map` step: the polars tables of one metric's `BlockedMap` (schemas in the README).

Input: a `BlockedMap` over the n mapped features and the feature ids they stand for. Output: `pairs`,
`partner_counts`, `links` and `map_stats` tables. `map_stats` holds the App. F fractions (I < t, -t <= I < t and
S < t for t in 0.1/0.15/0.2/0.3/0.4, exact: read from the joint class counts), and the OLS slope of I on S over all ordered
off-diagonal pairs with its standard error and normal 95% CI (pairs are not independent; the CI is descriptive).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from interf_dsl.interference.dense import APPF_THRESHOLDS, I_THRESHOLDS, S_THRESHOLDS

if TYPE_CHECKING:
    import polars as pl
    import torch

    from interf_dsl.interference.bins import Bins
    from interf_dsl.interference.blocked import BlockedMap

FRACTION_THRESHOLDS = APPF_THRESHOLDS


def _below(counts: torch.Tensor, thresholds: tuple[float, ...], t: float) -> float:
    return float(counts[thresholds.index(t)])


def ols_slope(sums: dict[str, float]) -> dict[str, float]:
    """Slope of I on S with SE and a normal 95% CI, from running sums."""
    n = sums.get("n", 0.0)
    if n < 3:
        return {}
    sxx = sums["ss"] - sums["s"] ** 2 / n
    sxy = sums["si"] - sums["s"] * sums["i"] / n
    syy = sums["ii"] - sums["i"] ** 2 / n
    if sxx <= 0:
        return {}
    slope = sxy / sxx
    sse = max(syy - slope * sxy, 0.0)
    se = math.sqrt(sse / (n - 2) / sxx)
    return {"ols_slope": slope, "ols_se": se, "ols_ci_low": slope - 1.96 * se, "ols_ci_high": slope + 1.96 * se}


def _ids(t, ids):
    return ids[t.long()].numpy() if t.numel() else []


def map_tables(m: BlockedMap, feature_ids: list[int], *, source: str, hook: str, metric: str,
               taus: tuple[float, ...], bins: Bins, primary: bool = True) -> dict[str, pl.DataFrame]:
    """The tables of one metric (partner_counts and links only for the primary metric)."""
    import polars as pl
    import torch

    ids = torch.tensor(feature_ids, dtype=torch.long)
    tau_t = torch.tensor(taus, dtype=torch.float64)
    pair_schema = {"source": pl.Utf8, "hook": pl.Utf8, "metric": pl.Utf8, "set": pl.Utf8, "feature": pl.Int64,
                   "partner": pl.Int64, "I": pl.Float64, "S": pl.Float64, "bin": pl.Int64, "tau": pl.Float64,
                   "rank": pl.Int64}
    frames = []
    br, tr = m.bin_rows, m.top_rows
    if br:
        frames.append(pl.DataFrame({
            "feature": _ids(br["feature"], ids), "partner": _ids(br["partner"], ids), "I": br["I"].double().numpy(),
            "S": br["S"].double().numpy(), "bin": br["bin"].long().numpy(), "tau": tau_t[br["tau_idx"].long()].numpy(),
            "rank": br["rank"].long().numpy()}).with_columns(pl.lit("bin").alias("set")))
    if tr:
        top_bins = bins.codes(tr["I"].float()).long()
        frames.append(pl.DataFrame({
            "feature": _ids(tr["feature"], ids), "partner": _ids(tr["partner"], ids), "I": tr["I"].double().numpy(),
            "S": tr["S"].double().numpy(), "bin": top_bins.numpy(), "tau": [None] * tr["I"].numel(),
            "rank": tr["rank"].long().numpy()}, schema_overrides={"tau": pl.Float64}).with_columns(pl.lit("top").alias("set")))
    lit = [pl.lit(source).alias("source"), pl.lit(hook).alias("hook"), pl.lit(metric).alias("metric")]
    cast = [pl.col(k).cast(v) for k, v in pair_schema.items()]
    pairs = (pl.concat([f.with_columns(lit).select(cast) for f in frames]) if frames
             else pl.DataFrame(schema=pair_schema))
    pairs = pairs.with_columns(
        pl.col("S").fill_nan(None)).sort("set", "feature", "tau", "bin", "rank", nulls_last=True)
    out = {"pairs": pairs, "map_stats": _stats(m, source, hook, metric, len(feature_ids))}
    if primary:
        n, nb, nt = m.counts.shape
        cnt = m.counts.reshape(-1).long()
        f_idx = torch.arange(n).repeat_interleave(nb * nt)
        b_idx = torch.arange(nb).repeat_interleave(nt).repeat(n)
        t_idx = torch.arange(nt).repeat(n * nb)
        out["partner_counts"] = pl.DataFrame({
            "source": source, "hook": hook, "metric": metric, "feature": ids[f_idx].numpy(),
            "tau": tau_t[t_idx].numpy(), "bin": b_idx.numpy(), "count": cnt.numpy()})
        lr = m.link_rows
        out["links"] = pl.DataFrame({
            "source": source, "hook": hook, "metric": metric, "feature": _ids(lr["feature"], ids) if lr else [],
            "partner": _ids(lr["partner"], ids) if lr else [],
            "I": lr["I"].double().numpy() if lr else [], "S": lr["S"].double().numpy() if lr else []},
            schema={"source": pl.Utf8, "hook": pl.Utf8, "metric": pl.Utf8, "feature": pl.Int64, "partner": pl.Int64,
                    "I": pl.Float64, "S": pl.Float64})
    return out


def _stats(m: BlockedMap, source: str, hook: str, metric: str, n: int) -> pl.DataFrame:
    import polars as pl

    rows = [("n_features", None, float(n)), ("n_pairs", None, float(n) * (n - 1) / 2),
            ("block_rows", None, float(m.block_rows))]
    total = float(n) * (n - 1)
    for t in FRACTION_THRESHOLDS if total else ():
        below = _below(m.i_below, I_THRESHOLDS, t)
        rows.append(("frac_I_below", t, below / total))
        rows.append(("frac_absI_below", t, (below - _below(m.i_below, I_THRESHOLDS, -t)) / total))
        if m.s_below is not None:
            rows.append(("frac_S_below", t, _below(m.s_below, S_THRESHOLDS, t) / total))
    rows.extend((k, None, v) for k, v in ols_slope(m.sums).items())
    return pl.DataFrame(rows, orient="row", schema={"stat": pl.Utf8, "threshold": pl.Float64,
                                                   "value": pl.Float64}).with_columns(
        pl.lit(source).alias("source"), pl.lit(hook).alias("hook"), pl.lit(metric).alias("metric")
    ).select("source", "hook", "metric", "stat", "threshold", "value")
