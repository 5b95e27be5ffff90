"""`--set key=value` overrides: applied before validation, typed like the spec, errors located at the override."""

from __future__ import annotations

from pathlib import Path

import pytest

from interf_dsl.errors import SpecError, render_error
from interf_dsl.parse.overrides import load_spec_with_overrides, parse_override

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "specs" / "demo.yaml"


@pytest.mark.parametrize(("text", "path", "value"), [
    ("atlas.max_tokens=2000", ("atlas", "max_tokens"), 2000),
    ("sources.gpt2.saes[0].hooks=L8.resid_post", ("sources", "gpt2", "saes", 0, "hooks"), "L8.resid_post"),
    ("map.thresholds=[0.4, 0.2]", ("map", "thresholds"), [0.4, 0.2]),
    ("experiment.description=", ("experiment", "description"), None),
    ("atlas.corpus= zoo:heldout", ("atlas", "corpus"), "zoo:heldout"),
])
def test_parse(text: str, path: tuple, value: object) -> None:
    ov = parse_override(text)
    assert ov.key_path == path and ov.value == value


@pytest.mark.parametrize(("text", "words", "col"), [
    ("atlas.max_tokens", "key=value", 17),
    ("atlas..max=1", "malformed key path", 1),
    ("atlas.max_tokens=[1,", "not one YAML value", 18),
])
def test_malformed_overrides_are_located(text: str, words: str, col: int) -> None:
    with pytest.raises(SpecError) as err:
        parse_override(text)
    item = err.value.items[0]
    assert words in item.message and item.span is not None and item.span.path == f"--set {text}"
    assert item.span.col == col


def test_overrides_apply_and_the_rest_keeps_its_file_positions(fake_zoo: dict) -> None:
    spec = load_spec_with_overrides(DEMO, ["atlas.max_tokens=2000", "sources.gpt2.saes[0].hooks=L3.resid_post"])
    assert spec.atlas.max_tokens == 2000 and spec.sources["gpt2"].saes[0].hooks == ("blocks.3.hook_resid_post",)
    assert load_spec_with_overrides(DEMO, []) == load_spec_with_overrides(DEMO)


@pytest.mark.parametrize(("override", "words", "col"), [
    ("atlas.max_tokens=-5", "greater than 0", 18),
    ("atlas.max_tokns=5", "unknown atlas key 'max_tokns'", 1),
    ("sources.gpt2.saes[0].hooks=L3.resid_pots", "resid_pots", 31),
    ("sources.gpt2.saes[4].hooks=L3", "the list has 1 entry", 1),
    ("atlas.max_tokens=lots", "valid integer", 18),
])
def test_invalid_values_are_located_at_the_override(override: str, words: str, col: int, fake_zoo: dict) -> None:
    with pytest.raises(SpecError) as err:
        load_spec_with_overrides(DEMO, ["stats.bootstrap=500", override])
    text = render_error(err.value)
    assert words in text and text.startswith(f"--set {override}:1:{col}: error:"), text


def test_validate_and_plan_take_set(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import json
    import sys

    from interf_dsl.cli import main

    monkeypatch.setattr(sys, "argv", ["interf", "plan", str(DEMO), "--json", "--set", "map.thresholds=[0.3]"])
    main()
    plan = json.loads(capsys.readouterr().out)
    assert {s["params"]["map"]["thresholds"][0] for s in plan["steps"] if s["kind"] == "map"} == {0.3}
    monkeypatch.setattr(sys, "argv", ["interf", "validate", str(DEMO), "--set", "atlas.max_tokens=-5"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2 and "--set atlas.max_tokens=-5:1:18" in capsys.readouterr().err
