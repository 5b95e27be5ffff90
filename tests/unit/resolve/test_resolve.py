"""Resolver: presets fill None fields, explicit values win, names bind, errors are located and collected."""

from __future__ import annotations

import pytest

from interf_dsl.errors import ResolveError
from interf_dsl.parse import load_spec_text
from interf_dsl.resolve import PRESET_VALUES, resolve_spec

BASE = """experiment: {{name: t, preset: {preset}}}
sources:
  gpt2:
    model: {model}
    saes:
      - hooks: "{hooks}"
        sae: {sae}
"""


def spec(extra: str = "", preset: str = "paper", model: str = "zoo:gpt2-tiny", hooks: str = "L1,3.resid_post",
         sae: str = "zoo"):
    return load_spec_text(BASE.format(preset=preset, model=model, hooks=hooks, sae=sae) + extra, "t.yaml")


def test_paper_preset_values(fake_zoo) -> None:
    r = resolve_spec(spec("interventions:\n  - focus: feature\n  - focus: token\n  - focus: prompt\n"
                          "  - focus: neuron\n", hooks="L1,3.{attn_out,resid_post}"))
    assert r.atlas.top_token_ratio == 0.8
    assert r.map.selection == "pairwise"
    assert r.stats.alpha_selection == "best" and r.stats.mode == "paper"
    assert r.metrics.top_k is None  # full vocabulary
    feature, token, prompt, neuron = r.interventions
    assert feature.conditions == ("self", "bins", "random_direction")
    assert token.equal_candidates is False and prompt.matched_random is False and neuron.random_control is False
    assert r.preset_fields["stats.mode"] == "preset"


def test_rigorous_preset_values_and_explicit_override(fake_zoo) -> None:
    r = resolve_spec(spec("stats: {alpha_selection: best}\ninterventions:\n  - focus: token\n", preset="rigorous",
                          hooks="L1.mlp_out"))
    assert r.stats.mode == "both"
    assert r.stats.alpha_selection == "best"  # explicit wins
    assert r.preset_fields["stats.alpha_selection"] == "explicit"
    assert r.interventions[0].equal_candidates is True
    assert r.metrics.primary == "weighted_overlap"


def test_every_preset_field_has_both_presets() -> None:
    for path, values in PRESET_VALUES.items():
        assert set(values) == {"paper", "rigorous"}, path


def test_zoo_binding(fake_zoo) -> None:
    r = resolve_spec(spec(hooks="L1,3.{attn_out,resid_post}"))
    src = r.sources["gpt2"]
    assert src.arch is not None and src.arch.n_layers == 4 and src.arch.d_model == 128
    assert [s.ref for s in src.saes] == ["zoo:gpt2-tiny/L1.attn_out", "zoo:gpt2-tiny/L1.resid_post",
                                         "zoo:gpt2-tiny/L3.attn_out", "zoo:gpt2-tiny/L3.resid_post"]
    assert src.saes[0].hook_name == "blocks.1.hook_attn_out" and src.saes[0].d_sae == 1024


def test_paper_release_binding() -> None:
    r = resolve_spec(spec(model="pythia-70m-deduped", hooks="L4.resid_post", sae="paper"))
    sae = r.sources["gpt2"].saes[0]
    assert sae.ref == "release=pythia-70m-deduped-res-sm,id=blocks.4.hook_resid_post"
    assert sae.kind == "release" and sae.d_sae == 32768


def test_release_template_and_local_dir() -> None:
    r = resolve_spec(spec(model="gpt2-small", hooks="L5.mlp_out",
                          sae="{release: gpt2-small-mlp-out-v5-32k, id: 'blocks.{layer}.hook_mlp_out'}"))
    assert r.sources["gpt2"].saes[0].ref == "release=gpt2-small-mlp-out-v5-32k,id=blocks.5.hook_mlp_out"
    r = resolve_spec(spec(model="gpt2-small", hooks="L5.mlp_out", sae="/data/saes/{layer}-{site}"))
    assert r.sources["gpt2"].saes[0].ref == "/data/saes/5-mlp_out"


def test_pythia_has_no_resid_mid() -> None:
    with pytest.raises(ResolveError) as info:
        resolve_spec(spec(model="pythia-70m-deduped", hooks="L1.resid_mid", sae="paper"))
    assert "no resid_mid" in str(info.value)


def test_errors_are_collected_and_located(fake_zoo) -> None:
    text = "interventions:\n  - focus: feature\n    sources: [gtp2]\nmetrics: {names: [kll]}\n"
    with pytest.raises(ResolveError) as info:
        resolve_spec(spec(text, hooks="L1,7.resid_post"))
    items = info.value.items
    assert len(items) == 3
    layer = next(i for i in items if "out of range" in i.message)
    assert (layer.span.line, layer.span.col) == (6, 17)
    src = next(i for i in items if "gtp2" in i.message)
    assert src.full_hint().startswith("did you mean 'gpt2'")


def test_transfer_needs_key_name_unless_served(fake_zoo) -> None:
    with pytest.raises(ResolveError, match="api_key_env"):
        resolve_spec(spec("transfer:\n  targets: [{name: a, model: openai/x}]\n"))
    r = resolve_spec(spec("transfer:\n  targets: [{name: a, model: openai/x, serve: zoo:target-tiny}]\n"))
    assert r.transfer is not None


def test_focus_hooks_restrict_to_source(fake_zoo) -> None:
    r = resolve_spec(spec("interventions:\n  - focus: token\n", hooks="L1,3.{attn_out,mlp_out,resid_post}"))
    assert r.focus_hooks(r.interventions[0], "gpt2") == (
        "blocks.1.hook_attn_out", "blocks.1.hook_mlp_out", "blocks.3.hook_attn_out", "blocks.3.hook_mlp_out")
