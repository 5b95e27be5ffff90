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


def ols_slope(sums: dict) -> dict[str, float]:
    """Slope of I on S over the unordered feature pairs, its dyadic-robust SE and normal 95% CI.

    Pairs sharing a feature are not independent: the SE sums each feature's score Σ_j x_ij·u_ij (x = S - mean S,
    u the residual) over features, Var ≈ Σ_i G_i² (the dyadic-robust sandwich, without its O(n²) same-pair
    correction: slightly conservative). `ols_se_pairs` is the textbook SE treating the n(n-1)/2 pairs as independent
    (the authors' analysis); it is smaller by about √n on real maps. Sums arrive over ordered pairs.
    """
    n = sums.get("n", 0.0)
    if n < 6:
        return {}
    sxx = sums["ss"] - sums["s"] ** 2 / n
    sxy = sums["si"] - sums["s"] * sums["i"] / n
    syy = sums["ii"] - sums["i"] ** 2 / n
    if sxx <= 0:
        return {}
    slope = sxy / sxx
    sse = max(syy - slope * sxy, 0.0)
    pairs = n / 2  # each unordered pair was summed twice: halve n, sse and sxx
    se_pairs = math.sqrt((sse / 2) / (pairs - 2) / (sxx / 2))
    out = {"ols_slope": slope, "ols_se_pairs": se_pairs}
    rows = sums["rows"]
    x_bar, intercept = sums["s"] / n, (sums["i"] - slope * sums["s"]) / n
    n_feat = rows["i"].numel()
    # G_i = Σ_j≠i (S_ij - x̄)(I_ij - a - b S_ij), expanded into the row sums
    g = (rows["si"] - intercept * rows["s"] - slope * rows["ss"] - x_bar * rows["i"]
         + x_bar * intercept * (n_feat - 1) + slope * x_bar * rows["s"])
    se = math.sqrt(float((g * g).sum())) / (sxx / 2)
    return {**out, "ols_se": se, "ols_ci_low": slope - 1.96 * se, "ols_ci_high": slope + 1.96 * se}


def _ids(t, ids):
    return ids[t.long()].numpy() if t.numel() else []


PAIR_SCHEMA = {"source": "Categorical", "hook": "Categorical", "metric": "Categorical", "set": "Categorical",
               "feature": "Int32", "partner": "Int32", "I": "Float32", "S": "Float32", "bin": "Int32",
               "tau_min": "Float64", "tau_max": "Float64", "order": "Int32", "rank": "Int32"}


def _compact_pairs(m: BlockedMap, bins: Bins) -> dict[str, torch.Tensor]:
    """Bin and top rows in one dict of compact tensors: int32 ids, float32 values, int8 set/bin/τ indices, and
    `key` (bin rows: position in the seeded order; top rows: rank by I). Top rows carry τ indices -1."""
    import torch

    br, tr = m.bin_rows, m.top_rows
    parts = []
    if br:
        parts.append({**{k: br[k] for k in ("feature", "partner", "I", "S", "bin", "tau_first", "tau_last")},
                      "key": br["pos"], "set": torch.zeros(br["I"].numel(), dtype=torch.int8)})
    if tr:
        minus = torch.full((tr["I"].numel(),), -1, dtype=torch.int8)
        parts.append({**{k: tr[k] for k in ("feature", "partner", "I", "S")},
                      "bin": bins.codes(tr["I"].float()).to(torch.int8), "tau_first": minus, "tau_last": minus,
                      "key": tr["rank"].int(), "set": torch.ones(tr["I"].numel(), dtype=torch.int8)})
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]} if parts else {}


def _group_order(feature, bin_, n_bin_rows: int):
    """0-based index of each sorted "bin" row within its (feature, bin) group (rows sorted by feature, bin, key)."""
    import numpy as np

    f, b = feature[:n_bin_rows].astype(np.int64), bin_[:n_bin_rows].astype(np.int64)
    new = np.ones(n_bin_rows, dtype=bool)
    new[1:] = (f[1:] != f[:-1]) | (b[1:] != b[:-1])
    idx = np.arange(n_bin_rows, dtype=np.int32)
    return idx - np.maximum.accumulate(np.where(new, idx, 0))


