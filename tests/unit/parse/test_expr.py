"""Expression sublanguage: grids, bins, hooks, degree bins, filters (input -> value, bad input -> column)."""

from __future__ import annotations

import pytest

from interf_dsl.errors import ExprSyntaxError
from interf_dsl.lang import expr
from interf_dsl.lang.ast import Bin, DegreeBin, format_bins, format_degree_bins, format_grid, format_hooks
from interf_dsl.parse import evaluate_filter, parse_filter

PAPER = (0.5, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 17, 20)


def test_paper_grid_is_the_32_values() -> None:
    got = expr.parse_grid("±{0.5, 1, 1.5, 2, 3..10, 12, 14, 17, 20}")
    assert got == tuple(sorted([-v for v in PAPER] + list(PAPER)))
    assert len(got) == 32


@pytest.mark.parametrize(("text", "values"), [
    ("{0, .1, .2}", (0.0, 0.1, 0.2)),
    ("{0.5..2 step 0.5}", (0.5, 1.0, 1.5, 2.0)),
    ("{0} ±{1}", (-1.0, 0.0, 1.0)),
    ("+-{2}", (-2.0, 2.0)),
    ("{-1, 3, 3}", (-1.0, 3.0)),
])
def test_grid_forms(text: str, values: tuple) -> None:
    assert expr.parse_grid(text) == values


@pytest.mark.parametrize("values", [tuple(sorted([-v for v in PAPER] + list(PAPER))), (0.0, 0.1, 0.5, 2.0),
                                    (-3.0, -1.0, 0.0, 1.0, 3.0), (1.0, 2.0, 3.0, 4.0)])
def test_grid_canonical_text_parses_back(values: tuple) -> None:
    assert expr.parse_grid(format_grid(values)) == values


def test_paper_grid_canonical_text() -> None:
    assert format_grid(expr.parse_grid("±{0.5, 1, 1.5, 2, 3..10, 12, 14, 17, 20}")) == \
        "±{0.5, 1, 1.5, 2..10, 12, 14, 17, 20}"


def test_bins() -> None:
    got = expr.parse_bins("[0,.1) [.1,.2) [.2,.3) [.3,.4) [.4,1]")
    assert got[0] == Bin(0.0, 0.1, False) and got[-1] == Bin(0.4, 1.0, True)
    assert expr.parse_bins(format_bins(got)) == got
    assert got[-1].contains(1.0) and not got[0].contains(0.1)


@pytest.mark.parametrize(("text", "column", "needle"), [
    ("[0,.1) [.05,.2)", 8, "overlaps"),
    ("[.2,.3) [0,.1)", 9, "increasing order"),
    ("[0,.1] [.1,.2)", 8, "overlaps"),
    ("[.3,.3)", 1, "empty"),
    ("[0,.1) (.1,.2)", 8, "unexpected"),
])
def test_bad_bins_point_at_the_bin(text: str, column: int, needle: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        expr.parse_bins(text)
    assert info.value.column == column
    assert needle in str(info.value)


def test_hooks_shorthand_and_canonical() -> None:
    items = expr.parse_hooks("L0-2.{attn_out,mlp_out} L1,3.resid_post blocks.4.hook_resid_post")
    names = [i.canonical for i in items]
    assert names[:2] == ["blocks.0.hook_attn_out", "blocks.0.hook_mlp_out"]
    assert "blocks.3.hook_resid_post" in names and names[-1] == "blocks.4.hook_resid_post"
    assert len(names) == 9


def test_hooks_canonical_text_parses_back() -> None:
    names = ["blocks.1.hook_attn_out", "blocks.1.hook_mlp_out", "blocks.3.hook_attn_out", "blocks.3.hook_mlp_out",
             "blocks.4.hook_resid_post"]
    text = format_hooks(names)
    assert text == "L1,3.{attn_out,mlp_out} L4.resid_post"
    assert sorted(i.canonical for i in expr.parse_hooks(text)) == sorted(names)


def test_unknown_site_has_column_and_hint() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        expr.parse_hooks("L1.resid_pots")
    assert info.value.column == 4
    assert "did you mean 'resid_post'" in info.value.items[0].hint


def test_degree_bins() -> None:
    got = expr.parse_degree_bins("1, 2-5, 6-20, 21-50, 51-100, 101-200, 201-500, 501+")
    assert got[0] == DegreeBin(1, 1) and got[-1] == DegreeBin(501, None)
    assert expr.parse_degree_bins(format_degree_bins(got)) == got
    with pytest.raises(ExprSyntaxError):
        expr.parse_degree_bins("1, 2-5, 4-20")


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("I >= 0.4 and S < 0.2", {"I": 0.5, "S": 0.1}, True),
    ("I >= 0.4 and S < 0.2", {"I": 0.5, "S": 0.3}, False),
    ("abs(delta) > 0.02", {"delta": -0.03}, True),
    ("not (a or b)", {"a": False, "b": False}, True),
    ("max(a, b) - min(a, b) == 2", {"a": 1, "b": 3}, True),
    ("a + b * 2 == 7", {"a": 1, "b": 3}, True),
    ("(a + b) * 2 == 8", {"a": 1, "b": 3}, True),
    ("-x < -1", {"x": 2}, True),
    ("name == \"gpt2\"", {"name": "gpt2"}, True),
])
def test_filters(text: str, env: dict, expected: bool) -> None:
    node = parse_filter(text)
    assert evaluate_filter(node, env) is expected
    assert parse_filter(str(node)) == node  # canonical text parses back to the same tree


def test_filter_errors() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse_filter("I >= ")
    assert "end of text" in str(info.value)
    with pytest.raises(ExprSyntaxError) as info:
        parse_filter("abss(d) > 1")
    assert "did you mean 'abs'" in info.value.items[0].hint
    with pytest.raises(ExprSyntaxError) as info:
        evaluate_filter(parse_filter("I > 1"), {"J": 1})
    assert "unknown name 'I'" in str(info.value)


def test_keyword_is_not_a_name() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse_filter("I >= and")
    assert info.value.column == 6
