"""`execute.device` (auto|cpu|cuda) and `interf run --device`: execution only (no hash moves), resolved and recorded
in run.json, the weights placed there by the default loaders, and `cuda` where torch sees none refused at validate
(located, with a hint), at `interf run --device` and by the engine before anything is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from interf_dsl.cli import app, main
from interf_dsl.errors import ExecuteError, ResolveError, render_error
from interf_dsl.lang.sections import Execute
from interf_dsl.parse import load_spec_text
from interf_dsl.plan import compile_plan
from interf_dsl.resolve import resolve_spec

ROOT = Path(__file__).resolve().parents[3]
DEMO = (ROOT / "specs/demo.yaml").read_text(encoding="utf-8")


@pytest.fixture
def cuda(monkeypatch):
    """Set whether torch sees a CUDA device."""
    import torch

    def set_to(available: bool) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
        if available:  # a device with 8 GiB free: `auto` budgets a quarter of it
            monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 * 2**30, 80 * 2**30))

    return set_to


def _resolve(text: str):
    return resolve_spec(load_spec_text(text, str(ROOT / "specs" / "x.yaml")))


def test_device_and_budget_move_no_hash(fake_zoo, cuda) -> None:
    cuda(True)
    base = compile_plan(_resolve(DEMO))
    resolved = _resolve(DEMO + "execute: {device: cuda, memory_budget_mb: 64}\n")
    assert resolved.execute == Execute(device="cuda", memory_budget_mb=64)
    other = compile_plan(resolved)
    assert [(s.id, s.hash, s.data_hash) for s in other.steps] == [(s.id, s.hash, s.data_hash) for s in base.steps]
    assert not any("device" in s.params or "memory_budget_mb" in str(s.params.get("execute", "")) for s in other.steps)


def test_cuda_without_cuda_is_refused_at_validate_located_with_a_hint(fake_zoo, cuda, tmp_path, monkeypatch,
                                                                       capsys) -> None:
    cuda(False)
    with pytest.raises(ResolveError) as err:
        _resolve(DEMO + "execute: {device: cuda}\n")
    text = render_error(err.value)
    assert "x.yaml:78:" in text and "execute.device" in text and "no CUDA device" in text
    assert "hint:" in text and "execute.device: auto" in text
    spec = tmp_path / "cuda.yaml"
    spec.write_text(DEMO + "execute: {device: cuda}\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["interf", "validate", str(spec)])
    with pytest.raises(SystemExit) as done:
        main()  # the console entry point: renders the error, exits 2
    err_text = capsys.readouterr().err
    assert done.value.code == 2 and "cuda.yaml:78:" in err_text and "hint:" in err_text
    assert "Traceback" not in err_text
    cuda(True)
    assert _resolve(DEMO + "execute: {device: cuda}\n").execute.device == "cuda"  # the same spec, a CUDA machine


def test_a_bad_device_is_a_located_error() -> None:
    from interf_dsl.errors import SpecError

    with pytest.raises(SpecError) as err:
        load_spec_text(DEMO + "execute: {device: tpu}\n", "x.yaml")
    assert "x.yaml:78:" in render_error(err.value) and "auto, cpu, cuda" in render_error(err.value)


@pytest.mark.parametrize(("args", "needle"), [(["--device", "tpu"], "auto, cpu, cuda"),
                                              (["--device", "cuda"], "no CUDA device")])
def test_cli_refuses_a_device_run_would_refuse(tmp_path: Path, fake_zoo, cuda, args, needle) -> None:
    cuda(False)
    spec = tmp_path / "demo.yaml"
    spec.write_text(DEMO, encoding="utf-8")
    out = CliRunner().invoke(app, ["run", str(spec), "--reports", str(tmp_path / "r"), *args])
    assert out.exit_code == 2 and needle in out.output
    assert not (tmp_path / "r").exists()


def test_engine_refuses_cuda_without_cuda_before_writing(run_plan, tmp_path, cuda) -> None:
    from engine_kinds import make_plan

    cuda(False)
    with pytest.raises(ExecuteError) as err:
        run_plan(make_plan(n=2, model=True), run_id="a", execution=Execute(device="cuda"))
    assert "no CUDA device" in render_error(err.value) and "hint:" in render_error(err.value)
    assert not (tmp_path / "reports").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(("setting", "has_cuda", "used"), [("auto", False, "cpu"), ("auto", True, "cuda"),
                                                           ("cpu", True, "cpu")])
def test_run_json_records_the_device_used(run_plan, tmp_path, cuda, setting, has_cuda, used) -> None:
    from engine_kinds import make_plan

    cuda(has_cuda)
    rec, _ = run_plan(make_plan(n=2, model=True), run_id="a", execution=Execute(device=setting))
    run = json.loads((Path(rec.run_dir) / "run.json").read_text())
    ex = run["record"]["execution"]
    assert (ex["device"], ex["device_setting"], ex["executor"]) == (used, setting, "local")
    assert ex["memory_budget_mb"] == Execute().memory_budget_mb == "auto"
    assert ex["memory_budget_mb_used"] == (2048 if used == "cuda" else 1024)


def test_an_explicit_sweep_budget_is_used_as_set(run_plan, cuda) -> None:
    from engine_kinds import make_plan

    cuda(True)
    rec, _ = run_plan(make_plan(n=2, model=True), run_id="a", execution=Execute(memory_budget_mb=300))
    ex = json.loads((Path(rec.run_dir) / "run.json").read_text())["record"]["execution"]
    assert (ex["memory_budget_mb"], ex["memory_budget_mb_used"]) == (300, 300)


def test_a_run_that_loads_no_weights_records_no_device(run_plan, cuda) -> None:
    from engine_kinds import make_plan

    cuda(False)
    rec, loads = run_plan(make_plan(n=2), run_id="a", execution=Execute(device="auto"))
    assert loads == [] and rec.execution["device"] is None


def test_device_cpu_gives_the_same_tables_and_hashes_as_auto(run_plan, tmp_path, cuda) -> None:
    from engine_kinds import make_plan

    cuda(False)
    a, _ = run_plan(make_plan(n=3, model=True), run_id="a", execution=Execute(device="auto"),
                    cache_dir=tmp_path / "c1")
    b, _ = run_plan(make_plan(n=3, model=True), run_id="b", execution=Execute(device="cpu"),
                    cache_dir=tmp_path / "c2")
    assert [(s.id, s.cache_hit) for s in a.steps] == [(s.id, s.cache_hit) for s in b.steps]
    for name in ("counts", "sums", "effects"):
        ta = pl.read_parquet(Path(a.run_dir) / "tables" / f"{name}.parquet")
        tb = pl.read_parquet(Path(b.run_dir) / "tables" / f"{name}.parquet")
        assert ta.equals(tb), name


def test_default_loaders_place_weights_on_the_run_device(monkeypatch, cuda) -> None:
    from engine_kinds import make_plan

    from interf_dsl.execute import resources

    placed: list[tuple[str, str]] = []
    monkeypatch.setattr(resources, "load_model", lambda ref, device: placed.append((ref, device)) or object())
    cuda(True)
    res = resources.Resources(make_plan(n=1, model=True), device="auto")
    res.model("m")
    assert placed == [("zoo:gpt2-tiny", "cuda")] and res.resolved_device == "cuda"
    cuda(False)
    with pytest.raises(ExecuteError, match="no CUDA device"):
        resources.Resources(make_plan(n=1, model=True), device="cuda").model("m")


@pytest.mark.parametrize("value", ["0", "foo", "true", "-5"])
def test_a_bad_sweep_budget_is_one_located_error(value) -> None:
    from interf_dsl.errors import SpecError

    with pytest.raises(SpecError) as err:
        _resolve(DEMO + f"execute: {{memory_budget_mb: {value}}}\n")
    items = [i for i in err.value.items if "memory_budget_mb" in (i.key_path or "") or "memory_budget_mb" in i.message]
    assert len(items) == 1 and "a size in MB" in items[0].message and "`auto`" in items[0].message
    assert _resolve(DEMO + "execute: {memory_budget_mb: auto}\n").execute.memory_budget_mb == "auto"
