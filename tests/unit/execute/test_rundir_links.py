"""Run directories hard-link the caches' tables and figures: a rerun adds only run.json and the report; a failed link
is a counted copy; nothing interf writes goes into a linked file, and an outside edit of one is never served."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import polars as pl
import pytest
from engine_kinds import make_plan
from polars.testing import assert_frame_equal

from interf_dsl.execute.cache import CacheWarning
from interf_dsl.report import build_report
from interf_dsl.report.links import FilePlacer

OWN = {"run.json", "report.md", "report.html"}  # what a run directory holds of its own


def stored(run_dir: Path) -> list[Path]:
    return sorted(p for sub in ("tables", "figures") for p in (run_dir / sub).iterdir())


def new_bytes(run_dir: Path, seen: set[int]) -> dict[str, int]:
    """Bytes of `run_dir`'s files whose inodes are not in `seen` (du with hard links counted once)."""
    return {p.name: p.stat().st_size for p in run_dir.rglob("*") if p.is_file() and p.stat().st_ino not in seen}


def inodes(*roots: Path) -> set[int]:
    return {p.stat().st_ino for root in roots for p in root.rglob("*") if p.is_file()}


def test_a_rerun_links_every_table_and_figure_and_adds_only_its_own_files(run_plan, tmp_path):
    first, _ = run_plan(make_plan(), run_id="a")
    second, _ = run_plan(make_plan(), run_id="b")
    a, b = Path(first.run_dir), Path(second.run_dir)
    files = stored(b)
    assert {p.parent.name for p in files} == {"tables", "figures"} and len(files) == 5
    cache = inodes(tmp_path / "cache")
    for p in files:
        twin = a / p.parent.name / p.name
        assert p.stat().st_nlink >= 3 and p.stat().st_ino == twin.stat().st_ino  # run a, run b, the cache
        assert p.stat().st_ino in cache
        assert p.stat().st_mode & 0o222 == 0  # read-only: an in-place writer is refused (but root)
    run = json.loads((b / "run.json").read_text())
    assert run["storage"] == {"linked": 5, "linked_bytes": sum(p.stat().st_size for p in files), "copied": 0,
                              "copied_bytes": 0, "why_copied": {}}
    assert set(new_bytes(b, cache | inodes(a))) == OWN  # the rerun's disk use: its own three files
    # the first run links too: its tables are stored once, in the cache
    assert set(new_bytes(a, cache)) == OWN


def test_a_filesystem_without_links_copies_and_says_so(run_plan, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

    monkeypatch.setattr(os, "link", no_link)
    rec, _ = run_plan(make_plan(), run_id="a")
    run_dir = Path(rec.run_dir)
    assert all(p.stat().st_nlink == 1 for p in stored(run_dir))
    storage = json.loads((run_dir / "run.json").read_text())["storage"]
    assert storage["linked"] == 0 and storage["copied"] == 5 and storage["copied_bytes"] > 0
    assert storage["why_copied"] == {f"EXDEV: {os.strerror(errno.EXDEV)}": 5}


def test_the_copy_note_counts_and_other_link_errors_raise(tmp_path, monkeypatch):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)
    placer = FilePlacer()
    placer.place(src, tmp_path / "out" / "linked.bin")
    assert placer.note() is None and (tmp_path / "out" / "linked.bin").stat().st_ino == src.stat().st_ino

    def fail(code):
        def link(a, b):
            raise OSError(code, os.strerror(code))
        return link

    monkeypatch.setattr(os, "link", fail(errno.EMLINK))
    placer.place(src, tmp_path / "out" / "copied.bin")
    assert (tmp_path / "out" / "copied.bin").read_bytes() == src.read_bytes()
    note = placer.note()
    assert note is not None and note.startswith("copied 1 stored file(s) (0.0 MB)") and "EMLINK" in note
    monkeypatch.setattr(os, "link", fail(errno.ENOSPC))  # a full disk is not "cannot link": it is an error
    with pytest.raises(OSError, match="No space"):
        placer.place(src, tmp_path / "out" / "full.bin")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["copied.bin", "linked.bin"]  # no temp left


def test_rerendering_replaces_files_and_never_writes_into_a_link(run_plan, tmp_path):
    run_plan(make_plan(), run_id="a")
    second, _ = run_plan(make_plan(), run_id="b")
    b = Path(second.run_dir)
    before = {p: (p.stat().st_ino, p.read_bytes()) for p in stored(b)}
    cache_before = {p: p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file()}
    own = {n: (b / n).stat().st_ino for n in OWN}
    build_report(b)  # `interf report`: writes report.md / .html again
    assert {p: (p.stat().st_ino, p.read_bytes()) for p in stored(b)} == before
    assert {n: (b / n).stat().st_ino for n in ("report.md", "report.html")} != \
        {n: own[n] for n in ("report.md", "report.html")}  # replaced (new inodes), not written into
    assert {p: p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file()} == cache_before


def test_an_outside_edit_of_a_linked_file_is_never_served_to_a_later_run(run_plan, tmp_path):
    first, _ = run_plan(make_plan(), run_id="a")
    a = Path(first.run_dir)
    counts = pl.read_parquet(a / "tables" / "counts.parquet")
    figure = (a / "figures" / "intervene_feature_m__effects.png").read_bytes()
    second, _ = run_plan(make_plan(), run_id="b")
    b = Path(second.run_dir)
    for p in (b / "tables" / "counts.parquet", b / "figures" / "intervene_feature_m__effects.png"):
        p.chmod(0o644)  # what an editor that writes in place would need (root needs nothing)
        with open(p, "r+b") as fh:  # an in-place edit reaches the shared inode, cache included ...
            fh.write(b"garbage")
    with pytest.warns(CacheWarning) as caught:
        third, _ = run_plan(make_plan(), run_id="c")
    text = " ".join(str(w.message) for w in caught)
    assert "merged-table cache entry" in text and "cache entry of step intervene:feature:m" in text
    c = Path(third.run_dir)  # ... but the checksums catch it: the next run rebuilds both and gets the true bytes
    assert_frame_equal(pl.read_parquet(c / "tables" / "counts.parquet"), counts)
    assert (c / "figures" / "intervene_feature_m__effects.png").read_bytes() == figure
