"""fmt round trip: parse(fmt(s)) == s in both spellings, for every shipped spec and for generated specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interf_dsl.parse import format_spec, load_spec, load_spec_text
from interf_dsl.parse.spec import Spec

ROOT = Path(__file__).resolve().parents[3]
SPECS = sorted(p for p in (ROOT / "specs").rglob("*") if p.suffix in (".yaml", ".interf"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
@pytest.mark.parametrize("to", ["yaml", "interf"])
def test_shipped_specs_round_trip(path: Path, to: str) -> None:
    spec = load_spec(path)
    text = format_spec(spec, to)
    assert load_spec_text(text, f"<fmt>.{to}", to) == spec
    assert format_spec(load_spec_text(text, f"<fmt>.{to}", to), to) == text  # idempotent


def test_yaml_and_dsl_spellings_are_the_same_spec() -> None:
    spec = load_spec(ROOT / "specs/transfer_llama.interf")
    assert load_spec_text(format_spec(spec, "yaml"), "x.yaml", "yaml") == spec


names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
positive = st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 20.0])
grids = st.lists(positive, min_size=1, max_size=6, unique=True).flatmap(
    lambda vs: st.sampled_from([sorted(vs), sorted(vs + [-v for v in vs]), sorted(vs + [0.0])]))
hooks = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["attn_out", "mlp_out", "resid_post"])),
                 min_size=1, max_size=6, unique=True).map(
    lambda hs: [f"blocks.{layer}.hook_{site}" for layer, site in hs])
edges = st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.6, 1.0]), min_size=2, max_size=6, unique=True)
bins = st.tuples(edges, st.booleans()).map(
    lambda t: [[lo, hi, closed and i == len(sorted(t[0])) - 2]
               for i, (lo, hi) in enumerate(zip(sorted(t[0]), sorted(t[0])[1:], strict=False))
               for closed in [t[1]]])
feature = st.fixed_dictionaries({"focus": st.just("feature")}, optional={
    "scales": grids, "conditions": st.sampled_from([["self", "bins"], ["self", "random_feature"]]),
    "targets_per_layer": st.integers(1, 20)})
token = st.fixed_dictionaries({"focus": st.just("token")}, optional={
    "probe": st.sampled_from(["ones", "encoder", "decoder"]), "scales": grids, "equal_candidates": st.booleans()})
prompt = st.fixed_dictionaries({"focus": st.just("prompt")}, optional={
    "types": st.lists(st.sampled_from(["location", "number", "time"]), min_size=1, max_size=3),
    "trials": st.integers(1, 100), "wrap": st.text(min_size=1, max_size=4), "matched_random": st.booleans()})
neuron = st.fixed_dictionaries({"focus": st.just("neuron")}, optional={
    "degree_bins": st.sampled_from(["1, 2-5, 6+", "1-3, 4-9, 10-20"]), "scales": grids})
sources = st.dictionaries(names, st.fixed_dictionaries(
    {"model": st.sampled_from(["zoo:gpt2-tiny", "gpt2-small"]), "saes": st.lists(
        st.fixed_dictionaries({"hooks": hooks}, optional={"sae": st.sampled_from(["zoo", "paper", "./saes/{layer}"])}),
        min_size=1, max_size=2)}, optional={"seed": st.integers(0, 99)}), min_size=1, max_size=3)
specs = st.fixed_dictionaries({
    "experiment": st.fixed_dictionaries({"name": names}, optional={
        "description": st.text(max_size=30), "seed": st.integers(0, 2**31), "preset":
        st.sampled_from(["paper", "rigorous"])}),
    "sources": sources,
}, optional={
    "map": st.fixed_dictionaries({}, optional={"bins": bins, "thresholds": st.lists(st.floats(0, 1), min_size=1,
                                                                                      max_size=4),
                                               "selection": st.sampled_from(["pairwise", "cluster_exclusion"])}),
    "interventions": st.lists(st.one_of(feature, token, prompt, neuron), max_size=4),
    "metrics": st.fixed_dictionaries({}, optional={"top_k": st.one_of(st.integers(1, 50), st.just("full")),
                                                   "epsilon": st.floats(1e-12, 1e-3)}),
    "transfer": st.fixed_dictionaries({"targets": st.lists(st.fixed_dictionaries(
        {"name": names, "model": st.just("openai/x")}, optional={"api_key_env": st.just("KEY"),
                                                                   "rpm": st.integers(1, 999)}), min_size=1,
        max_size=2)}),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_generated_specs_round_trip(data: dict) -> None:
    spec = Spec.model_validate(data)
    for to in ("yaml", "interf"):
        assert load_spec_text(format_spec(spec, to), f"<gen>.{to}", to) == spec


@pytest.mark.parametrize("text", ["\x85", "a\u2028b", "\u2029", "tab\there"])
def test_unicode_line_breaks_round_trip(text: str) -> None:
    """PyYAML writes NEL/LS/PS raw in single quotes and reads them back as a space; fmt double-quotes them."""
    from interf_dsl.parse.spec import Spec

    spec = Spec.model_validate({"experiment": {"name": "a", "description": text},
                                "sources": {"a": {"model": "zoo:gpt2-tiny", "saes": [{"hooks": ["L0.attn_out"]}]}}})
    for to in ("yaml", "interf"):
        assert load_spec_text(format_spec(spec, to), f"<t>.{to}", to) == spec
