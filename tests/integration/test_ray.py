"""The Ray executor on a local 2-CPU Ray cluster (one per module): a reduced zoo study (one source, two hooks, the
feature focus) gives the local run's tables; a worker SIGKILLed mid-step is retried and the run still gives them;
a rerun on the same cache submits nothing."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

pytestmark = pytest.mark.integration
ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]
ZOO = ROOT / "interf_dsl" / "zoo" / "artifacts" / "zoo.json"

SPEC = {
    "experiment": {"name": "raysmall", "seed": 0, "preset": "paper"},
    "sources": {"gpt2": {"model": "zoo:gpt2-tiny", "saes": [{"hooks": "L1.{mlp_out,resid_post}", "sae": "zoo"}]}},
    "atlas": {"max_tokens": 4000, "context": 32, "top_contexts": 5},
    "map": {"bins": "[0,.1) [.1,.2) [.2,1]", "thresholds": [0.4], "targets_per_layer": 1, "partners_per_bin": 1},
    "interventions": [{"focus": "feature", "scales": "{2}"}],
    "prompts": {"per_token": 1, "per_type": 2},
    "stats": {"bootstrap": 200},
    "report": {"formats": ["md"], "figures": False},
    "execute": {"executor": "ray", "max_width": 2},
}


@pytest.fixture(scope="module")
def cluster():
    if not ZOO.exists():
        pytest.skip("the tiny zoo is not built")
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=True,
             runtime_env={"env_vars": {"PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def study(tmp_path_factory, cluster):
    """The spec, its plan, and the local run's directory (the reference)."""
    from interf_dsl.parse import load_spec
    from interf_dsl.plan import compile_plan
    from interf_dsl.resolve import resolve_spec

    d = tmp_path_factory.mktemp("raystudy")
    spec = d / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC, sort_keys=False), encoding="utf-8")
    resolved = resolve_spec(load_spec(spec))
    plan = compile_plan(resolved)
    study = {"dir": d, "spec": spec, "resolved": resolved, "plan": plan}
    local = _run(study, d / "local-cache", "local", execution=None)
    return {**study, "local": local}


def _run(study, cache: Path, run_id: str, **kw):
    from interf_dsl.pipeline import run_plan

    spec = study["spec"]
    kw.setdefault("execution", study["resolved"].execute)
    record = run_plan(study["plan"], spec_path=spec, spec_text=spec.read_text(encoding="utf-8"),
                      resolved_json=study["resolved"].model_dump_json(), reports_root=study["dir"] / "reports",
                      cache_dir=cache, quiet=True, run_id=run_id, **kw)
    assert record.status == "ok", record.error
    return record


def _same_tables(a: Path, b: Path) -> None:
    from interf_dsl.report.diff import diff_reports

    tables = sorted(p.name for p in (a / "tables").glob("*.parquet"))
    assert tables and tables == sorted(p.name for p in (b / "tables").glob("*.parquet"))
    for name in tables:
        assert_frame_equal(pl.read_parquet(a / "tables" / name), pl.read_parquet(b / "tables" / name))
    assert not diff_reports(a, b, n_boot=200).differs


def test_ray_run_gives_the_local_tables_and_reruns_from_cache(study, capfd) -> None:
    cache = study["dir"] / "ray-cache"
    record = _run(study, cache, "ray")
    err = capfd.readouterr().err
    assert "intervene:feature:gpt2: computing on ray, units fanned out to 2 tasks" in err
    pids = {int(line.rsplit("on pid ", 1)[1].split()[0]) for line in err.splitlines() if ": done in " in line
            and " on pid " in line}
    assert pids and os.getpid() not in pids  # computed in Ray workers, not in the driver
    assert record.counters["forward_passes"] == study["local"].counters["forward_passes"] > 0
    assert [s.id for s in record.steps] == [s.id for s in study["plan"].steps]  # recorded in plan order
    _same_tables(Path(study["local"].run_dir), Path(record.run_dir))
    rerun = _run(study, cache, "ray-rerun")
    assert all(s.cache_hit for s in rerun.steps) and rerun.counters["forward_passes"] == 0
    assert "computing on ray" not in capfd.readouterr().err


def test_a_worker_killed_mid_step_is_retried_and_the_tables_match(study, capfd) -> None:
    from tests.ray_helpers import stall_once_loader

    marker = study["dir"] / "stall.pid"
    killed: list[int] = []

    def kill_when_stalled() -> None:
        deadline = time.monotonic() + 240
        while not Path(f"{marker}.ready").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_when_stalled, daemon=True)
    killer.start()
    record = _run(study, study["dir"] / "kill-cache", "killed",
                  model_loader=functools.partial(stall_once_loader, marker=str(marker)))
    killer.join(timeout=5)
    err = capfd.readouterr().err
    assert killed and killed[0] != os.getpid()
    assert "worker died (WorkerCrashedError); submitting again (retry 1/2" in err
    assert "1 task(s) submitted again after their worker died" in err
    _same_tables(Path(study["local"].run_dir), Path(record.run_dir))
