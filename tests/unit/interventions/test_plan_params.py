"""The intervene steps read the params the real plan produces, return effect_cases, and never end empty silently."""

from itertools import permutations

import numpy as np
import polars as pl
import pytest
from iv_fixtures import FakeCtx, make_sae, make_tables

from interf_dsl import foci
from interf_dsl.errors import SpecError
from interf_dsl.interventions._common import FocusInputs
from interf_dsl.interventions.neuron import degree_bin, parse_degree_bins
from interf_dsl.lang.sections import Stats


def _demo_steps():
    from interf_dsl.parse import load_spec
    from interf_dsl.plan import compile_plan
    from interf_dsl.resolve import resolve_spec

    plan = compile_plan(resolve_spec(load_spec("specs/demo.yaml")))
    return {s.id: s for s in plan.steps if s.kind == "intervene"}


def test_demo_plan_params_parse():
    steps = _demo_steps()
    assert {s.params["focus"] for s in steps.values()} == {"feature", "token", "prompt", "neuron"}
    for step in steps.values():
        block = step.params["block"]
        assert all(isinstance(float(a), float) for a in block.get("scales") or [])
        assert isinstance(block["hooks"], list) and all(h.startswith("blocks.") for h in block["hooks"])
        if step.params["focus"] == "neuron":
            bins = parse_degree_bins(block["degree_bins"])
            # The spec says "1, 2-5, 6+"; the plan carries [[1, 1], [2, 5], [6, None]]: same bins, same labels.
            assert bins == parse_degree_bins("1, 2-5, 6+")
            assert [b[0] for b in bins] == ["1", "2-5", "6+"]
            assert degree_bin(4, bins) == "2-5" and degree_bin(700, bins) == "6+"
        if step.params["focus"] == "token":
            assert set(block["layer_kinds"]) == {"attn_out", "mlp_out"}
        if step.params["focus"] == "prompt":
            assert int(block["trials"]) > 0 and int(block["sentences"]) > 0 and block["types"]


@pytest.mark.parametrize("bad", [[[1]], [["a", 2]], [[5, 2]], "1, x-3"])
def test_bad_degree_bins(bad):
    with pytest.raises(SpecError):
        parse_degree_bins(bad)


def _feature_run(tmp_path, fake_backend, tables):
    ctx = FakeCtx(params={"focus": "feature", "source": "s", "block": {"scales": [-2.0, 1.0, 4.0]},
                          "metrics": {"target_ratio": 0.8, "target_tokens": 2},
                          "stats": {"ci": 0.95, "bootstrap": 200, "fdr": 0.05}},
                  tables=tables, sae_obj=make_sae(12, 8), work_dir=tmp_path)
    fake_backend.counters = ctx.counters
    table = foci.run_focus(ctx, fake_backend, FocusInputs(**tables))
    return ctx, table


def test_effect_cases_average_to_the_estimate(tmp_path, fake_backend):
    _, table = _feature_run(tmp_path, fake_backend, make_tables())
    eff, _, cases = foci.aggregate(table, {"focus": "feature", "source": "s", "block": {}, "metrics": {},
                                           "stats": {"bootstrap": 200}}, lambda m: None)
    keys = ["source", "focus", "tau", "type", "level", "metric", "mode", "estimator"]
    assert set(cases.columns) == {*keys, "case", "value"}
    assert cases.select([*keys, "case"]).is_unique().all()
    per = cases.group_by(keys, maintain_order=True).agg(pl.col("value").mean().alias("m"), pl.len().alias("k"))
    joined = eff.join(per, on=keys, how="inner", nulls_equal=True)
    estimators = set(joined["estimator"].unique())
    assert {"best_alpha_mean", "heldout_alpha_mean", "fraction_improved"} <= estimators
    for r in joined.iter_rows(named=True):
        assert r["m"] == pytest.approx(r["estimate"], abs=1e-9), r
        assert r["k"] == r["n"] or r["estimator"].startswith("diff_vs"), r


