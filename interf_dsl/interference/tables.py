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


PAIR_SCHEMA = {"source": "Utf8", "hook": "Utf8", "metric": "Utf8", "set": "Utf8", "feature": "Int64",
               "partner": "Int64", "I": "Float64", "S": "Float64", "bin": "Int64", "tau": "Float64", "rank": "Int64"}


def _compact_pairs(m: BlockedMap, bins: Bins) -> dict[str, torch.Tensor]:
    """Bin and top rows in one dict of compact tensors (int32 ids, float32 values, int8 set/bin/τ, int16 rank)."""
    import torch

    br, tr = m.bin_rows, m.top_rows
    parts = []
    if br:
        parts.append({**{k: br[k] for k in ("feature", "partner", "I", "S", "rank")}, "bin": br["bin"],
                      "tau_idx": br["tau_idx"], "set": torch.zeros(br["I"].numel(), dtype=torch.int8)})
    if tr:
        parts.append({**{k: tr[k] for k in ("feature", "partner", "I", "S", "rank")},
                      "bin": bins.codes(tr["I"].float()).to(torch.int8),
                      "tau_idx": torch.full((tr["I"].numel(),), -1, dtype=torch.int8),
                      "set": torch.ones(tr["I"].numel(), dtype=torch.int8)})
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]} if parts else {}


def pairs_table(m: BlockedMap, ids: torch.Tensor, tau_t: torch.Tensor, bins: Bins, *, source: str, hook: str,
                metric: str) -> pl.DataFrame:
    """The `pairs` table, sorted by (set, feature, tau (nulls last), bin, rank), built column by column.

    Why so careful: at 32k features it holds ~6 M rows; building it through per-frame polars expressions, a concat
    and a sort took ~1.4 GB of transient memory (measured), several times the final table. Here the sort runs on
    the compact tensors (one int64 permutation) and each output column is materialised once, at its final dtype.
    """
    import numpy as np
    import polars as pl
    import torch

    schema = {k: getattr(pl, v) for k, v in PAIR_SCHEMA.items()}
    c = _compact_pairs(m, bins)
    if not c:
        return pl.DataFrame(schema=schema)
    nt = tau_t.numel()
    # tau ascending = τ index descending (taus are given loosest first); "top" rows (τ index -1) sort last anyway
    order = np.lexsort((c["rank"].numpy(), c["bin"].numpy(), (nt - c["tau_idx"].long()).numpy(),
                        c["feature"].numpy(), c["set"].numpy()))
    order_t = torch.from_numpy(order)
    rows = len(order)
    tau_vals = np.append(tau_t.numpy(), np.nan)  # index -1 → NaN → null
    cols = {
        "source": pl.repeat(source, rows, eager=True, dtype=pl.Utf8),
        "hook": pl.repeat(hook, rows, eager=True, dtype=pl.Utf8),
        "metric": pl.repeat(metric, rows, eager=True, dtype=pl.Utf8),
        "set": pl.Series(["bin", "top"], dtype=pl.Utf8).gather(c.pop("set")[order_t].long().numpy()),
        "feature": pl.Series(ids[c.pop("feature")[order_t].long()].numpy()),
        "partner": pl.Series(ids[c.pop("partner")[order_t].long()].numpy()),
        "I": pl.Series(c.pop("I")[order_t].double().numpy()),
        "S": pl.Series(c.pop("S")[order_t].double().numpy(), nan_to_null=True),
        "bin": pl.Series(c.pop("bin")[order_t].long().numpy()),
        "tau": pl.Series(tau_vals[c.pop("tau_idx").numpy()[order]], nan_to_null=True),
        "rank": pl.Series(c.pop("rank")[order_t].long().numpy()),
    }
    return pl.DataFrame([s.alias(k).cast(schema[k]) for k, s in cols.items()])


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
