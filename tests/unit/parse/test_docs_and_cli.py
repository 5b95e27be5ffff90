"""specs/README.md stays in step with the spec models and registries; the no-model CLI verbs work and are fast."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interf_dsl.cli import app
from interf_dsl.parse import load_spec_text
from interf_dsl.parse.spec import FOCUS_MODELS, SECTION_MODELS, SaeGroup, SaeRelease, Source, Spec, Target
from interf_dsl.resolve import PRESET_VALUES, resolve_spec

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "specs/README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"### `{title}`")
    nxt = README.find("\n### ", start + 1)
    return README[start: nxt if nxt > 0 else None]


@pytest.mark.parametrize(("title", "model"), [
    ("top level", Spec), ("sources.<name>", Source), ("sources.<name>.saes[]", SaeGroup),
    ("sae: {release, id}", SaeRelease), ("transfer.targets[]", Target),
    *((name, m) for name, m in SECTION_MODELS.items()),
    *((f"interventions[] focus: {k}", m) for k, m in FOCUS_MODELS.items()),
])
def test_readme_documents_every_key(title: str, model) -> None:
    section = _section(title)
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    assert documented == set(model.model_fields), f"regenerate the `{title}` table of specs/README.md"


def test_readme_lists_registries_and_presets() -> None:
    from interf_dsl.resolve.docs import rendered

    assert rendered(README) == README, "run `python -m interf_dsl.resolve.docs` (registered names, focus key tables)"
    for path in PRESET_VALUES:
        assert f"| `{path}` |" in README


def test_every_preset_field_is_none_in_spec_and_has_a_row() -> None:
    models = {**{f"focus.{k}": m for k, m in FOCUS_MODELS.items()}, **SECTION_MODELS}
    for prefix, model in models.items():
        for name, field in model.model_fields.items():
            if "*preset*" in (field.description or ""):
                assert field.default is None and f"{prefix}.{name}" in PRESET_VALUES, f"{prefix}.{name}"


runner = CliRunner()


def test_validate_plan_fmt_schema_list(tmp_path: Path, fake_zoo) -> None:
    spec = ROOT / "specs/transfer_gemma.yaml"
    assert runner.invoke(app, ["validate", str(spec)]).exit_code == 0
    out = runner.invoke(app, ["plan", str(spec), "--json"])
    assert out.exit_code == 0 and '"transfer:gemma-2-9b-it"' in out.output
    assert "report  [report]" in runner.invoke(app, ["plan", str(spec)]).output
    assert "transfer:gemma-2-9b-it" in runner.invoke(app, ["plan", str(spec), "--table"]).output
    assert runner.invoke(app, ["fmt", str(spec), "--to", "interf"]).output.startswith("experiment {")
    assert '"title": "Spec"' in runner.invoke(app, ["schema"]).output
    listing = runner.invoke(app, ["list"]).output
    for word in ("feature", "weighted_cosine", "decoder_cos", "neuronpedia", "rigorous", "intervene"):
        assert word in listing


def test_schema_covers_every_registered_focus(tmp_path: Path) -> None:
    """setup.sh writes specs/interf.schema.json with `interf schema -o`; it describes every registered focus."""
    import json

    from interf_dsl.foci import FOCI

    out = tmp_path / "interf.schema.json"
    assert runner.invoke(app, ["schema", "-o", str(out)]).exit_code == 0
    text = out.read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["type"] == "object" and "interventions" in schema["properties"]
    for entry in FOCI:
        assert f'"const": "{entry.name}"' in text and entry.params.__name__ in schema["$defs"], entry.name


@pytest.mark.parametrize("preset", ["paper", "rigorous"])
@pytest.mark.parametrize("suffix", [".yaml", ".interf"])
def test_new_writes_a_valid_spec(tmp_path: Path, preset: str, suffix: str, fake_zoo) -> None:
    out = tmp_path / f"study{suffix}"
    assert runner.invoke(app, ["new", str(out), "--preset", preset]).exit_code == 0
    resolved = resolve_spec(load_spec_text(out.read_text(), str(out), suffix.lstrip(".").replace("yaml", "yaml")))
    assert resolved.preset == preset
    assert runner.invoke(app, ["new", str(out)]).exit_code != 0  # refuses to overwrite


def test_validate_cli_exit_code_and_speed() -> None:
    """`interf validate` is a fresh process: < 1 s per spec on an idle 2-core machine (budget 3 s under load)."""
    exe = Path(sys.executable).with_name("interf")
    bad = ROOT / "tests/golden/invalid/unknown_top_key.yaml"
    res = subprocess.run([str(exe), "validate", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "did you mean 'atlas'" in res.stderr
    t0 = time.perf_counter()
    res = subprocess.run([str(exe), "validate", "specs/transfer_gemma.yaml"], capture_output=True, text=True,
                         cwd=ROOT)
    elapsed = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    assert elapsed < 3.0
