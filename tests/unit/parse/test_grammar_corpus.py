"""grammar/corpus: every good example parses, every bad one raises a located ExprSyntaxError."""

from __future__ import annotations

from pathlib import Path

import pytest

from interf_dsl.errors import ExprSyntaxError
from interf_dsl.lang import expr
from interf_dsl.lang.selectors import parse_selector

CORPUS = Path(__file__).resolve().parents[3] / "grammar" / "corpus"
PARSERS = {"grid": expr.parse_grid, "bins": expr.parse_bins, "hooks": expr.parse_hooks,
           "degree_bins": expr.parse_degree_bins, "filter": expr.parse_filter,
           "dsl": lambda t: expr.parse_tree(t, "dsl"), "selector": parse_selector}


def _rows(name: str) -> list[tuple[str, str]]:
    return [tuple(line.split("\t")[:2]) for line in (CORPUS / name).read_text(encoding="utf-8").splitlines() if line]


def _labelled() -> list[tuple[str, str, str]]:
    lines = (CORPUS / "bad.txt").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line.count("\t") == 2]


@pytest.mark.parametrize(("start", "text"), _rows("good.txt"))
def test_good(start: str, text: str) -> None:
    PARSERS[start](text)


@pytest.mark.parametrize(("start", "text"), _rows("bad.txt"))
def test_bad(start: str, text: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        PARSERS[start](text)
    assert 1 <= info.value.column <= len(text) + 1


@pytest.mark.parametrize(("start", "text", "label"), _labelled())
def test_bad_labels(start: str, text: str, label: str) -> None:
    """match_examples names the mistake; the label prefixes the rendered message."""
    with pytest.raises(ExprSyntaxError) as info:
        PARSERS[start](text)
    assert info.value.label == label
    assert str(info.value).startswith(label + ": ")
