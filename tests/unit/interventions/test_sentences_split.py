"""prompts.heldout_fraction sets how many sentences per token or type are held out for choosing α."""

from __future__ import annotations

import pytest

from interf_dsl.interventions.sentences import sentence_rows, split_of


@pytest.mark.parametrize(("fraction", "n", "n_select"), [(0.5, 2, 1), (0.5, 5, 2), (0.25, 8, 2), (0.0, 4, 0),
                                                         (0.75, 4, 3)])
def test_fraction_of_select_sentences(fraction: float, n: int, n_select: int) -> None:
    splits = [split_of(i, fraction) for i in range(n)]
    assert splits.count("select") == n_select
    assert splits[0] == "eval" or fraction >= 1  # the first sentence of a token is always evaluated


def test_rows_carry_the_split() -> None:
    rows = sentence_rows("vocab", " cat", ["a", "b", "c", "d"], " cat", None, 10, heldout_fraction=0.25)
    assert [r["split"] for r in rows] == ["eval", "eval", "eval", "select"]
    assert [r["sentence_id"] for r in rows] == [10, 11, 12, 13]
