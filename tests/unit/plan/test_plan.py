"""Plan compiler: step ids/kinds/params/inputs per ARCHITECTURE.md, content hashes, estimates."""

from __future__ import annotations

from interf_dsl.parse import load_spec, load_spec_text
from interf_dsl.plan import STEP_KINDS, compile_plan
from interf_dsl.resolve import resolve_spec

SPEC = """experiment: {name: p, seed: 7, preset: paper}
sources:
  gpt2:
    model: zoo:gpt2-tiny
    seed: 53
    saes: [{hooks: "L1.{attn_out,resid_post}"}]
map: {thresholds: [0.4, 0.2], targets_per_layer: 2, partners_per_bin: 1}
interventions:
  - focus: feature
    scales: "±{1, 2}"
  - focus: prompt
    types: [location, number]
    sentences: 4
    trials: 5
transfer:
  types: [location, number]
  sentences: 4
  trials: 5
  targets: [{name: tiny, model: openai/tiny, serve: zoo:target-tiny}]
"""


def plan(text: str = SPEC):
    return compile_plan(resolve_spec(load_spec_text(text, "p.yaml")))


def test_step_ids_kinds_and_order(fake_zoo) -> None:
    p = plan()
    ids = [s.id for s in p.steps]
    assert ids[:7] == ["model:gpt2", "sae:gpt2/L1.attn_out", "atlas:gpt2/L1.attn_out", "explain:gpt2/L1.attn_out",
                       "embed:gpt2/L1.attn_out", "map:gpt2/L1.attn_out", "sae:gpt2/L1.resid_post"]
    assert ids[-5:] == ["prompts", "intervene:feature:gpt2", "intervene:prompt:gpt2", "transfer:tiny", "report"]
    assert {s.kind for s in p.steps} <= set(STEP_KINDS)
    seen: set[str] = set()
    for s in p.steps:  # topological
        assert set(s.inputs) <= seen
        seen.add(s.id)


def test_params_follow_the_contract(fake_zoo) -> None:
    p = plan()
    sae = p.step("sae:gpt2/L1.resid_post")
    assert sae.params["sae"] == "zoo:gpt2-tiny/L1.resid_post"
    assert sae.params["hook_name"] == "blocks.1.hook_resid_post" and "fingerprint" in sae.params
    assert p.step("select").params["seeds"] == {"gpt2": 53}
    assert p.step("map:gpt2/L1.attn_out").inputs == ("atlas:gpt2/L1.attn_out", "embed:gpt2/L1.attn_out",
                                                      "sae:gpt2/L1.attn_out")
    feat = p.step("intervene:feature:gpt2")
    assert feat.params["block"]["scales"] == [-2.0, -1.0, 1.0, 2.0]
    assert feat.params["block"]["conditions"] == ["self", "bins", "random_direction"]
    assert feat.params["stats"]["alpha_selection"] == "best"
    tr = p.step("transfer:tiny")
    assert tr.params["target"]["serve"] == "zoo:target-tiny" and "targets" not in tr.params["transfer"]
    assert "intervene:prompt:gpt2" in tr.inputs


def test_estimates_have_known_values(fake_zoo) -> None:
    p = plan()
    # transfer: types x sentences x (conditions x trials + 1 baseline) + 3 probe requests = 2 x 4 x (4 x 5 + 1) + 3
    assert p.step("transfer:tiny").estimate.api_requests == 171
    assert p.step("transfer:tiny").estimate.cost_usd == 0.0  # served locally: no API charges
    # feature: targets 2 x 2 hooks x 2 tau = 8; sentences: the expected filled share of 5 tokens x 3; per sentence
    # the baseline, the blocks up to the hook and one row per vector (self + 5 bins x 1 partner + 1) x 4 scales
    from interf_dsl.foci._base import SENTENCE_FILL

    assert p.step("intervene:feature:gpt2").estimate.forward_passes == round(8 * 15 * SENTENCE_FILL * (2 + 7 * 4))
    # prompt injection: types x sentences x (1 + 4 conditions x trials)
    assert p.step("intervene:prompt:gpt2").estimate.forward_passes == 2 * 4 * (1 + 4 * 5)


