"""Interference bins: the authors' [a, b) convention, a closed or open last bin, and no other brackets."""

from __future__ import annotations

import pytest

from interf_dsl.errors import SpecError
from interf_dsl.interference.bins import bins_of, parse_bins
from interf_dsl.lang.expr import parse_bins as lang_bins


def test_string_and_validated_bins_agree() -> None:
    for text in ("[0,.1) [.1,.2) [.2,1]", "[0,.5) [.5,1)"):
        assert parse_bins(text) == bins_of(lang_bins(text))
    assert parse_bins("[0,.5) [.5,1)").code_of(1.0) == -1 and parse_bins("[0,.5) [.5,1]").code_of(1.0) == 1


@pytest.mark.parametrize("text", ["(0,.1] [.1,1]", "[0,.1] [.1,1]", "[0,.1) (.1,1]"])
def test_brackets_the_counts_cannot_honour_are_refused(text) -> None:
    with pytest.raises(SpecError, match="brackets the map cannot count"):
        parse_bins(text)
