"""The spec's `execute` section and `interf run --executor/--address`: execution only (no step hash or data hash
moves), both spellings parse it, and `--executor ray` without ray installed stops at once saying how to install it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interf_dsl.cli import app
from interf_dsl.errors import ExecuteError, SpecError, render_error
from interf_dsl.lang.sections import Execute
from interf_dsl.parse import load_spec_text
from interf_dsl.plan import compile_plan
from interf_dsl.resolve import resolve_spec

ROOT = Path(__file__).resolve().parents[3]
DEMO = (ROOT / "specs/demo.yaml").read_text(encoding="utf-8")
NO_RAY = "import sys; sys.modules['ray'] = None\n"  # `import ray` then raises ImportError, as if not installed


def _plan(text: str, spelling: str = "yaml"):
    resolved = resolve_spec(load_spec_text(text, str(ROOT / "specs" / f"x.{spelling}"), spelling))
    return resolved, compile_plan(resolved)


def test_execute_settings_move_no_hash(fake_zoo) -> None:
    _, base = _plan(DEMO)
    resolved, ray = _plan(DEMO + "execute: {executor: ray, address: 'ray://head:10001', max_width: 16, "
                                 "max_retries: 5}\n")
    assert resolved.execute == Execute(executor="ray", address="ray://head:10001", max_width=16, max_retries=5)
    assert [(s.id, s.hash, s.data_hash) for s in ray.steps] == [(s.id, s.hash, s.data_hash) for s in base.steps]
    assert not any("executor" in str(s.params) or "max_width" in str(s.params) for s in ray.steps)


def test_the_interf_spelling_reads_the_section(fake_zoo) -> None:
    from interf_dsl.parse.fmt import format_spec

    spec = load_spec_text(DEMO + "execute: {executor: ray, max_width: 2}\n", "x.yaml")
    text = format_spec(spec, to="interf")
    assert "execute {" in text
    back = load_spec_text(text, "x.interf", "interf")
    assert back.execute == Execute(executor="ray", max_width=2)


def test_a_bad_executor_is_a_located_error() -> None:
    with pytest.raises(SpecError) as err:
        load_spec_text(DEMO + "execute: {executor: slurm}\n", "x.yaml")
    text = render_error(err.value)
    assert "x.yaml:78:" in text and "execute.executor" in text and "valid: local, ray" in text


def test_without_ray_the_engine_refuses_before_writing_anything(tmp_path: Path) -> None:
    code = NO_RAY + f"""
from engine_kinds import make_plan
from interf_dsl.errors import ExecuteError, render_error
from interf_dsl.lang.sections import Execute
from interf_dsl.pipeline import run_plan
try:
    run_plan(make_plan(n=2), spec_path="s.yaml", spec_text="x", resolved_json="{{}}", quiet=True,
             reports_root={str(tmp_path / 'reports')!r}, cache_dir={str(tmp_path / 'cache')!r},
             execution=Execute(executor="ray"))
except ExecuteError as exc:
    print("REFUSED", render_error(exc))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**_env(), "PYTHONPATH": f"{ROOT}:{Path(__file__).parent}"})
    assert out.returncode == 0, out.stderr
    assert "REFUSED" in out.stdout and 'hint: pip install -e ".[ray]"' in out.stdout
    assert not (tmp_path / "reports").exists() and not (tmp_path / "cache").exists()


def test_cli_executor_ray_without_ray_says_how_to_install(tmp_path: Path) -> None:
    spec = tmp_path / "demo.yaml"
    spec.write_text(DEMO, encoding="utf-8")
    code = NO_RAY + "from interf_dsl.cli import main; main()"
    out = subprocess.run([sys.executable, "-c", code, "run", str(spec), "--executor", "ray", "--reports",
                          str(tmp_path / "reports")], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**_env(), "PYTHONPATH": str(ROOT)})
    assert out.returncode == 1, out.stderr
    assert 'pip install -e ".[ray]"' in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "reports").exists() and not (tmp_path / ".interf-cache").exists()


def test_require_ray_message(monkeypatch) -> None:
    from interf_dsl.execute.ray_executor import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ExecuteError) as err:
        require_ray()
    assert 'the ray executor needs the ray package' in render_error(err.value)
    assert 'hint: pip install -e ".[ray]"' in render_error(err.value)


@pytest.mark.parametrize(("args", "needle"), [(["--executor", "slurm"], "local or ray"),
                                              (["--address", "auto"], "--executor ray")])
def test_cli_refuses_bad_executor_flags(tmp_path: Path, fake_zoo, args, needle) -> None:
    spec = tmp_path / "demo.yaml"
    spec.write_text(DEMO, encoding="utf-8")
    out = CliRunner().invoke(app, ["run", str(spec), "--reports", str(tmp_path / "r"), *args])
    assert out.exit_code == 2 and needle in out.output


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
