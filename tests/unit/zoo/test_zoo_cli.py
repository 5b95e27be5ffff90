"""Unit tier: `interf zoo info` prints the card without loading a model."""

from __future__ import annotations

from typer.testing import CliRunner

from interf_dsl.cli import app


def test_zoo_info_prints_the_card() -> None:
    result = CliRunner().invoke(app, ["zoo", "info"])
    assert result.exit_code == 0, result.output
    for text in ("# The tiny zoo", "zoo:gpt2-tiny", "zoo:pythia-tiny/L3.mlp_out", "What the zoo is not", "| color |"):
        assert text in result.output


def test_zoo_info_json() -> None:
    import json

    result = CliRunner().invoke(app, ["zoo", "info", "--json"])
    assert set(json.loads(result.output)["models"]) == {"gpt2-tiny", "pythia-tiny", "target-tiny"}


def test_bad_minutes_is_a_spec_error() -> None:
    import pytest

    from interf_dsl._cli.zoo_cmds import _parse_minutes
    from interf_dsl.errors import SpecError

    assert _parse_minutes("gpt2-tiny=1.5,sae=0.2") == {"gpt2-tiny": 1.5, "sae": 0.2}
    with pytest.raises(SpecError):
        _parse_minutes("gpt3-tiny=2")
