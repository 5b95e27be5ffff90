"""The `embedding` focus (added by the README recipe): validates, plans, and steers along the intended vectors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parents[1] / "interventions"))  # the interventions tests' fake context

from iv_fixtures import HOOK, VOCAB, FakeCtx, make_sae, make_tables  # noqa: E402

from interf_dsl import foci  # noqa: E402
from interf_dsl.foci.embedding import direction  # noqa: E402
from interf_dsl.interventions._common import FocusInputs  # noqa: E402
from interf_dsl.parse import load_spec_text  # noqa: E402
from interf_dsl.plan import compile_plan  # noqa: E402
from interf_dsl.resolve import resolve_spec  # noqa: E402

SPEC = """experiment: {name: e, preset: rigorous}
sources:
  gpt2: {model: zoo:gpt2-tiny, saes: [{hooks: "L1.{attn_out,mlp_out,resid_post}"}]}
interventions:
  - focus: embedding
    scales: "±{1, 2}"
    random_draws: 2
"""


def test_spec_validates_and_plans_on_model_width_hooks(fake_zoo):
    plan = compile_plan(resolve_spec(load_spec_text(SPEC, "e.yaml")))
    step = plan.step("intervene:embedding:gpt2")
    assert step.params["block"]["hooks"] == ["blocks.1.hook_attn_out", "blocks.1.hook_mlp_out",
                                             "blocks.1.hook_resid_post"]
    # per target: sentences x (1 + (self + 5 bins x 3 partners + 2 random) x 4 scales)
    assert step.estimate.forward_passes > 0 and step.estimate.units == 4 * 3 * 4


def test_steers_along_mean_top_token_embeddings(tmp_path):
    from interf_dsl.backends.fake import FakeBackend

    fake_backend = FakeBackend(vocab=VOCAB, d_model=8, hooks=(HOOK,))
    tables = make_tables()
    ctx = FakeCtx(params={"focus": "embedding", "source": "s", "block": {"scales": [1.0, 3.0], "top_tokens": 2,
                                                                         "random_draws": 2},
                          "metrics": {"target_ratio": 0.8, "target_tokens": 2},
                          "stats": {"ci": 0.95, "bootstrap": 200, "fdr": 0.05}},
                  tables=tables, sae_obj=make_sae(12, 8), work_dir=tmp_path)
    fake_backend.counters = ctx.counters
    table = foci.run_focus(ctx, fake_backend, FocusInputs(**tables))
    assert set(table["condition"].unique()) == {"self", "bin", "random_direction"}
    # 3 targets x 3 sentences x (self + 2 partners + 2 random) x 2 scales
    assert table.height == 3 * 3 * 5 * 2
    # the known answer: a partner's direction is the unit mean embedding of its two top tokens
    W_E = fake_backend.embedding()
    feats = tables["features"]
    partner = int(table.filter(pl.col("condition") == "bin")["partner"][0])
    ids = feats.filter(pl.col("feature") == partner)["top_token_ids"][0].to_list()
    v = direction(W_E, ids)
    assert np.isclose(np.linalg.norm(v), 1) and np.allclose(v, W_E[ids].mean(0) / np.linalg.norm(W_E[ids].mean(0)))
    assert VOCAB[ids[0]] in feats.filter(pl.col("feature") == partner)["top_tokens"][0].to_list()
    eff, _, _ = foci.aggregate(table, ctx.params, ctx.log)
    assert {"paper", "rigorous"} == set(eff["mode"].unique()) and eff.height > 0
