"""Golden files of the compiler: a plan per shipped spec, an error text per invalid spec and per bad `--set` override
case (`tests/golden/overrides/<case>.set`: one override a line, applied to specs/demo.yaml; `pytest --update-golden`).

Plans are compared without step hashes, with local paths relative to `<spec folder>` and with fingerprints masked, so a rebuilt zoo or an installed hub model
does not churn them; hashing itself is tested in tests/unit/plan. The zoo is the fake card of tests/conftest.py.
Each section a step's params carry (map, metrics, stats, ...) is stored once under `sections` and referred to as
`@<key>#<n>`, so a change to one spec section shows once in a review, not once per step.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from interf_dsl.errors import InterfError, render_error
from interf_dsl.parse import load_spec
from interf_dsl.plan import compile_plan
from interf_dsl.resolve import resolve_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted(p for p in (ROOT / "specs").rglob("*") if p.suffix in (".yaml", ".interf"))
INVALID = sorted(p for p in (ROOT / "tests/golden/invalid").iterdir() if p.suffix in (".yaml", ".interf"))
OVERRIDES = sorted((ROOT / "tests/golden/overrides").glob("*.set"))


def _normalised(plan, spec: Path) -> str:
    """The plan's JSON for comparison; the local paths it carries (absolute, resolved against the spec's folder) are
    written relative to `<spec folder>` (or `<specs>`), so golden files do not depend on the checkout's location."""
    text = plan.to_json().replace(json.dumps(str(spec.parent))[1:-1] + "/", "<spec folder>/")
    text = text.replace(json.dumps(str(ROOT / "specs"))[1:-1] + "/", "<specs>/")  # a path above the spec's folder (../data)
    data = json.loads(text)
    sections: dict[str, object] = {}
    for step in data["steps"]:
        step.pop("hash")
        step.pop("data_hash")
        for key in ("fingerprint", "corpus_fingerprint", "export_fingerprint", "file_fingerprint", "sets_fingerprint",
                    "prompt_sets_fingerprint"):
            if key in step["params"]:
                step["params"][key] = "<fingerprint>"
        for key, value in step["params"].items():
            if isinstance(value, dict) and len(value) > 2:
                step["params"][key] = _shared(sections, key, value)
    data.pop("spec_sha256")
    steps = data.pop("steps")
    # one line per step (a changed step is one changed line), sections once, indented
    head = json.dumps({**data, "sections": sections}, indent=1, sort_keys=True)[:-2]
    lines = ",\n  ".join(json.dumps(st, sort_keys=True, separators=(",", ":")) for st in steps)
    return f'{head},\n "steps": [\n  {lines}\n ]\n}}\n'


def _shared(sections: dict[str, object], key: str, value: object) -> str:
    """The reference of `value` among the stored sections of `key`, storing it on first sight."""
    n = 0
    while f"{key}#{n}" in sections:
        if sections[f"{key}#{n}"] == value:
            return f"@{key}#{n}"
        n += 1
    sections[f"{key}#{n}"] = value
    return f"@{key}#{n}"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_golden_plan(spec: Path, fake_zoo, update_golden: bool) -> None:
    text = _normalised(compile_plan(resolve_spec(load_spec(spec))), spec)
    golden = ROOT / "tests/golden/plans" / (str(spec.relative_to(ROOT / "specs")).replace("/", "__") + ".json")
    if update_golden or not golden.exists():
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_at_least_forty_invalid_specs() -> None:
    assert len(INVALID) >= 40
    assert any(p.suffix == ".interf" for p in INVALID) and any(p.suffix == ".yaml" for p in INVALID)


def _registry_lists(text: str) -> str:
    """Error text with the full list of registered foci as `<registered foci>` (registering a focus must not
    touch error snapshots; tests/unit/resolve/test_registries.py checks the lists themselves)."""
    from interf_dsl.foci import FOCI

    return text.replace(f"valid: {', '.join(FOCI.names())}", "valid: <registered foci>")


@pytest.mark.parametrize("bad", INVALID, ids=lambda p: p.name)
def test_golden_error(bad: Path, fake_zoo, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    rel = os.path.relpath(bad, ROOT)
    with pytest.raises(InterfError) as info:
        resolve_spec(load_spec(rel))
    assert info.value.exit_code == 2
    text = _registry_lists(render_error(info.value) + "\n")
    assert "Traceback" not in text
    golden = bad.with_suffix(bad.suffix + ".err.txt")
    if update_golden or not golden.exists():
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_plan_params_validate_back_into_their_models(spec: Path, fake_zoo) -> None:
    """A step's params are the JSON of the spec's models; that JSON validates back to equal models (degree bins,
    grids, bins and hooks included), so a plan can be read back typed."""
    from interf_dsl.foci import FOCI

    resolved = resolve_spec(load_spec(spec))
    for block in resolved.interventions:
        model = FOCI.entry(block.focus).params
        assert model.model_validate(block.model_dump(mode="json")) == block, block.focus
    for name in ("atlas", "map", "metrics", "stats", "prompts", "transfer", "report"):
        section = getattr(resolved, name)
        if section is not None:
            assert type(section).model_validate(section.model_dump(mode="json")) == section, name


@pytest.mark.parametrize("case", OVERRIDES, ids=lambda p: p.stem)
def test_golden_override_error(case: Path, fake_zoo, update_golden: bool, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture) -> None:
    """`interf validate specs/demo.yaml --set ...` with a bad override, as a user types it: exit 2, no traceback, the
    first error located at an override (`--set <text>:1:<col>`) with the override as its snippet (follow-on errors of
    a valid-looking override, e.g. foci left without hooks, point at the spec file)."""
    import sys

    from interf_dsl.cli import main

    monkeypatch.chdir(ROOT)
    sets = [line for line in case.read_text(encoding="utf-8").splitlines() if line]
    monkeypatch.setattr(sys, "argv", ["interf", "validate", "specs/demo.yaml", *(a for s in sets for a in ("--set", s))])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err and "internal error" not in err
    located = [line for line in err.splitlines() if ": error: " in line]
    assert located and located[0].startswith("--set "), err
    assert err.splitlines()[1] == f"     1 | {located[0].split(':1:')[0].removeprefix('--set ')}", err
    golden = case.with_suffix(".set.err.txt")
    if update_golden or not golden.exists():
        golden.write_text(err, encoding="utf-8")
    assert err == golden.read_text(encoding="utf-8")
