"""Selection on hand-built decoders with known cosines: bins, τ filtering, the every-bin rule, cluster exclusion."""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interf_dsl.interference.bins import parse_bins  # noqa: E402
from interf_dsl.interference.tables import map_tables  # noqa: E402

TAUS = (0.4, 0.3, 0.2, 0.15)
# target 0 has one partner per bin: (I, S) known exactly
PARTNERS = [(0.05, 0.10), (0.15, 0.35), (0.25, 0.10), (0.35, 0.18), (0.45, 0.05)]


def hand_built():
    """Decoder rows d_0 = e_0, d_k = c e_0 + sqrt(1 - c²) e_k, so cos(d_0, d_k) = c exactly; same for glosses."""
    import torch

    n = len(PARTNERS) + 1
    dec = torch.zeros(n, n)
    emb = torch.zeros(n, n)
    dec[0, 0] = emb[0, 0] = 1.0
    for k, (i, s) in enumerate(PARTNERS, 1):
        dec[k, 0], dec[k, k] = i, math.sqrt(1 - i * i)
        emb[k, 0], emb[k, k] = s, math.sqrt(1 - s * s)
    return dec, emb


def run_map(cluster_labels=None):
    from interf_dsl.interference.blocked import compute_map

    dec, emb = hand_built()
    m = compute_map(dec, emb, parse_bins(None), TAUS, top_partners=10, memory_budget_mb=1,
                    cluster_labels=cluster_labels)
    return map_tables(m, list(range(dec.shape[0])), source="s", hook="h", metric="decoder_cos", taus=TAUS,
                      bins=parse_bins(None))


def test_counts_and_every_bin_rule():
    import numpy as np
    import polars as pl

    from interf_dsl.interference.select import qualifying_targets, select_sae

    tabs = run_map()
    counts = tabs["partner_counts"]
    c0 = counts.filter((pl.col("feature") == 0) & (pl.col("tau") == 0.4)).sort("bin")["count"].to_list()
    assert c0 == [1, 1, 1, 1, 1]
    # τ = 0.3 drops the [.1,.2) partner (S = .35): target 0 no longer has every bin
    assert qualifying_targets(counts, 0.4, 5) == [0]
    assert qualifying_targets(counts, 0.3, 5) == []
    assert qualifying_targets(counts, 0.15, 5) == []
    targets, partners = select_sae(counts, tabs["pairs"].filter(pl.col("set") == "bin"), parse_bins(None), TAUS,
                                   source="s", hook="h", targets_per_layer=10, partners_per_bin=3,
                                   rng=np.random.default_rng(50))
    assert targets["target"].to_list() == [0] and targets["tau"].to_list() == [0.4]
    got = partners.sort("bin").select("bin", "partner", "I").rows()
    assert [(b, p) for b, p, _ in got] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert [round(i, 6) for _, _, i in got] == [0.05, 0.15, 0.25, 0.35, 0.45]


def test_cluster_exclusion_drops_same_cluster_partner():
    import polars as pl
    import torch

    from interf_dsl.interference.select import qualifying_targets

    # partner 3 ([.2,.3)) shares target 0's cluster at every cutoff: excluded although S = .10 < τ
    labels = [torch.tensor([1, 2, 3, 1, 5, 6])] * len(TAUS)
    counts = run_map(cluster_labels=labels)["partner_counts"]
    c0 = counts.filter((pl.col("feature") == 0) & (pl.col("tau") == 0.15)).sort("bin")["count"].to_list()
    assert c0 == [1, 1, 0, 1, 1]
    assert qualifying_targets(counts, 0.4, 5) == []


def test_walk_is_circular_and_revalidates():
    from interf_dsl.interference.select import walk_partners

    cands = [(10, 0.15, 0.1), (11, 0.25, 0.1), (12, 0.12, 0.5), (13, 0.11, 0.05)]
    assert walk_partners(cands, 2, 2, 0.1, 0.2, 0.3) == [(13, 0.11, 0.05), (10, 0.15, 0.1)]
    assert walk_partners(cands, 0, 5, 0.1, 0.2, None) == [(10, 0.15, 0.1), (12, 0.12, 0.5), (13, 0.11, 0.05)]


def test_clusters_nested_and_neurons():
    import numpy as np
    import polars as pl

    from interf_dsl.interference.clusters import cluster_features
    from interf_dsl.interference.neurons import neuron_table

    emb = np.array([[1, 0, 0], [0.95, 0.31, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labs = cluster_features(emb, (0.4, 0.15), "average", 64).labels
    assert labs[0.4][0] == labs[0.4][1] and len(set(labs[0.4])) == 3
    feats = pl.DataFrame({"feature": [0, 1, 2, 3], "neuron_idx": [[0, 1, 2], [0, 2, 1], [0, 1, 2], [1, 0, 2]],
                          "neuron_val": [[0.9, 0.3, 0.1], [0.8, 0.25, 0.1], [0.7, 0.1, 0.0], [0.5, 0.1, 0.0]]})
    neurons = neuron_table(feats, dict(enumerate(labs[0.4].tolist())), source="s", hook="h")
    rows = {r["neuron"]: r for r in neurons.iter_rows(named=True)}
    # neuron 0: features 0,1,2 -> clusters {A, B}; neuron 1: features 0, 3 -> 2 clusters; neuron 2: feature 1
    assert rows[0]["degree"] == 2 and rows[0]["n_features"] == 3 and rows[0]["degree_bin"] == "2-5"
    assert rows[1]["degree"] == 2 and rows[2]["degree"] == 1 and rows[2]["degree_bin"] == "1"
    assert not rows[0]["super"]


def test_sharing_matches_both_members():
    import numpy as np
    import polars as pl

    from interf_dsl.interference.share import PairSet, shared_pairs

    e = np.eye(4)
    a = PairSet("pythia", "h", pl.DataFrame({"feature": [0], "partner": [1], "I": [0.5], "S": [0.1]}),
                {0: e[0], 1: e[1]})
    b = PairSet("gpt2", "h", pl.DataFrame({"feature": [7, 8], "partner": [9, 9], "I": [0.45, 0.6], "S": [0.1, 0.1]}),
                {7: e[1], 8: e[0] * 0.6 + e[2] * 0.8, 9: e[0]})
    out = shared_pairs(a, b, share_similarity=0.5)
    # (0,1) ↔ (9,7) in reversed order; (8,9) fails because S(1, 9) = 0
    assert out.select("feature_b", "partner_b").rows() == [(9, 7)]
    assert out["sim_feature"][0] == 1.0
