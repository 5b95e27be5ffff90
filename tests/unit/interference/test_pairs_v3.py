"""The `pairs` table stores each sampled pair once (schema v3); `select` re-derives the per-τ samples exactly.

The reference is dense and independent of the block code: per (feature, bin, τ), the partners of that bin that
pass τ, in the seeded order (`pair_keys` for bins ≥ 1, the walk's column order for the first bin), first k.
"""

from __future__ import annotations

import math
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interf_dsl.interference.bins import parse_bins  # noqa: E402
from interf_dsl.interference.blocked import compute_map  # noqa: E402
from interf_dsl.interference.select import sample_at  # noqa: E402
from interf_dsl.interference.tables import map_tables  # noqa: E402

TAUS = (0.4, 0.3, 0.2, 0.15)
SEED = 7
# feature 0's partners: (I, S) known exactly; several per bin, with S spread over the thresholds, so that with
# k = 2 the sample at a tight τ holds pairs that were crowded out at a loose τ
PARTNERS = [(0.05, 0.10), (0.06, 0.35), (0.07, 0.25), (0.08, 0.05), (0.03, 0.17), (0.13, 0.12), (0.16, 0.33),
            (0.12, 0.18), (0.17, 0.27), (0.14, 0.05), (0.23, 0.38), (0.26, 0.11), (0.24, 0.22), (0.27, 0.16),
            (0.33, 0.36), (0.36, 0.12), (0.45, 0.26), (0.55, 0.13), (0.65, 0.31), (0.48, 0.08)]


def hand_built():
    """d_0 = u_0, d_k = c u_0 + sqrt(1 - c²) u_k: cos(d_0, d_k) = c (and c_j c_k between partners); same for S."""
    import torch

    n = len(PARTNERS) + 1
    dec, emb = torch.zeros(n, n), torch.zeros(n, n)
    dec[0, 0] = emb[0, 0] = 1.0
    for k, (i, s) in enumerate(PARTNERS, 1):
        dec[k, 0], dec[k, k] = i, math.sqrt(1 - i * i)
        emb[k, 0], emb[k, k] = s, math.sqrt(1 - s * s)
    return dec, emb


def unit(x):
    return x / x.norm(dim=1, keepdim=True)


def dense_samples(v, e, bins, taus, k, seed, labels=None):
    """{(feature, bin, τ index): [partner, ...]} by the definition, from the full matrices."""
    import torch

    from interf_dsl.interference.block_parts import Walk, pair_keys

    n = v.shape[0]
    i_mat, s_mat = v @ v.T, e @ e.T
    codes = bins.codes(i_mat)
    codes.fill_diagonal_(-1)
    walk = Walk.make(n, k, seed, "cpu")
    out = {}
    for f in range(n):
        for b in range(bins.n):
            if b == 0:
                cols = walk.perm[(f * 7919 + torch.arange(walk.m)) % n].tolist()
            else:
                cols = torch.arange(n).tolist()
                keys = pair_keys(torch.full((n,), f), torch.arange(n), seed).tolist()
                cols.sort(key=lambda p: keys[p])
            for t, tau in enumerate(taus):
                ok = [p for p in cols if codes[f, p] == b
                      and (s_mat[f, p] < tau if labels is None else labels[t][f] != labels[t][p])]
                if ok[:k]:
                    out[(f, b, t)] = ok[:k]
    return out


def stored_samples(pairs, ids, n_bins, taus):
    """The same dict, re-derived from the v3 table the way `select` does."""
    out = {}
    for t, tau in enumerate(taus):
        for (f, b), df in sample_at(pairs.filter(pairs["set"] == "bin"), tau, ids).items():
            out[(f, b, t)] = df["partner"].to_list()
    return out


def _tables(v, e, k, labels=None):
    bins = parse_bins(None)
    m = compute_map(v, e, bins, TAUS, top_partners=k, memory_budget_mb=0.002, seed=SEED, cluster_labels=labels)
    return bins, map_tables(m, list(range(v.shape[0])), source="s", hook="h", metric="decoder_cos", taus=TAUS,
                            bins=bins)


