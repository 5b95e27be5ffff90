"""atlas → explain(auto) → embed → map → select on two zoo SAEs through the registered step runners.

The zoo ships with the package, so this test fails (it does not skip) when the zoo artifacts are missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from step_context import StubContext

from interf_dsl.steps import get_runner

pytestmark = pytest.mark.integration

SAES = {"gpt2": ("zoo:gpt2-tiny", "blocks.3.hook_resid_post", "zoo:gpt2-tiny/L3.resid_post"),
        "pythia": ("zoo:pythia-tiny", "blocks.3.hook_resid_post", "zoo:pythia-tiny/L3.resid_post")}
BIN_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 1.0)
MAP = {"metrics": ["decoder_cos", "abs_decoder_cos"], "thresholds": [0.4, 0.3, 0.2, 0.15], "top_partners": 10,
       "memory_budget_mb": 64, "linkage": "average", "selection": "pairwise", "targets_per_layer": 10,
       "partners_per_bin": 3, "share_similarity": 0.5}


def Ctx(params, work_dir, inputs=None):
    """A stub context whose models and SAEs are the zoo's, loaded by reference."""
    from interf_dsl.backends.loading import load_model, load_sae

    return StubContext(params, work_dir, inputs or {}, model_for=lambda source: load_model(SAES[source][0]),
                       sae_for=lambda source, hook: load_sae(SAES[source][2]))