def test_hashes_are_stable_and_propagate(fake_zoo) -> None:
    a, b = plan(), plan()
    assert [s.hash for s in a.steps] == [s.hash for s in b.steps]
    c = plan(SPEC.replace("partners_per_bin: 1", "partners_per_bin: 2"))
    assert a.step("model:gpt2").hash == c.step("model:gpt2").hash
    assert a.step("map:gpt2/L1.attn_out").hash != c.step("map:gpt2/L1.attn_out").hash
    assert a.step("transfer:tiny").hash != c.step("transfer:tiny").hash  # through select
    # how a target is called (concurrency, worker processes, limits) is not what it answers: same hash
    base = "serve: zoo:target-tiny}"
    d = plan(SPEC.replace(base, "serve: zoo:target-tiny, concurrency: 32, workers: 2, batch: 8, rpm: 600}"))
    assert d.step("transfer:tiny").params["target"]["workers"] == 2
    assert a.step("transfer:tiny").hash == d.step("transfer:tiny").hash
    e = plan(SPEC.replace(base, "serve: zoo:target-tiny, top_k: 5}"))
    assert a.step("transfer:tiny").hash != e.step("transfer:tiny").hash


def test_plan_json_is_canonical(fake_zoo) -> None:
    import json

    text = plan().to_json()
    assert json.loads(text)["experiment"] == "p"
    assert text == plan().to_json()


def _hashes(p):
    return {s.id: (s.hash, s.data_hash) for s in p.steps}


def test_statistics_change_keeps_every_data_hash(fake_zoo) -> None:
    base = _hashes(plan())
    changed = _hashes(plan(SPEC + "stats: {bootstrap: 1000, ci: 0.9}\nreport: {figures: false}\n"))
    assert {i for i in base if base[i][1] != changed[i][1]} == set()  # raw data, units, seeds: unchanged
    assert {i for i in base if base[i][0] != changed[i][0]} == {
        "intervene:feature:gpt2", "intervene:prompt:gpt2", "transfer:tiny", "report"}  # re-aggregated only


def test_endpoint_and_execution_settings_change_no_hash(fake_zoo) -> None:
    served = "targets: [{name: tiny, model: openai/tiny, serve: zoo:target-tiny}]"
    url = "targets: [{name: tiny, model: openai/tiny, api_base: 'http://127.0.0.1:9/v1', api_key_env: KEY}]"
    respelt = ("targets: [{name: tiny, model: openai/tiny, api_base: 'http://127.0.0.1:9/v1/', concurrency: 2, "
               "timeout_s: 5, batch: 4, api_key_env: OTHER_KEY}]")
    a, b = _hashes(plan(SPEC.replace(served, url))), _hashes(plan(SPEC.replace(served, respelt)))
    assert a == b
    mem = _hashes(plan(SPEC.replace("partners_per_bin: 1}", "partners_per_bin: 1, memory_budget_mb: 64}")
                       + "atlas: {batch_size: 3}\n"))
    assert mem == _hashes(plan())


def test_data_change_moves_data_hashes_downstream_only(fake_zoo) -> None:
    base = _hashes(plan())
    changed = _hashes(plan(SPEC.replace("thresholds: [0.4, 0.2]", "thresholds: [0.4, 0.3]")))
    moved = {i for i in base if base[i][1] != changed[i][1]}
    assert "map:gpt2/L1.attn_out" in moved and "select" in moved and "transfer:tiny" in moved
    assert not any(i.startswith(("atlas:", "explain:", "embed:", "model:", "sae:")) for i in moved)


