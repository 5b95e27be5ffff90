"""Interference kind, `select` step core: targets and partners per docs/method.md §2.4.

Input: per SAE the `partner_counts` table (exact partners per bin and τ) and the `pairs` table (a seeded random
sample of partners per feature, bin and τ; one row per pair with the τ range it is sampled at, see `sample_at`). Output: `targets` (source, hook, tau, target) and `partners`
(source, hook, tau, target, bin, partner, I, S, rank). Rules: a target has ≥ 1 partner in EVERY bin at that τ;
targets are sampled uniformly without replacement (seeded); per bin the partner list is walked circularly from a
random start, keeping the first `partners_per_bin` that re-validate a ≤ I ≤ b (the authors' re-check) and pass τ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interf_dsl.interference.bins import Bins

if TYPE_CHECKING:
    import numpy as np
    import polars as pl


def qualifying_targets(counts: pl.DataFrame, tau: float, n_bins: int) -> list[int]:
    """Features with at least one partner in every bin at τ, ascending."""
    import polars as pl

    c = counts.filter((pl.col("tau") == tau) & (pl.col("count") > 0))
    ok = c.group_by("feature").agg(pl.col("bin").n_unique().alias("nb")).filter(pl.col("nb") == n_bins)
    return sorted(ok["feature"].to_list())


def walk_partners(candidates: list[tuple[int, float, float]], start: int, k: int, lo: float, hi: float,
                  tau: float | None) -> list[tuple[int, float, float]]:
    """The first k candidates (partner, I, S) from `start`, circularly, with lo <= I <= hi and S < tau."""
    out = []
    n = len(candidates)
    for step in range(n):
        p, i, s = candidates[(start + step) % n]
        if lo <= i <= hi and (tau is None or s < tau):
            out.append((p, i, s))
            if len(out) == k:
                break
    return out


def sample_at(pairs: pl.DataFrame | pl.LazyFrame, tau: float, features: list[int]) -> dict[tuple, pl.DataFrame]:
    """The seeded partner sample at τ of the given features: {(feature, bin): rows in rank order}.

    A "bin" row of `pairs` (schema v3) is in the sample at every map τ in [tau_min, tau_max]; at τ the rows whose
    range holds τ, in `order`, are the map's first `top_partners` candidates per (feature, bin), so a row's index
    in its list is its rank at τ (the v2 table stored that rank once per τ). Lazy: only the given features' rows
    are materialised (the table holds millions of rows at 32k features).
    """
    import polars as pl

    at = pairs.lazy().filter((pl.col("tau_min") <= tau) & (pl.col("tau_max") >= tau)
                             & pl.col("feature").is_in(features)).collect()
    return at.sort(["feature", "bin", "order"]).partition_by(["feature", "bin"], as_dict=True)


def select_sae(counts: pl.DataFrame, pairs: pl.DataFrame | pl.LazyFrame, bins: Bins, taus: tuple[float, ...], *,
               source: str, hook: str, targets_per_layer: int, partners_per_bin: int, rng: np.random.Generator,
               check_semantic: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Targets and partners of one SAE for every τ (τ in the given order, drawing from one seeded stream).

    Args:
        counts: partner_counts of the primary metric (feature, tau, bin, count).
        pairs: pairs rows with set == "bin" of the primary metric (feature, partner, I, S, bin, tau_min, tau_max,
            order: schema v3), as a DataFrame or a LazyFrame (then only the chosen targets' rows are collected).
        check_semantic: re-check S < τ in the walk (pairwise mode; cluster mode lists are pre-filtered).
    """
    import polars as pl

    trows, prows = [], []
    for tau in taus:
        pool = qualifying_targets(counts, tau, bins.n)
        chosen = sorted(rng.choice(pool, size=min(targets_per_layer, len(pool)), replace=False).tolist()) \
            if pool else []
        lists = sample_at(pairs, tau, chosen)
        for t in chosen:
            trows.append({"source": source, "hook": hook, "tau": tau, "target": int(t)})
            for b in range(bins.n):
                df = lists.get((t, b))
                cands = list(zip(df["partner"], df["I"], df["S"], strict=True)) if df is not None else []
                start = int(rng.integers(len(cands))) if cands else 0
                picked = walk_partners(cands, start, partners_per_bin, bins.edges[b], bins.edges[b + 1],
                                       tau if check_semantic else None)
                for rank, (p, i, s) in enumerate(picked):
                    prows.append({"source": source, "hook": hook, "tau": tau, "target": int(t), "bin": b,
                                  "partner": int(p), "I": float(i), "S": float(s), "rank": rank})
    targets = pl.DataFrame(trows, schema={"source": pl.Utf8, "hook": pl.Utf8, "tau": pl.Float64,
                                          "target": pl.Int64})
    partners = pl.DataFrame(prows, schema={"source": pl.Utf8, "hook": pl.Utf8, "tau": pl.Float64,
                                           "target": pl.Int64, "bin": pl.Int64, "partner": pl.Int64,
                                           "I": pl.Float64, "S": pl.Float64, "rank": pl.Int64})
    return targets, partners
