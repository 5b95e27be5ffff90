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


DEMO = Path(__file__).resolve().parents[3] / "specs" / "demo.yaml"
SETS = ["atlas.max_tokens=2000", "sources.gpt2.saes[0].hooks=L1.{attn_out,mlp_out,resid_post}",
        "map.thresholds=[0.3]"]


def test_run_set_overrides_are_applied_and_recorded_in_run_json(fake_zoo, tmp_path, monkeypatch):
    """`interf run SPEC --set ...`: the real parse and resolve stages (the engine-test plan stands in for the
    compiled one); run.json records the override texts beside the resolved spec they changed."""
    monkeypatch.setattr(interf_dsl.plan, "compile_plan", lambda resolved: make_plan(n=3))
    monkeypatch.setenv("INTERF_CACHE", str(tmp_path / "cache"))
    args = ["run", str(DEMO), "--reports", str(tmp_path / "reports"), "--quiet", "--run-id", "a"]
    out = CliRunner().invoke(app, [*args, *(a for s in SETS for a in ("--set", s))])
    assert out.exit_code == 0, out.output
    run = json.loads((Path(out.stdout.strip().splitlines()[-1]) / "run.json").read_text())
    resolved = run["resolved"]
    assert resolved["overrides"] == SETS
    assert resolved["atlas"]["max_tokens"] == 2000 and resolved["map"]["thresholds"] == [0.3]
    assert [s["hook_name"] for s in resolved["sources"]["gpt2"]["saes"]] == [
        "blocks.1.hook_attn_out", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"]
    assert run["spec"]["text"] == DEMO.read_text()  # the file as written; the overrides are beside it
    plain = CliRunner().invoke(app, [*args[:-1], "b"])
    assert plain.exit_code == 0, plain.output
    assert "overrides" not in json.loads((Path(plain.stdout.strip().splitlines()[-1]) / "run.json").read_text())[
        "resolved"]


@pytest.mark.parametrize(("override", "located"), [
    ("atlas.max_tokns=2000", "--set atlas.max_tokns=2000:1:1: error: unknown atlas key 'max_tokns'"),
    ("atlas.max_tokens=lots", "--set atlas.max_tokens=lots:1:18: error: input should be a valid integer"),
    ("map.thresholds=[0.4, 1.5]", "--set map.thresholds=[0.4, 1.5]:1:16: error: input should be less than or equal"),
    ("sources.gpt2.saes[3].hooks=L1.resid_post", "--set sources.gpt2.saes[3].hooks=L1.resid_post:1:1: error: "
                                                 "sources.gpt2.saes[3] does not exist"),
])
def test_run_with_a_bad_override_is_a_located_error(override, located, fake_zoo, tmp_path, monkeypatch, capsys):
    import sys

    from interf_dsl.cli import main

    monkeypatch.setenv("INTERF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["interf", "run", str(DEMO), "--reports", str(tmp_path / "reports"),
                                      "--set", "stats.bootstrap=500", "--set", override])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith(located), err
    assert f"     1 | {override}" in err and "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "reports").exists()  # refused before anything ran