def test_zoo_map_and_select(tmp_path, monkeypatch):
    import polars as pl

    from interf_dsl.zoo.catalog import artifacts_dir

    assert (artifacts_dir() / "zoo.json").is_file(), "the zoo artifacts are part of the package"
    monkeypatch.setenv("INTERF_CACHE_DIR", str(tmp_path / "cache"))
    maps = {}
    for source, (_, hook, sae_ref) in SAES.items():
        base = {"source": source, "sae": sae_ref, "hook_name": hook}
        atlas = get_runner("atlas")(Ctx(base | {"corpus_fingerprint": "zoo:heldout",
                                                "atlas": {"corpus": "zoo:heldout", "max_tokens": 8192, "context": 64,
                                                          "batch_size": 32, "top_contexts": 10,
                                                          "top_token_ratio": 0.8}},
                                        tmp_path / source / "atlas"))
        feats = atlas.tables["features"]
        assert feats.height == 1536 and int(feats["active"].sum()) > 300
        expl = get_runner("explain")(Ctx({"source": source, "sae": sae_ref, "explanations": {"kind": "auto"}},
                                         tmp_path / source / "explain",
                                         {"atlas": ("atlas", atlas)}))
        emb = get_runner("embed")(Ctx({"embedding": {}}, tmp_path / source / "embed", {"explain": ("explain", expl)}))
        maps[source] = get_runner("map")(Ctx(base | {"map": MAP}, tmp_path / source / "map",
                                             {"atlas": ("atlas", atlas), "embed": ("embed", emb)}))
    pools = {}
    for source, m in maps.items():
        # every interference bin is populated for some features (sampled and top partners, before any τ filter)
        kept = m.tables["pairs"].filter(pl.col("metric") == "decoder_cos")
        assert sorted(set(kept["bin"].to_list()) - {-1}) == [0, 1, 2, 3, 4], source
        # schema v3: one row per (set, feature, partner); bin rows carry a τ range of the map's thresholds
        assert kept.select("set", "feature", "partner").is_unique().all()
        ranged = kept.filter(pl.col("set") == "bin")
        assert ranged.height and (ranged["tau_min"] <= ranged["tau_max"]).all()
        assert set(ranged["tau_min"].to_list()) | set(ranged["tau_max"].to_list()) <= set(MAP["thresholds"])
        counts = m.tables["partner_counts"]
        assert counts.filter((pl.col("tau") == 0.4) & (pl.col("bin") <= 2))["count"].max() > 0
        stats = m.tables["map_stats"].filter((pl.col("metric") == "decoder_cos") & (pl.col("stat") == "frac_I_below")
                                             & (pl.col("threshold") == 0.4))
        assert 0.9 < stats["value"][0] < 1.0
        assert m.meta["clustering"] == "exact" and Path(m.files["partners_per_bin"]).is_file()
        full = counts.filter(pl.col("count") > 0).group_by("feature", "tau").agg(pl.col("bin").n_unique().alias("nb"))
        pools[source] = full.filter(pl.col("nb") == 5)
    types = ["location", "number", "person", "action"]
    sel = get_runner("select")(Ctx({"map": MAP, "seeds": {"gpt2": 53, "pythia": 50},
                                    "token_sets": {"types": types, "high_threshold": 0.3}},
                                   tmp_path / "select", {f"map:{s}": ("map", m) for s, m in maps.items()}))
    targets, partners = sel.tables["targets"], sel.tables["partners"]
    for source, pool in pools.items():  # as many targets as qualify, up to targets_per_layer, per τ
        for tau in MAP["thresholds"]:
            want = min(MAP["targets_per_layer"], pool.filter(pl.col("tau") == tau).height)
            got = targets.filter((pl.col("source") == source) & (pl.col("tau") == tau)).height
            assert got == want, (source, tau)
    for row in targets.iter_rows(named=True):
        counts = maps[row["source"]].tables["partner_counts"]
        mine = counts.filter((pl.col("feature") == row["target"]) & (pl.col("tau") == row["tau"]))
        assert mine.height == 5 and bool((mine["count"] > 0).all())  # the every-bin rule
        got = partners.filter((pl.col("source") == row["source"]) & (pl.col("target") == row["target"])
                              & (pl.col("tau") == row["tau"]))
        assert sorted(set(got["bin"].to_list())) == [0, 1, 2, 3, 4]
    for row in partners.iter_rows(named=True):
        lo, hi = BIN_EDGES[row["bin"]], BIN_EDGES[row["bin"] + 1]
        assert lo <= row["I"] <= hi and row["S"] < row["tau"]
    ts = sel.tables["token_sets"]
    for source in SAES:
        mine = ts.filter(pl.col("source") == source)
        assert mine.filter(pl.col("level") == "target").height > 0
        assert mine.filter(pl.col("level") == "random").height > 0, source
        # HIGH/MEDIUM need links with I > 0.2 and S < 0.3; with the `auto` explainer on the zoo, high-I pairs share
        # top tokens and so glosses (S ≥ 0.3): none for gpt2-tiny L3 at 8k tokens. Not asserted.
    assert set(ts["source"].unique()) >= {"gpt2", "pythia", "union", "intersection"}
    assert np.isfinite(partners["I"].to_numpy()).all()
    # Table 1 in one run (docs/method.md §6.2): own sets at a per-source HIGH threshold, the union at the block's one
    # threshold. The union must equal that of a run where every source used the shared threshold (sel above: 0.3).
    sel2 = get_runner("select")(Ctx({"map": MAP, "seeds": {"gpt2": 53, "pythia": 50},
                                     "token_sets": {"types": types, "high_threshold": {"gpt2": 0.45, "pythia": 0.3},
                                                    "union_high_threshold": 0.3}},
                                    tmp_path / "select2", {f"map:{s}": ("map", m) for s, m in maps.items()}))
    ts2 = sel2.tables["token_sets"]
    key = ["source", "type", "level", "token_str"]
    for combined in ("union", "intersection"):
        assert ts2.filter(pl.col("source") == combined).sort(key).equals(
            ts.filter(pl.col("source") == combined).sort(key)), combined
    assert ts2.filter(pl.col("source") == "pythia").sort(key).equals(ts.filter(pl.col("source") == "pythia").sort(key))
    high = {t: set(d.filter((pl.col("source") == "gpt2") & (pl.col("level") == "high"))["token_str"])
            for t, d in (("0.3", ts), ("0.45", ts2))}
    assert high["0.45"] < high["0.3"]  # gpt2's own HIGH set at its stricter threshold: a strict subset
    from interf_dsl.interference.token_sets import combine_sources

    from_own = combine_sources(ts2.filter(pl.col("source").is_in(["gpt2", "pythia"])))
    assert not from_own.filter(pl.col("source") == "union").sort(key).equals(
        ts2.filter(pl.col("source") == "union").sort(key))  # the union is not built from the own sets
