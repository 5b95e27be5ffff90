"""Step cache, unit checkpoints and atomic writes: round trips, damage detection, name refusal."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from interf_dsl.errors import ExecuteError
from interf_dsl.execute.atomic import atomic_write_bytes, check_name
from interf_dsl.execute.cache import CacheWarning, StepCache
from interf_dsl.execute.units import DirUnitStore
from interf_dsl.plan.ir import Step, seal_steps
from interf_dsl.steps import Counters, StepResult


def _step(**params) -> Step:
    return seal_steps([Step(id="s", kind="test_count", params=params)], "test")[0]


def test_commit_then_lookup_round_trips(tmp_path):
    cache, step = StepCache(tmp_path), _step(n=1)
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "f.bin").write_bytes(b"xyz")
    table = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    cache.commit(step, StepResult(tables={"t": table}, meta={"k": 1}, files={"f.bin": "f.bin"}),
                 work_dir=tmp_path / "w", counters=Counters(forward_passes=3), seconds=1.5)
    entry = cache.lookup(step)
    assert entry is not None and entry.counters["forward_passes"] == 3 and entry.seconds == 1.5
    result = entry.result()
    assert_frame_equal(result.tables["t"], table)
    assert result.meta == {"k": 1} and result.files["f.bin"].read_bytes() == b"xyz"
    assert cache.lookup(_step(n=2)) is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "manifest"])
def test_damaged_entry_is_detected_warned_and_removed(tmp_path, damage):
    cache, step = StepCache(tmp_path), _step(n=1)
    cache.commit(step, StepResult(tables={"t": pl.DataFrame({"a": list(range(100))})}), work_dir=tmp_path,
                 counters=Counters(), seconds=0.0)
    parquet = cache.entry_dir(step.hash) / "tables" / "t.parquet"
    data = parquet.read_bytes()
    if damage == "truncate":
        parquet.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        parquet.write_bytes(data[:-9] + bytes([data[-9] ^ 0xFF]) + data[-8:])
    elif damage == "delete":
        parquet.unlink()
    else:
        (cache.entry_dir(step.hash) / "manifest.json").write_text("{not json")
    with pytest.warns(CacheWarning, match="damaged"):
        assert cache.lookup(step) is None
    assert not cache.entry_dir(step.hash).exists()


def test_unmatched_json_meta_is_an_error(tmp_path):
    with pytest.raises(ExecuteError, match="not JSON"):
        StepCache(tmp_path).commit(_step(), StepResult(meta={"x": object()}), work_dir=tmp_path,
                                   counters=Counters(), seconds=0.0)


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "", ".hidden", "x..y", "/abs"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ExecuteError, match="refused"):
        check_name(name, "table name")


def test_table_name_with_separator_refused_at_commit(tmp_path):
    with pytest.raises(ExecuteError, match="refused table name"):
        StepCache(tmp_path).commit(_step(), StepResult(tables={"../evil": pl.DataFrame({"a": [1]})}),
                                   work_dir=tmp_path, counters=Counters(), seconds=0.0)


def test_units_resume_in_save_order_and_skip_damaged(tmp_path):
    store = DirUnitStore(tmp_path, "u")
    for k in (3, 1, 2):
        store.save(f"feat/{k}", pl.DataFrame({"k": [k]}))
    again = DirUnitStore(tmp_path, "u")
    assert again.keys() == ["feat/3", "feat/1", "feat/2"]
    assert again.load_all()["k"].to_list() == [3, 1, 2]
    # damage one unit: it no longer counts as done
    victim = next(p for p in (tmp_path / "u").glob("*.parquet") if "1-" in p.name)
    victim.write_bytes(victim.read_bytes()[:10])
    third = DirUnitStore(tmp_path, "u")
    assert not third.done("feat/1") and third.done("feat/2")


def test_atomic_write_leaves_no_temp_files(tmp_path):
    atomic_write_bytes(tmp_path / "d" / "f.json", json.dumps({"a": 1}).encode())
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["f.json"]


def test_stale_tmp_entries_are_swept(tmp_path):
    import os
    import time

    StepCache(tmp_path)
    old, new = tmp_path / "tmp" / "old.1.2", tmp_path / "tmp" / "new.1.2"
    old.mkdir()
    new.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    StepCache(tmp_path)
    assert not old.exists() and new.exists()