def test_type_effect_cases_pair_trials():
    from interf_dsl.interventions.effects import split_cases
    from interf_dsl.interventions.effects_rates import type_effects

    rng = np.random.default_rng(0)
    df = pl.DataFrame({"source": "s", "type": "t", "condition": np.repeat(["high", "random"], 40),
                       "sentence_id": np.tile(np.repeat(np.arange(10), 4), 2), "trial": np.tile(np.arange(4), 20),
                       "success": rng.random(80) < 0.5})
    rows = type_effects(df, Stats())
    cases = pl.DataFrame(split_cases(rows))
    diff = [r for r in rows if r["estimator"] == "diff_vs_random"][0]
    d = cases.filter(pl.col("estimator") == "diff_vs_random")
    assert d.height == 40 and d["value"].mean() == pytest.approx(diff["estimate"])



def test_type_effects_do_not_depend_on_row_order():
    """Control outcomes, clusters and case ids are read after sorting: shuffled input rows give the same effects."""
    from interf_dsl.interventions.effects_rates import type_effects

    rng = np.random.default_rng(1)
    p_sent = np.repeat(rng.uniform(0.1, 0.9, 12), 5)  # sentence-level success rates: trials cluster
    df = pl.DataFrame({"source": "s", "type": "t", "condition": np.repeat(["high", "random"], 60),
                       "sentence_id": np.tile(np.repeat(np.arange(12), 5), 2), "trial": np.tile(np.arange(5), 24),
                       "success": rng.random(120) < np.tile(p_sent, 2)})
    keep = ("mode", "estimator", "level", "estimate", "ci_lo", "ci_hi", "p", "n_clusters")

    def table(frame):
        return sorted(tuple(r.get(k) for k in keep) for r in type_effects(frame, Stats(bootstrap=200)))

    assert table(df) == table(df.sample(fraction=1.0, shuffle=True, seed=3))
    rate = [r for r in type_effects(df, Stats(bootstrap=200)) if r["estimator"] == "rate"][0]
    assert rate["n_clusters"] == 12 and rate["ci_lo"] < rate["estimate"] < rate["ci_hi"]


def test_no_targets_is_reported(tmp_path, fake_backend):
    from interf_dsl.interventions.diagnose import empty_reason

    tables = make_tables()
    tables["targets"] = tables["targets"].clear()
    _, table = _feature_run(tmp_path, fake_backend, tables)
    assert table.height == 0
    from interf_dsl.lang.params import params_of

    params = params_of("intervene", {"focus": "feature", "source": "s", "block": {}, "metrics": {"target_ratio": 0.8},
                                     "stats": {}})
    stages = foci.focus_of(params).funnel(FocusInputs(**tables), params)
    msg = empty_reason(stages, "intervene:feature:s")
    assert "targets of source 's' in the select step: 0" in msg and "none left at" in msg


def test_sample_neurons_draws_only_measurable_features():
    from interf_dsl.interventions.neuron import sample_neurons

    feats = pl.DataFrame({"feature": [0, 1, 2, 3], "neuron_idx": [[5], [5], [5], [6]],
                          "neuron_val": [[0.9], [0.8], [0.7], [0.9]]})
    neurons = pl.DataFrame({"neuron": [5, 6], "degree": [3, 1], "super": [False, False]})
    from interf_dsl.foci.neuron import NeuronFocus

    params = NeuronFocus(focus="neuron", degree_bins=[[1, 1], [2, None]], clusters_per_neuron=3,
                         features_per_cluster=1)
    out = sample_neurons(neurons, feats, None, params, np.random.default_rng(0), usable={2, 3}.__contains__)
    by_bin = {r["bin"]: r for r in out}
    assert by_bin["2+"]["features"] == [2] and by_bin["2+"]["connected"] == 3
    assert by_bin["1"]["features"] == [3]


def test_run_intervene_without_targets_warns_and_loads_no_model(tmp_path):
    from interf_dsl.foci.runner import run_intervene

    tables = make_tables()
    tables["targets"] = tables["targets"].clear()
    ctx = FakeCtx(params={"focus": "token", "source": "s", "block": {"layer_kinds": ["attn_out"]}, "metrics": {},
                          "stats": {"bootstrap": 100}}, tables=tables, sae_obj=make_sae(12, 8), work_dir=tmp_path)

    def no_model(source):
        raise AssertionError("a step with no targets must not load the model")

    ctx.model = no_model
    res = run_intervene(ctx)
    assert res.tables["interventions"].height == 0 and res.tables["effect_cases"].height == 0
    warn = res.tables["intervene_warnings"].row(0, named=True)
    assert warn["focus"] == "token" and "select step: 0" in warn["warning"]
    assert res.meta["warnings"] == [warn["warning"]] and res.meta["funnel"]
    assert any(m.startswith("WARNING: step 'intervene:test' produced no intervention cases") for m in ctx.logs)


