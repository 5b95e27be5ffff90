"""The run engine end to end on test-only step kinds: caching, resume after kill -9, force, refusals, run.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from engine_kinds import make_plan
from polars.testing import assert_frame_equal

from interf_dsl.errors import ExecuteError
from interf_dsl.execute.cache import CacheWarning
from interf_dsl.plan.ir import Plan, Step, seal_steps

CHILD = Path(__file__).parent / "engine_child.py"


def test_second_run_does_no_work_and_loads_no_model(run_plan):
    first, loads = run_plan(make_plan(model=True, api_requests=5), run_id="one")
    assert first.counters["forward_passes"] == 9 and first.counters["api_requests"] == 5
    assert first.api == {"tgt": {"requests": 5, "tokens": 0, "cost_usd": 0.0}}
    assert loads == ["zoo:gpt2-tiny"] and first.models_loaded == ("model:m",)
    second, loads = run_plan(make_plan(model=True, api_requests=5), run_id="two")
    assert second.cache_hits == 5 and all(s.cache_hit for s in second.steps)
    assert second.counters["forward_passes"] == 0 and second.counters["api_requests"] == 0
    assert loads == ["zoo:gpt2-tiny"] and second.models_loaded == ()  # no second load
    assert second.steps[1].computed_counters["forward_passes"] == 6  # what the cached result cost
    for name in ("counts", "sums", "effects", "interventions"):
        assert_frame_equal(pl.read_parquet(Path(first.run_dir) / "tables" / f"{name}.parquet"),
                           pl.read_parquet(Path(second.run_dir) / "tables" / f"{name}.parquet"))


def test_statistics_change_reaggregates_raw_units_without_recomputing(run_plan, tmp_path):
    first, _ = run_plan(make_plan(stats={"bootstrap": 500}), run_id="a")
    assert first.counters["forward_passes"] == 9
    second, _ = run_plan(make_plan(stats={"bootstrap": 1000}), run_id="b")
    recomputed = {s.id for s in second.steps if not s.cache_hit}
    assert recomputed == {"count:a", "sum"}  # its hash covers stats; the sum reads it
    assert second.counters["forward_passes"] == 0  # every unit came from the data-keyed checkpoints
    # same raw rows, same random draws (seeded by the data hash, not by the statistics)
    assert_frame_equal(pl.read_parquet(Path(first.run_dir) / "tables" / "counts.parquet"),
                       pl.read_parquet(Path(second.run_dir) / "tables" / "counts.parquet"))
    forced, _ = run_plan(make_plan(stats={"bootstrap": 1000}), run_id="c", force=["count:a"])
    assert forced.counters["forward_passes"] == 6  # --force drops the raw units too


def test_unit_checkpoints_of_a_step_without_statistics_are_removed_once_committed(run_plan, tmp_path):
    run_plan(make_plan(stats={"bootstrap": 500}), run_id="a")
    plan = make_plan(stats={"bootstrap": 500})
    kept = {p.name.split(".")[0] for p in (tmp_path / "cache" / "work").iterdir()}
    assert kept == {plan.step("count:a").data_hash}  # count:b has no statistics: its units went with the commit


def test_tables_are_merged_across_steps_with_a_step_column(run_plan):
    rec, _ = run_plan(make_plan(n=4), run_id="r")
    counts = pl.read_parquet(Path(rec.run_dir) / "tables" / "counts.parquet")
    assert counts.columns[:2] == ["step", "unit"]
    assert counts.group_by("step").len().sort("step").rows() == [("count:a", 4), ("count:b", 3)]
    sums = pl.read_parquet(Path(rec.run_dir) / "tables" / "sums.parquet")
    assert sums["total"].to_list() == [0 + 1 + 2 + 3 + 0 + 10 + 20]


def test_force_recomputes_the_step_and_everything_downstream(run_plan):
    run_plan(make_plan(), run_id="a")
    rec, _ = run_plan(make_plan(), run_id="b", force=["count:b"])
    computed = {s.id for s in rec.steps if not s.cache_hit}
    assert computed == {"count:b", "sum"} and rec.counters["forward_passes"] == 3
    rec, _ = run_plan(make_plan(), run_id="c", force=["count:*"])
    assert {s.id for s in rec.steps if not s.cache_hit} == {"count:a", "count:b", "sum"}
    with pytest.raises(ExecuteError, match="matches no step"):
        run_plan(make_plan(), run_id="d", force=["nope"])


def test_truncated_cache_parquet_is_recomputed_with_a_warning(run_plan, tmp_path):
    first, _ = run_plan(make_plan(), run_id="a")
    h = next(s.hash for s in first.steps if s.id == "count:a")
    parquet = tmp_path / "cache" / "steps" / f"{h}.s0" / "tables" / "counts.parquet"  # drew from ctx.rng
    parquet.write_bytes(parquet.read_bytes()[:20])
    with pytest.warns(CacheWarning, match="count:a"):
        rec, _ = run_plan(make_plan(), run_id="b")
    assert [s.id for s in rec.steps if not s.cache_hit] == ["count:a"]
    assert rec.counters["forward_passes"] == 6
    assert_frame_equal(pl.read_parquet(Path(first.run_dir) / "tables" / "counts.parquet"),
                       pl.read_parquet(Path(rec.run_dir) / "tables" / "counts.parquet"))


def test_runner_crash_keeps_finished_units(run_plan, tmp_path, monkeypatch):
    log = tmp_path / "log.txt"
    monkeypatch.setenv("ENGINE_TEST_LOG", str(log))
    monkeypatch.setenv("ENGINE_TEST_CRASH_AT", "4")
    with pytest.raises(RuntimeError, match="crash at unit 4"):
        run_plan(make_plan(), run_id="a")
    run = json.loads((tmp_path / "reports" / "demo" / "a" / "run.json").read_text())
    assert run["status"] == "failed" and "crash at unit 4" in run["error"]
    monkeypatch.delenv("ENGINE_TEST_CRASH_AT")
    log.write_text("")
    rec, _ = run_plan(make_plan(), run_id="b")
    assert log.read_text().split("\n")[0] == "start count:a 4"  # units 0-3 were not redone
    assert next(s for s in rec.steps if s.id == "count:a").counters["forward_passes"] == 2


def _wait_for(predicate, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _units(log: Path, tag: str, step: str = "count:a") -> set[int]:
    lines = [line.split() for line in log.read_text().splitlines()]
    return {int(k) for t, s, k in lines if t == tag and s == step}


def test_kill_9_then_rerun_resumes_without_repeating_units(run_plan, tmp_path, monkeypatch):
    log = tmp_path / "log.txt"
    env = {**os.environ, "ENGINE_TEST_LOG": str(log), "ENGINE_TEST_SLEEP": "0.15"}
    args = [sys.executable, str(CHILD), str(tmp_path / "reports"), str(tmp_path / "cache"), "killed", "12"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: log.exists() and log.read_text().count("done") >= 3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = _units(log, "done")
    assert 3 <= len(done_before) < 12
    monkeypatch.setenv("ENGINE_TEST_LOG", str(log))
    log.write_text("")
    rec, _ = run_plan(make_plan(12), run_id="resumed")
    started_after = _units(log, "start")
    assert len(started_after) == 12 - len(done_before)  # each remaining unit once (the one in flight redone)
    assert not started_after & done_before  # no finished unit repeated
    assert sorted(done_before | started_after) == list(range(12))
    fresh, _ = run_plan(make_plan(12), run_id="fresh", cache_dir=tmp_path / "cache2")
    for name in ("counts", "sums"):
        assert_frame_equal(pl.read_parquet(Path(rec.run_dir) / "tables" / f"{name}.parquet"),
                           pl.read_parquet(Path(fresh.run_dir) / "tables" / f"{name}.parquet"))


def test_two_runs_sharing_a_cache_compute_each_step_once(tmp_path):
    log = tmp_path / "log.txt"
    env = {**os.environ, "ENGINE_TEST_LOG": str(log), "ENGINE_TEST_SLEEP": "0.05"}
    procs = [subprocess.Popen([sys.executable, str(CHILD), str(tmp_path / "reports"), str(tmp_path / "cache"),
                               f"run{i}", "8"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert log.read_text().count("done") == 8 + 3  # count:a and count:b once, not twice
    tables = [pl.read_parquet(tmp_path / "reports" / "demo" / f"run{i}" / "tables" / "counts.parquet")
              for i in range(2)]
    assert_frame_equal(*tables)


@pytest.mark.parametrize(("experiment", "run_id"), [("../evil", "r"), ("demo", "../../x"), ("demo", "a/b"),
                                                   ("demo", ".."), ("", "r")])
def test_run_directory_escape_is_refused(run_plan, experiment, run_id):
    plan = make_plan().model_copy(update={"experiment": experiment})
    with pytest.raises(ExecuteError, match="refused"):
        run_plan(plan, run_id=run_id)


def test_existing_run_directory_is_refused(run_plan):
    run_plan(make_plan(), run_id="same")
    with pytest.raises(ExecuteError, match="already exists"):
        run_plan(make_plan(), run_id="same")


def test_unknown_step_kind_is_an_execute_error(run_plan):
    plan = Plan(experiment="demo", preset="paper", seed=0, spec_sha256="0",
                steps=seal_steps([Step(id="x", kind="no_such_kind")], "t"))
    with pytest.raises(ExecuteError, match="no runner is registered"):
        run_plan(plan, run_id="r")


def test_rng_is_seeded_from_plan_seed_and_reruns_on_a_new_seed(run_plan):
    a, _ = run_plan(make_plan(seed=1), run_id="a")
    b, _ = run_plan(make_plan(seed=1), run_id="b")
    c, _ = run_plan(make_plan(seed=2), run_id="c")
    noise = {r.run_id: pl.read_parquet(Path(r.run_dir) / "tables" / "counts.parquet")["noise"] for r in (a, b, c)}
    assert noise["a"].to_list() == noise["b"].to_list() and noise["a"].to_list() != noise["c"].to_list()
    assert {s.id for s in c.steps if not s.cache_hit} == {"count:a", "count:b", "sum", "intervene:feature:m"}
    assert next(s for s in c.steps if s.id == "model:m").cache_hit  # seed-free results serve every seed
    d, _ = run_plan(make_plan(seed=1), run_id="d")  # back to seed 1: its results were kept
    assert d.cache_hits == len(d.steps) and d.counters["forward_passes"] == 0


def test_run_json_records_provenance_and_never_a_key(run_plan, tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TARGET_KEY", "supersecretvalue123")
    steps = [Step(id="transfer:t", kind="test_sum",
                  params={"target": {"name": "t", "api_key_env": "MY_TARGET_KEY",
                                     "note": "supersecretvalue123", "headers": {"X": "y"},
                                     "other": "sk-abcdefghijklmnopqrstuvwx"}})]
    plan = Plan(experiment="demo", preset="rigorous", seed=5, spec_sha256="0", steps=seal_steps(steps, "t"))
    rec, _ = run_plan(plan, run_id="r")
    text = (Path(rec.run_dir) / "run.json").read_text()
    assert "supersecretvalue123" not in text and "sk-abcdefghij" not in text and '"y"' not in text
    assert "MY_TARGET_KEY" in text  # the variable's name is fine, its value is not
    run = json.loads(text)
    assert run["schema_version"] == 3 and run["seeds"] == {"plan": 5, "preset": "rigorous"}
    assert {"python", "torch", "transformer_lens", "sae_lens", "litellm", "polars", "interf"} <= set(run["versions"])
    assert run["git"] == {"commit": None, "dirty": None, "note": "not a git checkout"}  # the spec's tmp folder
    assert run["spec"]["text"].startswith("experiment")
    assert run["plan"]["steps"][0]["cache_hit"] is False and run["plan"]["steps"][0]["hash"] == plan.steps[0].hash
    assert run["record"]["steps"][0]["seconds"] >= 0


def test_quiet_progress_prints_lines(run_plan, capsys):
    run_plan(make_plan(n=4), run_id="r", quiet=True)
    err = capsys.readouterr().err
    assert "count:a: 4/4" in err and "[2/5] count:a: computing" in err and "eta" in err


def test_rich_progress_shows_count_rate_and_eta():
    import io

    from interf_dsl.execute.progress import RunProgress

    out = io.StringIO()
    with RunProgress(quiet=False, out=out) as progress:
        task = progress.task(3, "map:gpt2/L1")
        for _ in range(3):
            task.advance()
        progress.log("a log line")
    text = out.getvalue()
    assert "map:gpt2/L1" in text and "3/3" in text and "/s" in text and "a log line" in text


def test_line_progress_reports_rate_and_eta():
    import io

    from interf_dsl.execute.progress import LineTask

    out = io.StringIO()
    task = LineTask(out, 8, "units")
    for _ in range(8):
        task.advance()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("  units: 8/8 (") and "eta 0s" in lines[-1]


def test_unimportable_runner_module_is_an_execute_error(run_plan, monkeypatch):
    from interf_dsl import steps

    monkeypatch.setitem(steps.RUNNER_MODULES, "ghost_kind", "interf_dsl.no_such_module")
    plan = Plan(experiment="demo", preset="paper", seed=0, spec_sha256="0",
                steps=seal_steps([Step(id="g", kind="ghost_kind")], "t"))
    with pytest.raises(ExecuteError, match="cannot be imported from interf_dsl.no_such_module"):
        run_plan(plan, run_id="r")


def test_fully_cached_rerun_reads_no_step_table(run_plan, monkeypatch):
    first, _ = run_plan(make_plan(), run_id="a")
    from interf_dsl.execute.cache import CacheEntry

    def forbidden(self):
        raise AssertionError(f"step result of {self.record['step_id']} read on a fully cached rerun")

    monkeypatch.setattr(CacheEntry, "result", forbidden)
    second, _ = run_plan(make_plan(), run_id="b")
    for name in ("counts", "sums", "effects", "interventions"):
        assert (Path(first.run_dir) / "tables" / f"{name}.parquet").read_bytes() == \
            (Path(second.run_dir) / "tables" / f"{name}.parquet").read_bytes()
    assert (Path(second.run_dir) / "figures" / "intervene_feature_m__effects.png").exists()


def test_damaged_merged_table_is_rebuilt_with_a_warning(run_plan, tmp_path):
    first, _ = run_plan(make_plan(), run_id="a")
    counts = pl.read_parquet(Path(first.run_dir) / "tables" / "counts.parquet")
    for side in (tmp_path / "cache" / "tables").glob("*.parquet"):
        data = side.read_bytes()
        side.chmod(0o644)  # stored files are read-only (run directories link them)
        side.write_bytes(data[:-10])  # damage in place: run a's linked table is damaged with it
    with pytest.warns(CacheWarning, match="merged-table"):
        second, _ = run_plan(make_plan(), run_id="b")
    assert_frame_equal(counts, pl.read_parquet(Path(second.run_dir) / "tables" / "counts.parquet"))


def test_plan_status_says_what_a_run_would_redo(run_plan, tmp_path):
    from interf_dsl.execute.cache import step_status
    from interf_dsl.plan.render import render_tree

    first = make_plan(stats={"bootstrap": 500})
    assert {step_status(tmp_path / "cache", s, 0) for s in first.steps} == {"compute"}
    run_plan(first, run_id="a")
    assert {s.id: step_status(tmp_path / "cache", s, 0) for s in first.steps} == dict.fromkeys(
        ("model:m", "count:a", "count:b", "sum", "intervene:feature:m"), "cached")
    changed = make_plan(stats={"bootstrap": 1000})
    status = {s.id: step_status(tmp_path / "cache", s, 0) for s in changed.steps}
    assert status["count:a"] == "re-aggregate" and status["sum"] == "compute" and status["count:b"] == "cached"
    text = render_tree(changed, status)
    assert "count:a  [test_count]  (re-aggregate)" in text and "1 re-aggregated from kept raw units" in text
