"""`interf run` wiring: spec -> load_spec -> resolve_spec -> compile_plan -> execute_plan, run dir on the last line
(the compiler is replaced by the engine-test plan so no model or zoo is needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_kinds import make_plan
from pydantic import BaseModel
from typer.testing import CliRunner

import interf_dsl.parse
import interf_dsl.plan
import interf_dsl.resolve
from interf_dsl.cli import app
from interf_dsl.lang.sections import Execute


class _Resolved(BaseModel):
    preset: str = "paper"
    execute: Execute = Execute()


@pytest.fixture
def fake_compiler(monkeypatch):
    monkeypatch.setattr(interf_dsl.parse, "load_spec", lambda path: {"path": str(path)})
    monkeypatch.setattr(interf_dsl.resolve, "resolve_spec", lambda spec: _Resolved())
    monkeypatch.setattr(interf_dsl.plan, "compile_plan", lambda resolved: make_plan(n=3))


def test_run_prints_the_run_directory_last_and_reruns_from_cache(fake_compiler, tmp_path, monkeypatch):
    monkeypatch.setenv("INTERF_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "demo.yaml"
    spec.write_text("experiment: {name: demo}\n")
    runner = CliRunner()
    args = ["run", str(spec), "--reports", str(tmp_path / "reports"), "--quiet"]
    first = runner.invoke(app, [*args, "--run-id", "one"])
    assert first.exit_code == 0, first.output
    run_dir = Path(first.stdout.strip().splitlines()[-1])
    assert run_dir == (tmp_path / "reports" / "demo" / "one").resolve()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["resolved"]["preset"] == "paper" and run["spec"]["text"] == "experiment: {name: demo}\n"
    assert (tmp_path / "cache" / "steps").is_dir()
    second = runner.invoke(app, [*args, "--run-id", "two", "--force", "count:b"])
    assert second.exit_code == 0, second.output
    record = json.loads((Path(second.stdout.strip().splitlines()[-1]) / "run.json").read_text())["record"]
    assert [s["id"] for s in record["steps"] if not s["cache_hit"]] == ["count:b", "sum"]


def test_run_refuses_an_escaping_run_id(fake_compiler, tmp_path, monkeypatch):
    monkeypatch.setenv("INTERF_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "demo.yaml"
    spec.write_text("x")
    out = CliRunner().invoke(app, ["run", str(spec), "--reports", str(tmp_path / "r"), "--run-id", "../x"])
    assert out.exit_code != 0 and "refused run id" in str(out.exception)


@pytest.mark.parametrize("run_id", ["..", ".", "-rf", "a" * 101, "a/b", "a..b"])
def test_run_ids_follow_the_spec_name_rule(run_id, tmp_path):
    from interf_dsl.errors import ExecuteError
    from interf_dsl.execute.selection import run_directory

    with pytest.raises(ExecuteError, match="refused run id"):
        run_directory(tmp_path, "demo", run_id)
    assert run_directory(tmp_path, "demo", "a" * 100).name == "a" * 100