@pytest.mark.parametrize("share,expected", [("own", {"random": ["a", "b"]}), ("union", {"random": ["a", "b", "c"]})])
def test_type_injection_uses_the_shared_sets(tmp_path, fake_backend, share, expected):
    rows = [("s", "location", "target", 6, " London"), ("s", "location", "random", 0, "a"),
            ("s", "location", "random", 1, "b"), ("o", "location", "target", 7, " Paris"),
            ("o", "location", "random", 2, "c"), ("union", "location", "target", None, " London"),
            ("union", "location", "target", None, " Paris"), ("union", "location", "random", None, "a"),
            ("union", "location", "random", None, "b"), ("union", "location", "random", None, "c")]
    ts = pl.DataFrame(rows, schema={"source": pl.Utf8, "type": pl.Utf8, "level": pl.Utf8, "token_id": pl.Int64,
                                    "token_str": pl.Utf8}, orient="row")
    sents = pl.DataFrame({"sentence_id": [0, 1], "kind": "type", "token_str": None, "type": "location",
                          "text": ["The cat is in", "The dog is in"], "split": ["select", "eval"], "name": "location"})
    block = {"mode": "type_injection", "share": share, "types": ["location"], "tokens_per_trial": 30, "top_k": 3,
             "trials": 2}
    ctx = FakeCtx(params={"focus": "prompt", "source": "s", "block": block, "metrics": {}, "stats": {}},
                  tables={"token_sets": ts, "sentences": sents}, sae_obj=None, work_dir=tmp_path)
    fake_backend.counters = ctx.counters
    texts: list[str] = []
    tokenize = fake_backend.tokenize
    fake_backend.tokenize = lambda text: texts.append(text) or tokenize(text)
    table = foci.run_focus(ctx, fake_backend, FocusInputs(token_sets=ts, sentences=sents))
    assert set(table["condition"]) == {"target", "random"} and table.height == 2 * 2 * 2
    assert set(table["token_sets"]) == {"s" if share == "own" else share}
    # A set smaller than tokens_per_trial is injected whole, shuffled: the "(...)" holds exactly its strings.
    injected = {t[1 : t.index(")")] for t in texts if t.startswith("(")}

    def orders(tokens: list[str]) -> set[str]:
        return {"".join(p) for p in permutations(tokens)}

    targets = [" London", " Paris"] if share != "own" else [" London"]
    assert injected & orders(expected["random"]) and injected <= orders(expected["random"]) | orders(targets)

def test_a_numerically_zero_probe_gradient_is_refused_not_normalised():
    """The `ones` probe on a zoo model processed like a hub model (fold_ln, center_writing_weights): ⟨a, 1⟩ is
    constant at attn_out, so its gradient is float noise; the token focus refuses it, naming the cause and the fix."""
    from interf_dsl.backends.hooked import HookedBackend
    from interf_dsl.backends.loading import load_model
    from interf_dsl.errors import BackendError
    from interf_dsl.interventions.token import gradient_vectors

    model = load_model("zoo:gpt2-tiny")
    d = model.cfg.d_model
    ctx = pl.DataFrame({"feature": [0], "rank": [0], "token_ids": [[5, 6, 7, 8]], "acts": [[0.0, 0.1, 0.2, 1.0]]})
    ones = np.ones(d, np.float32)
    assert len(gradient_vectors(HookedBackend(model), "blocks.1.hook_attn_out", 0, ctx, ones, 0.8, 1)) == 1
    model.process_weights_(fold_ln=True, center_writing_weights=True, center_unembed=True)
    with pytest.raises(BackendError, match="numerically zero gradient") as err:
        gradient_vectors(HookedBackend(model), "blocks.1.hook_attn_out", 0, ctx, ones, 0.8, 1)
    assert "probe: encoder" in (err.value.items[0].full_hint() or "")