def test_focus_settings_runners_read_reach_the_step_and_its_estimate(fake_zoo) -> None:
    """Settings the runners read (random_draws, sentences_per_target, ...) are spec fields that reach the block."""
    base = plan().step("intervene:feature:gpt2")
    more = plan(SPEC.replace('scales: "±{1, 2}"', 'scales: "±{1, 2}"\n    random_draws: 3\n    '
                                                   'sentences_per_target: 2'))
    step = more.step("intervene:feature:gpt2")
    assert step.params["block"]["random_draws"] == 3 and step.params["block"]["sentences_per_target"] == 2
    assert step.data_hash != base.data_hash
    # per target: sentences x (2 + vectors x scales), vectors = self + 5 bins + random draws, 4 scales; the
    # expected sentences (6 of 15 slots) capped at 2
    from interf_dsl.foci._base import SENTENCE_FILL

    r = resolve_spec(load_spec_text(SPEC, "p.yaml"))
    expected = r.metrics.target_tokens * r.prompts.per_token * SENTENCE_FILL
    assert len(r.map.bins) == 5 and expected > 2
    assert base.estimate.forward_passes == round(8 * expected * (2 + 7 * 4))
    assert step.estimate.forward_passes == 8 * 2 * (2 + 9 * 4)


def test_every_step_kind_has_a_params_model_and_plans_validate_through_it(fake_zoo) -> None:
    import pytest
    from pydantic import ValidationError

    from interf_dsl.lang.params import STEP_PARAMS, params_of, step_params_json

    assert set(STEP_PARAMS) == set(STEP_KINDS)  # the step kinds' one list and their models agree
    p = plan()
    for step in p.steps:
        typed = params_of(step.kind, step.params)
        assert typed.model_dump(mode="json", exclude_unset=True) == step.params, step.id
    atlas = params_of("atlas", p.step("atlas:gpt2/L1.attn_out").params)
    assert atlas.atlas.context == 64 and not hasattr(atlas.atlas, "explanations")  # explainer settings elsewhere
    sel = params_of("select", p.step("select").params)
    assert sel.token_sets is not None and sel.token_sets.types == ("location", "number")
    with pytest.raises(ValidationError):
        step_params_json("map", source="gpt2", sae="zoo", hook_name="h", map={"thresholds": "nope"})
    with pytest.raises(ValidationError):  # a key no step of the kind has
        step_params_json("embed", embedding={}, memory_budget_mb=3)


def test_moving_local_files_keeps_every_hash_and_their_content_moves_them(fake_zoo, tmp_path) -> None:
    """A corpus, export or sentence file is identified by its content: moving the checkout recomputes nothing."""
    import json as _json

    def spec_in(folder, text="hello world\n"):
        folder.mkdir()
        (folder / "corpus.jsonl").write_text(_json.dumps({"text": text}) + "\n", encoding="utf-8")
        path = folder / "s.yaml"
        path.write_text(SPEC + "atlas: {corpus: corpus.jsonl}\n", encoding="utf-8")
        return compile_plan(resolve_spec(load_spec(path)))

    a, b = spec_in(tmp_path / "a"), spec_in(tmp_path / "b")
    assert a.step("atlas:gpt2/L1.attn_out").params["atlas"]["corpus"] != \
        b.step("atlas:gpt2/L1.attn_out").params["atlas"]["corpus"]
    assert _hashes(a) == _hashes(b)
    c = _hashes(spec_in(tmp_path / "c", "other text\n"))
    assert c["atlas:gpt2/L1.attn_out"] != _hashes(a)["atlas:gpt2/L1.attn_out"]


def test_a_per_source_high_threshold_keeps_the_blocks_for_the_others(fake_zoo) -> None:
    two = SPEC.replace("map:", "  pythia:\n    model: zoo:pythia-tiny\n    saes: [{hooks: \"L1.resid_post\"}]\nmap:", 1)
    two = two.replace("    types: [location, number]\n    sentences: 4",
                      "    types: [location, number]\n    high_threshold: 0.5\n    high_thresholds: {gpt2: 0.3}\n"
                      "    sentences: 4", 1)
    sets = plan(two).step("select").params["token_sets"]
    assert sets["high_threshold"] == {"gpt2": 0.3, "pythia": 0.5}
