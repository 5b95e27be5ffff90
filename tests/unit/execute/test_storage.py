"""Early, located I/O errors: the reports and cache folders are checked writable before any step computes; the run
directory is written to a hidden sibling and renamed into place, so a full disk leaves none half-written and the
cache consistent; a run id is claimed atomically, so two runs given the same `--run-id` cannot both write it.

The tests run as root too (chmod does not stop root): an unwritable folder is a path whose parent is a file, and a
full disk is `os.replace` raising ENOSPC; the chmod variant runs only where chmod takes effect.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from engine_kinds import make_plan
from pydantic import BaseModel

import interf_dsl.parse
import interf_dsl.plan
import interf_dsl.resolve
from interf_dsl.errors import ExecuteError, StorageError, render_error
from interf_dsl.lang.sections import Execute
from interf_dsl.plan.ir import Plan, Step, seal_steps
from interf_dsl.report import build_report
from interf_dsl.steps import STEP_RUNNERS, step_runner

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _full_disk(ctx):
    raise OSError(errno.ENOSPC, "No space left on device", str(ctx.work_dir / "big.bin"))


if "test_full_disk" not in STEP_RUNNERS:
    step_runner("test_full_disk")(_full_disk)


def _blocker(tmp_path: Path) -> Path:
    """A file where a folder is expected: nothing can be created below it, whoever runs the test."""
    path = tmp_path / "blocker"
    path.write_text("a file, not a folder")
    return path


def _started(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith("start")] if log.exists() else []


def test_unwritable_reports_folder_is_refused_before_computing(run_plan, tmp_path, monkeypatch):
    log = tmp_path / "engine.log"
    monkeypatch.setenv("ENGINE_TEST_LOG", str(log))
    blocker = _blocker(tmp_path)
    with pytest.raises(StorageError) as err:
        run_plan(make_plan(), run_id="r", reports_root=blocker / "reports")
    text = render_error(err.value)
    assert f"error: cannot write the reports folder {blocker}/reports/demo" in text
    assert "hint: a part of the path is a file, not a folder; pass --reports to a writable folder" in text
    assert _started(log) == [] and not any((tmp_path / "cache" / "steps").iterdir())


def test_unwritable_cache_is_refused_before_computing(run_plan, tmp_path, monkeypatch):
    log = tmp_path / "engine.log"
    monkeypatch.setenv("ENGINE_TEST_LOG", str(log))
    blocker = _blocker(tmp_path)
    with pytest.raises(StorageError, match=f"cannot write the step cache {blocker}/cache") as err:
        run_plan(make_plan(), run_id="r", cache_dir=blocker / "cache")
    assert "INTERF_CACHE" in render_error(err.value)
    # an existing cache that refuses writes (a read-only mount; emulated, as chmod does not stop root)
    cache = tmp_path / "cache"
    run_plan(make_plan(n=2), run_id="first")
    real = __import__("tempfile").mkstemp

    def refuse(*a, dir=None, **kw):  # noqa: A002 - mkstemp's own keyword
        if dir is not None and Path(dir).is_relative_to(cache):
            raise PermissionError(errno.EROFS, "Read-only file system", str(dir))
        return real(*a, dir=dir, **kw)

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    n_started = len(_started(log))
    with pytest.raises(StorageError) as err:
        run_plan(make_plan(n=3), run_id="second")
    assert f"cannot write the step cache folder {cache}/steps" in str(err.value)
    assert "the file system is read-only" in render_error(err.value)
    assert len(_started(log)) == n_started and not (tmp_path / "reports" / "demo" / "second").exists()


@pytest.mark.skipif(ROOT or sys.platform == "win32", reason="chmod does not stop root (see the other tests)")
def test_read_only_folders_by_chmod(run_plan, tmp_path):
    reports = tmp_path / "ro-reports"
    reports.mkdir()
    reports.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="cannot write the reports folder"):
            run_plan(make_plan(), run_id="r", reports_root=reports)
    finally:
        reports.chmod(0o700)
    cache = tmp_path / "ro-cache"
    run_plan(make_plan(n=2), run_id="first", cache_dir=cache)
    for sub in [cache, *cache.iterdir()]:
        sub.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="cannot write the step cache folder"):
            run_plan(make_plan(n=3), run_id="second", cache_dir=cache)
    finally:
        for sub in [cache, *cache.iterdir()]:
            sub.chmod(0o700)


class _Resolved(BaseModel):
    preset: str = "paper"
    execute: Execute = Execute()


def test_cli_exit_code_and_message(tmp_path, monkeypatch, capsys):
    """`interf run` renders the error (no 'internal error', no traceback) and exits 1 like other run-time errors."""
    from interf_dsl.cli import main

    monkeypatch.setattr(interf_dsl.parse, "load_spec", lambda path: {"path": str(path)})
    monkeypatch.setattr(interf_dsl.resolve, "resolve_spec", lambda spec: _Resolved())
    monkeypatch.setattr(interf_dsl.plan, "compile_plan", lambda resolved: make_plan(n=2))
    monkeypatch.setenv("INTERF_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "demo.yaml"
    spec.write_text("experiment: {name: demo}\n")
    blocker = _blocker(tmp_path)
    monkeypatch.setattr(sys, "argv", ["interf", "run", str(spec), "--reports", str(blocker), "-q"])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.startswith(f"error: cannot write the reports folder {blocker}/demo")
    assert "internal error" not in err and "Traceback" not in err


def _enospc_when(monkeypatch, under: Path) -> None:
    """`os.replace` into `under` fails as on a full disk (every atomic write ends with one)."""
    real = os.replace

    def replace(src, dst, *a, **kw):
        if Path(dst).is_relative_to(under):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)


def test_full_disk_writing_the_run_directory_leaves_none_and_a_consistent_cache(run_plan, tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    with monkeypatch.context() as m:
        _enospc_when(m, reports)
        with pytest.raises(StorageError) as err:
            run_plan(make_plan(n=3), run_id="r")
    text = render_error(err.value)
    assert f"cannot write the run directory {reports}/demo/r: No space left on device ({reports}/demo/.r.partial/"\
        in text
    assert "the disk is full" in text and "rerun the same command" in text
    assert list((reports / "demo").iterdir()) == []  # neither a run directory nor its partial sibling
    cache = tmp_path / "cache"
    assert len(list((cache / "steps").iterdir())) == 5 and not any((cache / "tmp").iterdir())
    rec, _ = run_plan(make_plan(n=3), run_id="r")  # same run id: free again; every step from the cache
    assert rec.cache_hits == 5 and rec.counters["forward_passes"] == 0
    run_dir = reports / "demo" / "r"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "ok"
    assert [p.name for p in build_report(run_dir)] == ["report.md", "report.html"]  # `interf report` accepts it


def test_full_disk_committing_a_step_names_the_cache_and_leaves_no_half_entry(run_plan, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    with monkeypatch.context() as m:
        _enospc_when(m, cache / "steps")
        with pytest.raises(StorageError) as err:
            run_plan(make_plan(n=3), run_id="r")
    assert f"cannot write the step cache {cache}: No space left on device ({cache}/steps/" in str(err.value)
    assert "the cache stays consistent" in render_error(err.value)
    assert not any((cache / "steps").iterdir()) and not any((cache / "tmp").iterdir())
    failed = json.loads((tmp_path / "reports" / "demo" / "r" / "run.json").read_text())
    assert failed["status"] == "failed" and "No space left" in failed["error"]
    rec, _ = run_plan(make_plan(n=3), run_id="r2")
    assert rec.status == "ok" and rec.cache_hits == 0
    units = pl.read_parquet(Path(rec.run_dir) / "tables" / "counts.parquet")
    assert units.height == 3 + 3  # count:a (n=3) and count:b (n=3)


def test_full_disk_inside_a_step_is_a_located_storage_error(run_plan, tmp_path):
    steps = seal_steps([Step(id="big", kind="test_full_disk", params={})], "test")
    plan = Plan(experiment="demo", preset="paper", seed=0, spec_sha256="0" * 64, steps=steps)
    with pytest.raises(StorageError) as err:
        run_plan(plan, run_id="r")
    assert "cannot write the files of step big under" in str(err.value) and "big.bin" in str(err.value)


def test_same_run_id_concurrently_one_run_writes_it_the_other_stops(run_plan, tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_TEST_SLEEP", "0.1")
    barrier, results = threading.Barrier(2), {}

    def go(name: str, n: int) -> None:
        barrier.wait()
        try:
            results[name] = run_plan(make_plan(n=n), run_id="same", cache_dir=tmp_path / f"cache-{name}")[0]
        except ExecuteError as exc:
            results[name] = exc

    threads = [threading.Thread(target=go, args=args) for args in (("a", 3), ("b", 4))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    (winner,) = [k for k, v in results.items() if not isinstance(v, Exception)]
    (loser,) = [k for k, v in results.items() if isinstance(v, Exception)]
    assert ("another run is writing run id 'same'" in str(results[loser])
            or "already exists" in str(results[loser]))
    run_dir = tmp_path / "reports" / "demo" / "same"
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["same"]
    counts = pl.read_parquet(run_dir / "tables" / "counts.parquet")
    assert counts.height == {"a": 3, "b": 4}[winner] + 3  # the winner's tables, not replaced by the loser's
    assert json.loads((run_dir / "run.json").read_text())["record"]["started"] == results[winner].started
    with pytest.raises(ExecuteError, match="already exists"):
        run_plan(make_plan(n=3), run_id="same")


def test_a_killed_runs_partial_directory_is_taken_over(run_plan, tmp_path):
    partial = tmp_path / "reports" / "demo" / ".r.partial"
    (partial / "tables").mkdir(parents=True)
    (partial / "tables" / "junk.parquet").write_text("half written by a killed run")
    rec, _ = run_plan(make_plan(n=2), run_id="r")
    assert not partial.exists() and not (Path(rec.run_dir) / "tables" / "junk.parquet").exists()
    assert (Path(rec.run_dir) / "run.json").is_file()
