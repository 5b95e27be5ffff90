"""grammar/corpus: every good example parses, every bad one raises a located ExprSyntaxError."""

from __future__ import annotations

from pathlib import Path

import pytest

from interf_dsl.errors import ExprSyntaxError
from interf_dsl.parse import expr

CORPUS = Path(__file__).resolve().parents[3] / "grammar" / "corpus"
PARSERS = {"grid": expr.parse_grid, "bins": expr.parse_bins, "hooks": expr.parse_hooks,
           "degree_bins": expr.parse_degree_bins, "filter": expr.parse_filter,
           "dsl": lambda t: expr.parse_tree(t, "dsl")}


def _rows(name: str) -> list[tuple[str, str]]:
    return [tuple(line.split("\t", 1)) for line in (CORPUS / name).read_text(encoding="utf-8").splitlines() if line]


@pytest.mark.parametrize(("start", "text"), _rows("good.txt"))
def test_good(start: str, text: str) -> None:
    PARSERS[start](text)


@pytest.mark.parametrize(("start", "text"), _rows("bad.txt"))
def test_bad(start: str, text: str) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        PARSERS[start](text)
    assert 1 <= info.value.column <= len(text) + 1