def test_hand_built_known_cosines_one_row_per_pair_and_ranks_equal_dense():
    import polars as pl

    dec, emb = hand_built()
    bins, tabs = _tables(dec, emb, 2)
    pairs = tabs["pairs"]
    assert pairs.schema["source"] == pl.Categorical and pairs.schema["feature"] == pl.Int32
    assert pairs.schema["I"] == pl.Float32 and "tau" not in pairs.columns
    assert pairs.select("set", "feature", "partner").is_unique().all()
    want = dense_samples(dec, emb, bins, TAUS, 2, SEED)
    assert stored_samples(pairs, list(range(dec.shape[0])), bins.n, TAUS) == want
    # feature 0, bin [.1,.2): partners 6..10 with S = .12 .33 .18 .27 .05: at τ = .15 only 6 and 10 pass
    f0 = {t: want.get((0, 1, t)) for t in range(len(TAUS))}
    assert sorted(f0[3]) == [6, 10] and all(len(p) == 2 for p in f0.values())
    # with k = 2 some samples change with τ (pairs crowded out at a loose τ come in at a tight one)
    assert any(want.get((f, b, 0)) != want.get((f, b, t)) for f, b, t in want)
    # each stored pair carries its exact cosines and a τ range it is really sampled at
    row = pairs.filter((pl.col("set") == "bin") & (pl.col("feature") == 0) & (pl.col("partner") == 10)).row(
        0, named=True)
    assert row["I"] == pytest.approx(0.14, abs=1e-6) and row["S"] == pytest.approx(0.05, abs=1e-6)
    kept = [t for t in range(len(TAUS)) if 10 in f0[t]]
    assert (row["tau_max"], row["tau_min"]) == (TAUS[kept[0]], TAUS[kept[-1]])


@pytest.mark.parametrize("mode", ["pairwise", "cluster"])
def test_random_maps_re_derive_every_per_tau_sample(mode):
    import torch

    torch.manual_seed(11)
    n = 60
    v, e = unit(torch.randn(n, 4)), unit(torch.randn(n, 3))  # few dimensions: crowded bins, varied S
    labels = None
    if mode == "cluster":
        fine = torch.randint(0, 16, (n,))
        labels = [fine, fine // 2, fine // 4, fine // 8]  # nested, loosest τ (finest clusters) first
    bins, tabs = _tables(v, e, 3, labels)
    got = stored_samples(tabs["pairs"], list(range(n)), bins.n, TAUS)
    assert got == dense_samples(v, e, bins, TAUS, 3, SEED, labels)
    # the τ ranges differ between pairs (not every pair is kept at every τ), so the test exercises the ranges
    b = tabs["pairs"].filter(tabs["pairs"]["set"] == "bin")
    assert (b["tau_min"] != b["tau_max"]).any() and (b["tau_max"] < TAUS[0]).any()


def test_v2_layout_migrates_back_to_the_same_v3_rows():
    """The v2 layout of a map's samples (one row per τ, rank at τ) converts to exactly the v3 rows."""
    import polars as pl
    import torch

    from interf_dsl.report.migrate import _pairs_v2_to_v3

    torch.manual_seed(5)
    v, e = unit(torch.randn(50, 4)), unit(torch.randn(50, 3))
    _, tabs = _tables(v, e, 3)
    v3 = tabs["pairs"]
    v2 = pl.concat([v2_of(v3.filter(pl.col("set") == "bin"), TAUS),
                    v3.filter(pl.col("set") == "top").drop("tau_min", "tau_max", "order").with_columns(
                        pl.lit(None, pl.Float64).alias("tau"), pl.col("source", "hook", "metric", "set")
                        .cast(pl.String), pl.col("feature", "partner", "bin", "rank").cast(pl.Int64),
                        pl.col("I", "S").cast(pl.Float64))], how="diagonal")
    assert v2.height > v3.height  # several τ per pair
    back = _pairs_v2_to_v3(v2).select(v3.columns)
    key = ["set", "feature", "bin", "partner"]
    assert back.schema == v3.schema
    assert back.sort(key).equals(v3.sort(key))


def v2_of(v3, taus):
    """The v2 layout of v3 "bin" rows: one row per τ in the pair's range, with its rank at that τ."""
    import polars as pl

    parts = []
    for tau in taus:
        d = v3.filter((pl.col("tau_min") <= tau) & (pl.col("tau_max") >= tau)).sort("feature", "bin", "order")
        parts.append(d.with_columns(pl.lit(tau).alias("tau"), pl.int_range(pl.len()).over("feature", "bin")
                                    .cast(pl.Int64).alias("rank")))
    return pl.concat(parts).drop("tau_min", "tau_max", "order").with_columns(
        pl.col("source", "hook", "metric", "set").cast(pl.String),
        pl.col("feature", "partner", "bin").cast(pl.Int64), pl.col("I", "S").cast(pl.Float64))
