"""atlas → explain → embed → map → select through the registered step runners, with a minimal StepContext."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from step_context import StubContext as Ctx

from interf_dsl.interference.metrics import INTERFERENCE_METRICS
from interf_dsl.steps import get_runner

HOOK = "blocks.0.hook_resid_post"


@pytest.fixture
def pipeline(tiny_model, tiny_sae, corpus_file, tmp_path, monkeypatch):
    monkeypatch.setenv("INTERF_CACHE_DIR", str(tmp_path / "cache"))
    objs = {"model": tiny_model, "sae": tiny_sae}
    atlas_p = {"corpus": str(corpus_file), "context": 8, "max_tokens": 400, "batch_size": 4, "top_contexts": 5,
               "top_token_ratio": 0.8, "max_top_tokens": 10, "neuron_alignments": 3, "logit_lens": 4,
               "coactivation_tokens": 32}
    results = {}
    ctx = Ctx({"source": "m", "sae": "zoo", "hook_name": HOOK, "atlas": atlas_p, "corpus_fingerprint": "test"},
              tmp_path / "atlas", objects=objs)
    results["atlas"] = get_runner("atlas")(ctx)
    ctx_e = Ctx({"source": "m", "sae": "zoo", "explanations": {"kind": "auto"}}, tmp_path / "explain",
                {"atlas:m": ("atlas", results["atlas"])})
    results["explain"] = get_runner("explain")(ctx_e)
    ctx_m = Ctx({"embedding": {}}, tmp_path / "embed", {"explain:m": ("explain", results["explain"])})
    results["embed"] = get_runner("embed")(ctx_m)
    # every registered interference metric, i.e. every name `interf list` advertises and validate accepts
    map_p = {"metrics": ["decoder_cos", *(n for n in INTERFERENCE_METRICS.names() if n != "decoder_cos")],
             "thresholds": [0.4, 0.3, 0.2, 0.15],
             "top_partners": 5, "memory_budget_mb": 1, "linkage": "average", "selection": "pairwise"}
    ctx_map = Ctx({"source": "m", "sae": "zoo", "hook_name": HOOK, "map": map_p}, tmp_path / "map",
                  {"atlas:m": ("atlas", results["atlas"]), "embed:m": ("embed", results["embed"])}, objects=objs)
    results["map"] = get_runner("map")(ctx_map)
    return results, map_p, tmp_path


def test_pipeline(pipeline):
    import polars as pl

    results, map_p, tmp_path = pipeline
    feats = results["atlas"].tables["features"]
    assert feats.columns[:3] == ["source", "hook", "feature"] and feats.height == 24
    expl = results["explain"].tables["explanations"]
    assert expl["explainer"].unique().to_list() == ["auto"] and expl["explanation"].str.len_chars().min() > 0
    vec = np.asarray(results["embed"].tables["embeddings"]["vector"].to_list())
    assert vec.shape[1] == 384 and np.allclose(np.linalg.norm(vec, axis=1), 1, atol=1e-5)
    m = results["map"]
    assert set(m.tables["pairs"]["metric"].unique()) == set(map_p["metrics"]) == set(INTERFERENCE_METRICS.names())
    assert {"interference_hist", "interference_vs_semantic", "partners_per_bin"} <= set(m.files)
    assert all(Path(p).exists() for p in m.files.values())
    stats = m.tables["map_stats"].filter(pl.col("metric") == "decoder_cos")
    assert "ols_slope" in stats["stat"].to_list()
    assert set(m.tables["clusters"]["cutoff"].unique()) == {0.4, 0.3, 0.2, 0.15}
    # select, with a labels file naming two token types
    vocab = m.tables["vocab"]
    labels = {s: ("location" if s in ("paris", "london", "city") else "number") for s in
              ("paris", "london", "city", "one", "two", "three", "four")}
    (tmp_path / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    ctx = Ctx({"map": map_p | {"targets_per_layer": 2, "partners_per_bin": 1}, "seeds": {"m": 50},
               "token_sets": {"labels": {"m": str(tmp_path / "labels.json")}, "high_threshold": 0.5}},
              tmp_path / "select", {"map:m": ("map", m)})
    sel = get_runner("select")(ctx)
    ts = sel.tables["token_sets"]
    assert set(ts["source"].unique()) == {"m", "union", "intersection"}
    loc = ts.filter((pl.col("source") == "m") & (pl.col("type") == "location"))
    assert sorted(loc.filter(pl.col("level") == "target")["token_str"].to_list()) == ["city", "london", "paris"]
    high = set(loc.filter(pl.col("level") == "high")["token_str"])
    medium = set(loc.filter(pl.col("level") == "medium")["token_str"])
    random = set(loc.filter(pl.col("level") == "random")["token_str"])
    assert not high & medium and not random & {"paris", "london", "city"}
    assert len(vocab) == 32
    # selected partners satisfy their bin and τ
    for row in sel.tables["partners"].iter_rows(named=True):
        lo, hi = [0, .1, .2, .3, .4, 1][row["bin"]], [0, .1, .2, .3, .4, 1][row["bin"] + 1]
        assert lo <= row["I"] <= hi and row["S"] < row["tau"]
