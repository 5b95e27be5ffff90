"""One source of names: every name `interf list` advertises validates, and no other name does (located, with hint).

The names come from the registries themselves (`catalogs.kind_entries`); the map runner test
(tests/unit/atlas/test_runners.py) runs every registered interference metric, so an advertised name that cannot run
fails there.
"""

from __future__ import annotations

import gzip

import pytest

from interf_dsl.errors import InterfError, render_error
from interf_dsl.parse import load_spec_text
from interf_dsl.resolve import resolve_spec
from interf_dsl.resolve.catalogs import KINDS, kind_entries, kind_names

BASE = """experiment: {name: t, preset: paper}
sources:
  gpt2:
    model: zoo:gpt2-tiny
    saes:
      - hooks: "L1.{attn_out,mlp_out,resid_post}"
        sae: zoo
"""


def _spec_using(kind: str, name: str, tmp_path) -> str:
    """A spec whose only unusual choice is `name` at the place `kind` is named."""
    if kind == "interference_metric":
        return f"map: {{metrics: [{name}]}}\n"
    if kind == "metric":
        return f"metrics: {{names: [{name}], primary: {name}}}\n"
    if kind == "explainer":
        export = tmp_path / "export"
        for sae in ("L1.attn_out", "L1.mlp_out", "L1.resid_post"):  # one folder per SAE: <source>/<hook>/
            for part in ("features", "activations", "explanations"):  # the smallest export the layout check accepts
                (export / "gpt2" / sae / part).mkdir(parents=True, exist_ok=True)
                with gzip.open(export / "gpt2" / sae / part / "batch-0.jsonl.gz", "wt", encoding="utf-8") as fh:
                    fh.write('{"index": 0}\n')
        return f"atlas: {{explanations: {{kind: {name}, path: '{export}', model: openai/gpt-4o-mini}}}}\n"
    if kind == "focus":
        return f"interventions:\n  - focus: {name}\n"
    if kind == "token_type":
        return f"interventions:\n  - focus: prompt\n    mode: type_injection\n    types: [{name}]\n"
    raise AssertionError(kind)


CASES = [(kind, name) for kind in KINDS for name in kind_names(kind)]


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}:{n}" for k, n in CASES])
def test_every_advertised_name_validates(kind, name, tmp_path, fake_zoo) -> None:
    resolve_spec(load_spec_text(BASE + _spec_using(kind, name, tmp_path), "t.yaml"))


# names an earlier catalogue advertised that no implementation carries, and plain typos
UNKNOWN = [("interference_metric", "coactivation_pearson"), ("interference_metric", "shared_neurons"),
           ("interference_metric", "logit_effect_cos"), ("metric", "weighted_cosin"), ("explainer", "gpt"),
           ("token_type", "place"), ("focus", "featur")]


@pytest.mark.parametrize(("kind", "name"), UNKNOWN, ids=[f"{k}:{n}" for k, n in UNKNOWN])
def test_names_not_registered_are_refused_located(kind, name, tmp_path, fake_zoo) -> None:
    with pytest.raises(InterfError) as err:  # a focus name is checked by parse, the others by resolve
        resolve_spec(load_spec_text(BASE + _spec_using(kind, name, tmp_path), "t.yaml"))
    text = render_error(err.value)
    assert f"'{name}'" in text and "t.yaml:" in text and "valid:" in text, text
    assert all(n in text.split("valid:")[1] for n in kind_names(kind)), text  # every registered name is offered


def test_every_registry_has_summaries() -> None:
    for kind in KINDS:
        entries = kind_entries(kind)
        assert entries and all(s.strip() for s in entries.values()), kind


def test_a_key_a_focus_lacks_is_named_with_its_focus(tmp_path) -> None:
    spec = BASE + "interventions:\n  - focus: token\n    conditions: [self]\n"
    with pytest.raises(InterfError) as err:
        load_spec_text(spec, "t.yaml")
    text = render_error(err.value)
    assert "unknown token focus key 'conditions'" in text and "t.yaml:10:5" in text and "layer_kinds" in text, text


def test_a_focus_whose_metrics_are_not_named_is_refused(tmp_path, fake_zoo) -> None:
    """metrics.names chooses the reported metrics: a block that measures none of them could report nothing."""
    spec = BASE + ("metrics: {names: [weighted_cosine], primary: weighted_cosine}\n"
                   "interventions:\n  - focus: prompt\n    mode: type_injection\n")
    with pytest.raises(InterfError) as err:
        resolve_spec(load_spec_text(spec, "t.yaml"))
    text = render_error(err.value)
    assert "prompt focus reports none of metrics.names (it measures type_success)" in text and "t.yaml:8:18" in text, text


def test_metrics_names_choose_the_reported_effects() -> None:
    from interf_dsl.interventions.loops import effect_tables
    from interf_dsl.lang.params import InterveneParams
    from interf_dsl.lang.sections import Metrics, Stats

    def row(metric: str) -> dict:
        return {"source": "s", "focus": "feature", "tau": 0.2, "type": None, "level": "self", "metric": metric,
                "mode": "rigorous", "estimator": "e", "n": 3, "n_clusters": 3, "estimate": 0.1, "ci_lo": 0.0,
                "ci_hi": 0.2, "p": 0.01, "alpha": 1.0}

    rows = [row(m) for m in ("wc_rel", "wo_rel", "kl_at_wc_alpha", "kl_at_wo_alpha")]
    regs = [{"metric": m, "mode": "rigorous", "model": "A", "term": "I", "coef": 0.1} for m in ("wc", "wo")]
    for names, want, want_regs in ((("weighted_overlap",), ["wo_rel"], ["wo"]),
                                   (("weighted_cosine", "kl"), ["wc_rel", "kl_at_wc_alpha", "kl_at_wo_alpha"], ["wc"])):
        params = InterveneParams(focus="feature", source="s", block={}, stats=Stats(mode="both"),
                                 metrics=Metrics(names=names, primary=names[0]))
        effects, reg, _ = effect_tables([dict(r) for r in rows], [dict(r) for r in regs], params)
        assert effects["metric"].to_list() == want and reg["metric"].to_list() == want_regs
        assert effects.filter(effects["primary"])["metric"].to_list() == want[:1]
