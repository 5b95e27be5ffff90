"""Interventions on a zoo SAE: feature, token and neuron foci with hand-built tables (small budgets)."""

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytestmark = pytest.mark.integration
ZOO = Path(__file__).resolve().parents[2] / "interf_dsl" / "zoo" / "artifacts" / "zoo.json"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "interventions"))


@pytest.mark.skipif(not ZOO.exists(), reason="the tiny zoo is not built (interf_dsl/zoo/artifacts/zoo.json)")
@pytest.mark.parametrize("focus,block", [
    ("feature", {"scales": [-4.0, 2.0, 8.0]}),
    ("token", {"scales": [2.0, 8.0], "equal_candidates": True, "contexts_per_feature": 1,
               "layer_kinds": ["resid_post"]}),
    ("neuron", {"scales": [0.0, 4.0], "degree_bins": "1-3, 4+", "clusters_per_neuron": 1, "features_per_cluster": 1}),
    # The resolved plan's form of `degree_bins: "1, 2-5, 6+"` (what `interf plan specs/demo.yaml` carries).
    ("neuron", {"scales": [0.0, 0.5, 2.0, 5.0], "degree_bins": [[1, 1], [2, 5], [6, None]],
                "clusters_per_neuron": 1, "features_per_cluster": 1, "random_control": True}),
])
def test_focus_on_zoo_sae(tmp_path, focus, block):
    _run_on_zoo(tmp_path, focus, block)


# small budgets for the built-in foci; a newly registered focus runs here with its defaults (and `scales` cut)
SMALL = {"feature": {"scales": [2.0]}, "token": {"scales": [2.0], "contexts_per_feature": 1, "layer_kinds": ["resid_post"]},
         "prompt": {"mode": "snippets"}, "neuron": {"scales": [0.0], "degree_bins": "1-3, 4+",
                                                     "clusters_per_neuron": 1, "features_per_cluster": 1}}


def _registered() -> list[str]:
    from interf_dsl.foci import FOCI

    return list(FOCI.names())


@pytest.mark.skipif(not ZOO.exists(), reason="the tiny zoo is not built (interf_dsl/zoo/artifacts/zoo.json)")
@pytest.mark.parametrize("focus", _registered())
def test_every_registered_focus_runs_on_a_zoo_sae(tmp_path, focus):
    """Every name `interf list focus` advertises runs through its unit loop and aggregation on a real zoo SAE."""
    from interf_dsl.foci import FOCI

    block = SMALL.get(focus, {"scales": [2.0]} if "scales" in FOCI.entry(focus).params.model_fields else {})
    _run_on_zoo(tmp_path, focus, block)


def _run_on_zoo(tmp_path, focus, block):
    from iv_fixtures import FakeCtx

    from interf_dsl import foci
    from interf_dsl.backends.hooked import HookedBackend, sae_hook_name
    from interf_dsl.backends.loading import load_model, load_sae
    from interf_dsl.interventions._common import FocusInputs

    model = load_model("zoo:gpt2-tiny")
    sae = load_sae("zoo:gpt2-tiny/L1.resid_post")
    hook = sae_hook_name(sae)
    backend = HookedBackend(model, name="gpt2-tiny")
    W_dec = sae.W_dec.detach().numpy()
    d_sae = W_dec.shape[0]
    texts = ["The city of London is in the", "She went to the market and bought a", "He said that the",
             "In the morning we walked to the", "They live in a small"]
    seqs = [backend.tokenize(t) for t in texts]
    import torch

    with torch.no_grad():
        acts = torch.cat([sae.encode(model.run_with_cache(torch.tensor([s]), names_filter=[hook])[1][hook][0])
                          for s in seqs]).numpy()
    flat = [t for s in seqs for t in s]
    feats, ctxs = [], []
    for f in range(d_sae):
        a = acts[:, f]
        order = np.argsort(-a)[:3]
        feats.append({"source": "g", "hook": hook, "feature": f, "frequency": float((a > 0).mean()),
                      "max_act": float(a.max()), "active": bool(a.max() > 0),
                      "top_tokens": [backend.token_str(flat[i]) for i in order],
                      "top_token_ids": [flat[i] for i in order], "top_token_acts": [float(a[i]) for i in order],
                      "neuron_idx": np.argsort(-np.abs(W_dec[f]))[:3].tolist(),
                      "neuron_val": np.sort(np.abs(W_dec[f]) / np.linalg.norm(W_dec[f]))[::-1][:3].tolist()})
        ctxs.append({"source": "g", "hook": hook, "feature": f, "rank": 0, "token_ids": seqs[0], "tokens":
                     [backend.token_str(t) for t in seqs[0]], "acts": acts[: len(seqs[0]), f].tolist(),
                     "max_pos": 0, "max_act": float(a.max())})
    active = [f["feature"] for f in feats if f["active"] and f["max_act"] > 0][:6]
    targets = [{"source": "g", "hook": hook, "tau": 0.3, "target": t} for t in active[:2]]
    partners = [{"source": "g", "hook": hook, "tau": 0.3, "target": t, "bin": b, "partner": p, "I": 0.1 + 0.3 * k,
                 "S": 0.1 * k, "rank": 0} for t in active[:2] for k, (b, p) in enumerate(
                     [("[0,.1)", active[2]), ("[.4,1]", active[3])])]
    tok_strs = {s for f in feats for s in f["top_tokens"]}
    sents = [{"sentence_id": i, "kind": "vocab", "token_str": tok, "type": None, "text": texts[i % 5],
              "split": "select" if i % 2 else "eval", "name": tok} for i, tok in enumerate(sorted(tok_strs) * 2)]
    neurons = pl.DataFrame({"source": "g", "hook": hook, "neuron": list(range(W_dec.shape[1])),
                            "degree": [1 + i % 6 for i in range(W_dec.shape[1])], "n_features": 1, "super": False})
    tables = {"features": pl.DataFrame(feats), "contexts": pl.DataFrame(ctxs), "targets": pl.DataFrame(targets),
              "partners": pl.DataFrame(partners), "sentences": pl.DataFrame(sents), "neurons": neurons}
    ctx = FakeCtx(params={"focus": focus, "source": "g", "block": block, "metrics": {"target_ratio": 0.5, "target_tokens": 5},
                          "stats": {"bootstrap": 200}}, tables=tables, sae_obj=sae, work_dir=tmp_path)
    backend.counters = ctx.counters
    table = foci.run_focus(ctx, backend, FocusInputs(**tables))
    assert table.height > 0 and ctx.counters.forward_passes > 0
    eff, _, cases = foci.aggregate(table, ctx.params, ctx.log)
    assert eff.height > 0 and {"paper", "rigorous"} & set(eff["mode"].unique())
    assert cases.height > 0 and set(cases["estimator"].unique()) <= set(eff["estimator"].unique())
    # the statistics do not depend on the order of the rows: every effect, CI and p the same on a shuffled table
    shuffled, _, _ = foci.aggregate(table.sample(fraction=1.0, shuffle=True, seed=7), ctx.params, ctx.log)
    _same_effects(eff, shuffled)


def _same_effects(a: pl.DataFrame, b: pl.DataFrame) -> None:
    from polars.testing import assert_frame_equal

    keys = [c for c, t in a.schema.items() if t in (pl.Utf8, pl.Int64, pl.Int32, pl.Boolean, pl.Categorical)]
    order = [pl.col(k).cast(pl.Utf8) for k in keys]
    assert_frame_equal(a.sort(order, nulls_last=True), b.select(a.columns).sort(order, nulls_last=True),
                       check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