def pairs_table(m: BlockedMap, ids: torch.Tensor, tau_t: torch.Tensor, bins: Bins, *, source: str, hook: str,
                metric: str) -> pl.DataFrame:
    """The `pairs` table (schema v3): one row per (set, feature, partner), sorted by (set, feature, bin, order|rank).

    A "bin" row is a sampled pair with the τ range [tau_min, tau_max] at which it is in the sample (every map τ in
    that range, contiguous: see `block_parts._kept`) and `order`, its index among the stored pairs of its
    (feature, bin) in the seeded order; `select` re-derives the per-τ sample as the rows whose range holds τ, in
    `order` (their rank at τ is their index there). A "top" row has `rank` (by I) and null τ range and order.

    Why so careful: at 32k features it holds ~2 M rows (it held 5.9 M, one per τ, in schema v2); building it through
    per-frame polars expressions, a concat and a sort took ~1.4 GB of transient memory (measured). Here the sort
    runs on the compact tensors (one permutation) and each output column is materialised once, at its final dtype
    (Categorical strings, int32 ids, float32 I and S as computed).
    """
    import numpy as np
    import polars as pl

    schema = {k: getattr(pl, v) for k, v in PAIR_SCHEMA.items()}
    c = {k: v.numpy() for k, v in _compact_pairs(m, bins).items()}
    if not c:
        return pl.DataFrame(schema=schema)
    perm = np.lexsort((c["key"], c["bin"], c["feature"], c["set"]))
    rows, n_bin = len(perm), int((c["set"] == 0).sum())  # "bin" rows sort first
    for k in list(c):
        c[k] = c[k][perm]
    del perm
    tau_vals = np.append(tau_t.numpy(), np.nan)  # index -1 → NaN → null
    ids_np = ids.numpy()

    def const(value: str) -> pl.Series:
        return pl.repeat(value, rows, eager=True, dtype=pl.Categorical)

    def nulls(n: int) -> pl.Series:
        return pl.repeat(None, n, eager=True, dtype=pl.Int32)

    cols = {"source": const(source), "hook": const(hook), "metric": const(metric),
            "set": pl.Series(["bin", "top"], dtype=pl.Categorical).gather(c.pop("set")),
            "order": pl.concat([pl.Series(_group_order(c["feature"], c["bin"], n_bin)), nulls(rows - n_bin)]),
            "rank": pl.concat([nulls(n_bin), pl.Series(c.pop("key")[n_bin:].astype(np.int32))]),
            "feature": pl.Series(ids_np[c.pop("feature")].astype(np.int32)),
            "partner": pl.Series(ids_np[c.pop("partner")].astype(np.int32)),
            "I": pl.Series(c.pop("I").astype(np.float32, copy=False)),
            "S": pl.Series(c.pop("S").astype(np.float32, copy=False), nan_to_null=True),
            "bin": pl.Series(c.pop("bin").astype(np.int32)),
            "tau_min": pl.Series(tau_vals[c.pop("tau_last")], nan_to_null=True),
            "tau_max": pl.Series(tau_vals[c.pop("tau_first")], nan_to_null=True)}
    return pl.DataFrame([cols[k].alias(k).cast(schema[k]) for k in schema])


def map_tables(m: BlockedMap, feature_ids: list[int], *, source: str, hook: str, metric: str,
               taus: tuple[float, ...], bins: Bins, primary: bool = True) -> dict[str, pl.DataFrame]:
    """The tables of one metric (partner_counts and links only for the primary metric)."""
    import polars as pl
    import torch

    ids = torch.tensor(feature_ids, dtype=torch.long)
    tau_t = torch.tensor(taus, dtype=torch.float64)
    pairs = pairs_table(m, ids, tau_t, bins, source=source, hook=hook, metric=metric)
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
