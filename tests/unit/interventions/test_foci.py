"""The feature/token/snippet foci end to end on the fake backend: rows, conditions, both statistics modes."""

import numpy as np
import polars as pl
import pytest
from iv_fixtures import FakeCtx, make_sae, make_tables

from interf_dsl import foci
from interf_dsl.interventions._common import FocusInputs


def _run(tmp_path, fake_backend, focus, block):
    tables = make_tables()
    ctx = FakeCtx(params={"focus": focus, "source": "s", "block": block,
                          "metrics": {"target_ratio": 0.8, "target_tokens": 2},
                          "stats": {"ci": 0.95, "bootstrap": 200, "fdr": 0.05}},
                  tables=tables, sae_obj=make_sae(12, 8), work_dir=tmp_path)
    fake_backend.counters = ctx.counters
    inp = FocusInputs(**tables)
    table = foci.run_focus(ctx, fake_backend, inp)
    eff, reg, _ = foci.aggregate(table, ctx.params, ctx.log)
    return ctx, table, eff, reg


def test_feature_focus_rows_and_effects(tmp_path, fake_backend):
    scales = [-2.0, 1.0, 4.0]
    ctx, table, eff, reg = _run(tmp_path, fake_backend, "feature", {"scales": scales})
    conds = set(table["condition"].unique())
    assert conds == {"self", "bin", "random_direction", "random_feature", "matched_feature"}
    # 3 targets × 2 T_f tokens × 3 sentences each × (self + 2 bins + 3 controls) × 3 scales
    assert table.height == 3 * 3 * 6 * 3  # targets × sentences of T_f × candidates × scales
    # Known answer of the fake model: the logits move by alpha * v @ U; alpha and the baseline are consistent.
    assert np.allclose(table["wc_delta"], table["wc"] - table["wc_base"])
    assert set(eff["mode"].unique()) == {"paper", "rigorous"}
    for col in ("estimator", "n", "n_clusters", "estimate", "ci_lo", "ci_hi", "p", "p_bh"):
        assert col in eff.columns
    rig = eff.filter((pl.col("mode") == "rigorous") & (pl.col("estimator") == "heldout_alpha_mean"))
    assert rig.height > 0 and (rig["alpha"].is_in(scales)).all()
    assert ctx.counters.forward_passes > 0
    # Units are checkpointed: a rerun recomputes nothing.
    before = ctx.counters.forward_passes
    foci.run_focus(ctx, fake_backend, FocusInputs(**ctx.tables))
    assert ctx.counters.forward_passes == before


def test_token_focus_equal_candidates(tmp_path, fake_backend):
    _, table, eff, _ = _run(tmp_path, fake_backend, "token",
                            {"scales": [1.0, 2.0], "equal_candidates": True, "contexts_per_feature": 2,
                             "layer_kinds": ["resid_post"]})  # the fixture's SAE hook
    per = table.group_by(["target", "level"]).agg(pl.col("candidate").n_unique())
    assert set(per["candidate"].to_list()) == {2}  # same budget for every condition
    grad_calls = [c for c in fake_backend.calls if c[0] == "embed_gradient"]
    # Positions ≥ 0.8 × max of the context acts [0.1, 2.0, 1.9, 0.0] are 1 and 2.
    assert grad_calls and all(c[1]["positions"] == [1, 2] for c in grad_calls)


def test_snippet_focus(tmp_path, fake_backend):
    _, table, eff, _ = _run(tmp_path, fake_backend, "prompt", {"mode": "snippets", "snippet_tokens": 2})
    assert set(table["snippet"].unique()) == {" cat is"}
    assert table.height and set(eff["mode"].unique()) == {"paper", "rigorous"}


def test_unknown_focus(tmp_path, fake_backend):
    from interf_dsl.errors import SpecError

    with pytest.raises(SpecError):
        _run(tmp_path, fake_backend, "nope", {})


def test_neuron_focus_and_control(tmp_path, fake_backend):
    tables = make_tables()
    tables["neurons"] = pl.DataFrame({"source": "s", "hook": "blocks.0.hook_resid_post", "neuron": list(range(8)),
                                      "degree": [1, 1, 3, 3, 7, 7, 600, 600], "n_features": 1,
                                      "super": [False] * 6 + [True] * 2})
    ctx = FakeCtx(params={"focus": "neuron", "source": "s", "block": {"scales": [0.0, 0.5, 4.0],
                                                                     "random_control": True},
                          "metrics": {"target_tokens": 5}, "stats": {"bootstrap": 100}},
                  tables=tables, sae_obj=make_sae(12, 8), work_dir=tmp_path)
    table = foci.run_focus(ctx, fake_backend, FocusInputs(**tables))
    assert set(table["condition"].unique()) == {"neuron", "random_coordinate"}
    assert set(table["level"].unique()) <= {"1", "2-5", "6-20", "501+"}
    # Scale 1 is never in the grid here, and scale 0 of the neuron coordinate zeroes it: rows differ from baseline.
    eff, _, _ = foci.aggregate(table, ctx.params, ctx.log)
    assert {"masking", "amplifying"} <= set(eff["type"].unique())


def test_figures_are_written(tmp_path, fake_backend):
    _, table, eff, _ = _run(tmp_path, fake_backend, "feature", {"scales": [1.0, 4.0]})
    files = foci.FOCI.get("feature").figures(table, eff, tmp_path)
    assert list(files) == ["feature_by_level.png"] and files["feature_by_level.png"].stat().st_size > 1000
