"""map.targets selectors: bound to a source's SAE hook (located errors otherwise) and passed to `select`."""

from __future__ import annotations

import pytest

from interf_dsl.errors import ResolveError
from interf_dsl.parse import load_spec_text
from interf_dsl.plan import compile_plan
from interf_dsl.resolve import resolve_spec

SPEC = """experiment: {{name: t, seed: 1}}
sources:
  gpt2:
    model: zoo:gpt2-tiny
    saes: [{{hooks: "L1.{{attn_out,resid_post}}"}}]
map:
  targets: [{targets}]
"""


def test_selector_reaches_the_select_step(fake_zoo) -> None:
    plan = compile_plan(resolve_spec(load_spec_text(SPEC.format(targets='"gpt2/L1.resid_post[3, 7-9]"'), "t.yaml")))
    assert plan.step("select").params["targets"] == [
        {"source": "gpt2", "hook_name": "blocks.1.hook_resid_post", "features": [3, 7, 8, 9]}]


@pytest.mark.parametrize(("targets", "needle"), [
    ('"gtp2/L1.resid_post[3]"', "gpt2"),          # unknown source: did-you-mean
    ('"gpt2/L1.mlp_out[3]"', "mlp_out"),          # the source has no SAE at that hook
])
def test_selector_errors_are_located(fake_zoo, targets: str, needle: str) -> None:
    with pytest.raises(ResolveError) as err:
        resolve_spec(load_spec_text(SPEC.format(targets=targets), "t.yaml"))
    item = err.value.items[0]
    assert item.span is not None and item.span.line == 7
    assert needle in (item.message + " " + (item.full_hint() or ""))
