"""Feature selectors: compact string and expanded mapping build one node; canonical text parses back; bad input is
located and labelled."""

from __future__ import annotations

import pytest

from interf_dsl.errors import ExprSyntaxError
from interf_dsl.lang.selectors import parse_selector, selector_from_mapping


@pytest.mark.parametrize(("text", "canonical"), [
    ("gpt2/L3.resid_post[12, 40, 100-120]", "gpt2/L3.resid_post[12, 40, 100-120]"),
    ("gpt2/L3.resid_post[40,12,12]", "gpt2/L3.resid_post[12, 40]"),
    ("gpt2-small/blocks.3.hook_mlp_out[7,8,9,1]", "gpt2-small/L3.mlp_out[1, 7-9]"),
    ("zoo.a/L1.attn_out[3, 4]", "zoo.a/L1.attn_out[3, 4]"),
    ("s/L0.resid_pre[5-5]", "s/L0.resid_pre[5]"),
])
def test_canonical(text: str, canonical: str) -> None:
    node = parse_selector(text)
    assert str(node) == canonical and node.raw == text
    assert parse_selector(str(node)) == node


def test_features_and_hook() -> None:
    node = parse_selector("gpt2/L3.resid_post[12, 100-103]")
    assert (node.source, node.hook, node.features) == ("gpt2", "blocks.3.hook_resid_post", (12, 100, 101, 102, 103))
    assert node.hook_text == "L3.resid_post" and node.hook_col == 5


def test_mapping_form_builds_same_node() -> None:
    m = selector_from_mapping({"source": "gpt2", "hook": "L3.resid_post", "features": [12, 40, "100-120"]})
    assert m == parse_selector("gpt2/L3.resid_post[12, 40, 100-120]")
    with pytest.raises(ExprSyntaxError):
        selector_from_mapping({"source": "gpt2", "hook": "L3.resid_post"})


@pytest.mark.parametrize(("text", "label", "column"), [
    ("gpt2/L3.resid_post[12, 40", "unclosed bracket in selector", 26),
    ("gpt2/L3.resid_post[a]", "feature ids must be integers", 20),
    ("gpt2/L3.resid_post", "a selector needs [feature ids]", 19),
    ("gpt2/L3.resid_post[]", "empty feature list", 20),
    ("gpt2/L1,3.resid_post[1]", "one hook per selector", 6),
    ("gpt2/L3.resid_pots[1]", "site", 9),
    ("gpt2/L3.resid_post[5-2]", "feature range", 20),
])
def test_bad(text: str, label: str, column: int) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse_selector(text)
    assert (info.value.label, info.value.column) == (label, column)
