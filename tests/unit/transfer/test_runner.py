"""The `transfer` step runner end to end over HTTP: tables, meta, sampling fallback, clean stop, resume, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from helpers import make_ctx
from polars.testing import assert_frame_equal
from transfer_server import served

from interf_dsl.errors import BackendError
from interf_dsl.steps import get_runner
from interf_dsl.transfer.faults import FaultConfig

TABLES = ("transfer_trials", "transfer", "transfer_grid", "transfer_ratio")


def _target(base, **kw):
    return {"name": "tiny", "model": "openai/tiny", "api_base": base, "top_k": 10, "concurrency": 8,
            "backoff_s": 0.01, "timeout_s": 5, **kw}


def _same(a, b):
    for name in ("transfer_trials", "transfer", "transfer_ratio"):
        assert_frame_equal(a.tables[name], b.tables[name])


def test_transfer_step_tables_and_meta(tmp_path):
    run = get_runner("transfer")
    with served(threads=1) as base:
        ctx = make_ctx(tmp_path / "a", _target(base))
        res = run(ctx)
    trials, summary = res.tables["transfer_trials"], res.tables["transfer"]
    # 2 types x 4 sentences x 4 conditions x 3 trials
    assert trials.height == 2 * 4 * 4 * 3
    assert set(trials["estimator"]) == {"logprobs"} and set(trials["k"]) == {10}
    assert (trials["success"] == (trials["count"] > trials["baseline_count"])).all()
    assert summary.height == 8 and set(summary["condition"]) == {"target", "high", "medium", "random"}
    row = summary.filter((pl.col("type") == "location") & (pl.col("condition") == "high")).row(0, named=True)
    sub = trials.filter((pl.col("type") == "location") & (pl.col("condition") == "high"))
    assert row["success_rate"] == pytest.approx(sub["success"].mean())
    assert row["n_trials"] == 12 and row["n_sentences"] == 4 and row["ci_lo"] <= row["success_rate"] <= row["ci_hi"]
    assert res.meta["protocol"]["estimator"] == "logprobs" and res.meta["capabilities"]["completion"]
    assert res.meta["accounting"]["succeeded"] == 8 + trials.height + 6  # baselines + trials + probes (3 raw, 3 chat)
    grid = res.tables["transfer_grid"]
    assert set(grid["role"]) == {"source", "target"}
    assert all(m.startswith("fieller") for m in res.tables["transfer_ratio"]["method"].to_list())
    assert Path(res.files["transfer_grid"]).is_file()
    # rerun: everything from the unit store and the response cache, zero requests, identical tables
    port = int(base.rsplit(":", 1)[1].split("/")[0])
    with served(threads=1, port=port) as base2:
        res2 = run(make_ctx(tmp_path / "a", _target(base2)))
    assert res2.meta["accounting"]["requests"] == 0
    _same(res, res2)


def test_statistics_change_reaggregates_without_endpoint_key_or_requests(tmp_path, monkeypatch):
    """With every trial stored, a statistics-only rerun needs no server, no key and sends nothing."""
    run = get_runner("transfer")
    with served(threads=1) as base:
        first = run(make_ctx(tmp_path / "a", _target(base)))
    # the endpoint is gone and the key variable unset: only the stored trials are read
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    dead = _target("http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY")
    again = run(make_ctx(tmp_path / "a", dead, stats={"mode": "both", "bootstrap": 400, "ci": 0.9}))
    assert again.meta["reaggregated"] and again.meta["accounting"]["requests"] == 0
    assert again.meta["protocol"] == first.meta["protocol"] and again.meta["capabilities"] == first.meta["capabilities"]
    assert_frame_equal(first.tables["transfer_trials"], again.tables["transfer_trials"])  # same raw rows
    a, b = first.tables["transfer"], again.tables["transfer"]
    assert a["success_rate"].to_list() == b["success_rate"].to_list()  # same estimates ...
    assert a["ci_hi"].to_list() != b["ci_hi"].to_list()  # ... at the new interval level (90 %, not 95 %)
    # a step with no stored probe still checks its endpoint first (located, nothing sent)
    with pytest.raises(BackendError, match="NO_SUCH_KEY|unreachable"):
        run(make_ctx(tmp_path / "b", dead))


def test_sampling_estimator_when_no_logprobs(tmp_path):
    run = get_runner("transfer")
    with served(threads=1, faults=FaultConfig({"no_logprobs": 1.0})) as base:
        res = run(make_ctx(tmp_path, _target(base, max_retries=0, samples=4), trials=2, sentences=2))
    assert res.meta["protocol"]["estimator"] == "sampling" and res.meta["protocol"]["samples"] == 4
    for name in ("transfer_trials", "transfer", "transfer_ratio"):
        assert set(res.tables[name]["estimator"]) == {"sampling"}
    assert set(res.tables["transfer_trials"]["k"].to_list()) == {None}
    assert (res.tables["transfer_trials"]["count"] <= 4).all()


def test_stops_cleanly_keeping_finished_units_then_resumes(tmp_path):
    run = get_runner("transfer")
    with served(threads=1) as base:
        clean = run(make_ctx(tmp_path / "clean", _target(base)))
    with served(threads=1, faults=FaultConfig({"500": 0.03}, seed=5)) as base:
        with pytest.raises(BackendError, match="finished units are kept"):
            run(make_ctx(tmp_path / "x", _target(base, max_retries=0)))
    kept = make_ctx(tmp_path / "x", _target(base)).units("trials").keys()
    assert 0 < len(kept) < 8
    with served(threads=1) as base:
        resumed = run(make_ctx(tmp_path / "x", _target(base)))
    _same(clean, resumed)


def test_check_failure_is_a_list_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.delenv("INTERF_NOPE_KEY", raising=False)
    ctx = make_ctx(tmp_path, {"name": "g", "model": "together_ai/x", "api_key_env": "INTERF_NOPE_KEY"})
    with pytest.raises(BackendError) as e:
        get_runner("transfer")(ctx)
    assert "INTERF_NOPE_KEY" in str(e.value)


CHILD = Path(__file__).with_name("transfer_child.py")


@pytest.mark.slow  # three child processes importing torch + litellm: ~70 s on the shared 2-core box
@pytest.mark.timeout(300)
def test_sigkill_then_rerun_resumes_without_repeating(tmp_path):
    from transfer_server import tiny_model

    from interf_dsl.transfer.serve import ServerThread, create_app

    app = create_app(tiny_model(), name="tiny", threads=1, latency_ms=30)
    bodies: Counter = Counter()

    @app.middleware("http")
    async def count(request, call_next):
        bodies[await request.body()] += 1
        return await call_next(request)

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CHILD.parents[2]), str(CHILD.parent)])}
    with ServerThread(app) as server:
        work = tmp_path / "killed"
        cmd = [sys.executable, str(CHILD), str(work), server.api_base]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        units = work / "units" / "trials"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(units.glob("*.json"))) < 2:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done_before = len(list(units.glob("*.json")))
        assert 0 < done_before < 8
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, timeout=240)
        repeated = [n for n in bodies.values() if n > 1]
        # only requests in flight at the kill (at most `concurrency`) may be sent twice
        assert len(repeated) <= 8
        clean = tmp_path / "clean"
        subprocess.run([sys.executable, str(CHILD), str(clean), server.api_base], env=env, check=True,
                       stdout=subprocess.DEVNULL, timeout=240)
    for name in ("transfer_trials", "transfer"):
        assert_frame_equal(pl.read_parquet(work / f"{name}.parquet"), pl.read_parquet(clean / f"{name}.parquet"))
    assert json.loads((work / "meta.json").read_text())["accounting"]["cache_hits"] > 0


def test_api_key_value_never_reaches_run_dir_logs_or_cache(tmp_path, monkeypatch):
    secret = "sk-FAKE-transfer-key-0042"
    monkeypatch.setenv("INTERF_FAKE_KEY", secret)
    with served(threads=1, faults=FaultConfig({"500": 0.2}, seed=2)) as base:
        ctx = make_ctx(tmp_path, _target(base, api_key_env="INTERF_FAKE_KEY", max_retries=10), trials=2,
                       sentences=2)
        res = get_runner("transfer")(ctx)
    assert res.meta["accounting"]["retries"] > 0
    text = json.dumps(res.meta, default=str) + "\n".join(ctx.logs)
    assert secret not in text and "INTERF_FAKE_KEY" in text  # the variable's name is recorded, never its value
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
