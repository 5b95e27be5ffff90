"""`interf diff`: identical runs, changed data, effect deltas with paired bootstrap CIs, flips, --fail-on,
schema migrations, and the CLI exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from interf_dsl.cli import app
from interf_dsl.errors import ExprSyntaxError, ReportError
from interf_dsl.report.bootstrap import paired_bootstrap_ci
from interf_dsl.report.diff import diff_reports
from interf_dsl.report.diff_render import fail_on, render_diff

V1 = Path(__file__).parents[2] / "data" / "reports" / "v1" / "demo"


def test_identical_runs_have_no_differences(make_run):
    d = diff_reports(make_run("a"), make_run("b"))
    assert not d.differs and d.rows == [] and d.effects == [] and d.provenance == []
    assert render_diff(d).endswith("summary: no differences")
    assert fail_on(d, "abs(delta) > 0") == []


def test_different_data_shows_changes_effect_cis_and_flips(make_run):
    d = diff_reports(make_run("a"), make_run("b", shift=0.05))
    fields = {p["field"] for p in d.provenance}
    assert fields == {"plan.step[intervene:feature:m].hash"}
    effects = {t.table: t for t in d.tables}["effects"]
    # seeds follow the step id and the draw, not the settings: the unshifted `self` rows are drawn alike in both
    # runs, so only the two shifted `random` rows (paper and rigorous) change
    assert (effects.added, effects.removed, effects.changed) == (0, 0, 2)
    random = [e for e in d.effects if e["key"]["condition"] == "random"]
    assert len(random) == 2 and all(e["n_pairs"] == 40 for e in random)
    for e in random:  # the shift is +0.05 on the same draws: every paired case moved by exactly 0.05
        assert e["delta"] == pytest.approx(0.05) and e["delta_ci_low"] == pytest.approx(0.05)
        assert e["delta_ci_high"] == pytest.approx(0.05) and e["flipped"] and e["excluded_zero_a"] is False
    text = render_diff(d)
    assert "FLIPPED" in text and "paired cases" in text and "2 flipped conclusions" in text
    assert {t.table: t.changed for t in d.tables}["counts"] == 0  # untouched steps stay the same


def test_added_and_removed_rows(make_run):
    d = diff_reports(make_run("a", n=4), make_run("b", n=6))
    counts = {t.table: t for t in d.tables}["counts"]
    assert (counts.added, counts.removed) == (2, 0)
    added = [r for r in d.rows if r["change"] == "added"]
    assert {r["key"]["unit"] for r in added} == {4, 5}
    assert len(fail_on(d, 'change == "added"')) == 2


def test_fail_on_matches_rows_and_rejects_unknown_names(make_run):
    d = diff_reports(make_run("a"), make_run("b", shift=0.05))
    big = fail_on(d, "abs(delta) > 0.05")
    assert big and all(abs(r["delta"]) > 0.05 for r in big)
    assert len(fail_on(d, 'flipped and table == "effects"')) == 2
    assert fail_on(d, "abs(delta) > 10") == []
    with pytest.raises(ExprSyntaxError, match="deltaa"):
        fail_on(d, "abs(deltaa) > 0.1")


def test_cli_diff_exit_codes_and_json(make_run):
    a, b = make_run("a"), make_run("b", shift=0.05)
    runner = CliRunner()
    same = runner.invoke(app, ["diff", str(a), str(a), "--fail-on", "abs(delta) > 0.02"])
    assert same.exit_code == 0, same.output
    hit = runner.invoke(app, ["diff", str(a), str(b), "--fail-on", "abs(delta) > 0.02"])
    assert hit.exit_code == 1 and "matching rows" in hit.output
    js = runner.invoke(app, ["diff", str(a), str(b), "--json"])
    data = json.loads(js.output)
    assert js.exit_code == 0 and len(data["effects"]) == 2 and data["provenance"]


def test_cli_report_rerenders(make_run):
    run = make_run("a")
    (run / "report.md").unlink()
    out = CliRunner().invoke(app, ["report", str(run)])
    assert out.exit_code == 0 and (run / "report.md").exists()


def test_v1_runs_are_migrated_and_diffed():
    d = diff_reports(V1 / "a", V1 / "b")
    assert any("effect -> estimate" in m for m in d.migrations) and any("sentence -> case" in m for m in d.migrations)
    random = next(e for e in d.effects if e["key"]["condition"] == "random")
    assert random["key"]["mode"] == "paper" and random["n_pairs"] == 30
    assert random["delta"] == pytest.approx(0.08) and random["delta_ci_low"] == pytest.approx(0.08)
    assert not any(e["key"]["condition"] == "self" for e in d.effects)


def test_v1_against_v2_run(make_run):
    d = diff_reports(V1 / "a", make_run("b"))
    assert {"field": "schema_version", "a": 2, "b": 2} not in d.provenance  # both migrated to v2 first
    assert any(t.table == "counts" and t.note == "only in run B" for t in d.tables)


def test_future_or_unknown_schema_versions_are_refused_with_the_reason(tmp_path):
    for version, reason in ((99, "newer than this interf"), (0, "no migration from it")):
        run = tmp_path / f"v{version}"
        shutil.copytree(V1 / "a", run)
        meta = json.loads((run / "run.json").read_text())
        meta["schema_version"] = version
        (run / "run.json").write_text(json.dumps(meta))
        with pytest.raises(ReportError, match=reason):
            diff_reports(run, V1 / "b")


def test_paired_bootstrap_ci_known_answers():
    a = np.zeros(50)
    mean, lo, hi = paired_bootstrap_ci(a, a + 0.3)
    assert (mean, lo, hi) == pytest.approx((0.3, 0.3, 0.3))
    rng = np.random.default_rng(1)
    b = rng.normal(0.0, 1.0, 400)
    mean, lo, hi = paired_bootstrap_ci(np.zeros(400), b, n_boot=4000)
    se = b.std(ddof=1) / 20
    assert lo == pytest.approx(mean - 1.96 * se, abs=0.25 * se) and hi == pytest.approx(mean + 1.96 * se, abs=0.25 * se)
    assert np.isnan(paired_bootstrap_ci(np.zeros(1), np.ones(1))[1])


@pytest.mark.parametrize(("kw", "chunk", "expected"), [
    ({"shift": 0.05}, 2, {"whole", "buckets"}),  # 40 of 80 intervention rows changed: more than a chunk
    ({"shift": 0.05}, 50, {"whole", "differing rows"}),  # ... fewer than a chunk: only those are read
    ({"n": 6}, 2, {"whole", "differing rows"}),  # 2 rows added to counts
])
def test_streamed_diff_in_pieces_equals_the_whole_table_diff(make_run, monkeypatch, kw, chunk, expected):
    """Tables aligned in key-hash buckets or on their differing rows only give the whole-table path's RunDiff, rows
    in the same order."""
    from interf_dsl.report import diff_tables

    a, b = make_run("a", n=4), make_run("b", **{"n": 4, **kw})
    whole = diff_reports(a, b, stream=False)
    ways = []
    real = diff_tables._filters
    monkeypatch.setattr(diff_tables, "CHUNK_ROWS", chunk)
    monkeypatch.setattr(diff_tables, "_filters", lambda *args: ways.append(real(*args)) or ways[-1])
    streamed = diff_reports(a, b)
    kinds = {"whole" if f[0] is None else "buckets" if len(f) > 1 else "differing rows" for f in ways}
    assert kinds == expected  # effect tables are aligned whole
    assert whole.rows and streamed.to_json() == whole.to_json()
    assert render_diff(streamed) == render_diff(whole)


def test_identical_or_linked_tables_are_not_read(make_run, monkeypatch, tmp_path):
    """Same file (the rerun's hard links) or same bytes (a copy): counts from the metadata, no table is loaded."""
    from interf_dsl.report.io import RunData

    a, b = make_run("a"), make_run("b")
    copy = tmp_path / "copy"
    shutil.copytree(b, copy)  # the rerun's tables are links of a's; the copy's are other files, same bytes
    assert (b / "tables" / "counts.parquet").stat().st_ino == (a / "tables" / "counts.parquet").stat().st_ino
    assert (copy / "tables" / "counts.parquet").stat().st_ino != (a / "tables" / "counts.parquet").stat().st_ino
    expected = render_diff(diff_reports(a, b, stream=False))

    def forbidden(self, name):
        raise AssertionError(f"table {name} read whole")

    monkeypatch.setattr(RunData, "table", forbidden)
    for other in (b, copy):
        d = diff_reports(a, other)
        assert not d.differs and [t.rows_a for t in d.tables] == [t.rows_b for t in d.tables]
        assert render_diff(d).replace(str(other), "B") == expected.replace(str(b), "B")


def test_keys_that_do_not_identify_rows_are_found_by_hash(make_run, tmp_path):
    """The streamed uniqueness check (one hash per row) finds duplicate keys as the whole-table check does."""
    import polars as pl

    from interf_dsl.report.io import write_table
    from interf_dsl.report.schema import SCHEMA_VERSION

    a = make_run("a")
    b = tmp_path / "dup"
    shutil.copytree(a, b)
    counts = pl.read_parquet(a / "tables" / "counts.parquet")
    meta = json.loads((a / "run.json").read_text())
    keys = meta["tables"]["counts"]["keys"]
    (b / "tables" / "counts.parquet").unlink()
    write_table(b / "tables" / "counts.parquet", pl.concat([counts, counts.head(1)]), name="counts", keys=keys,
                schema_version=SCHEMA_VERSION)
    streamed, whole = diff_reports(a, b), diff_reports(a, b, stream=False)
    note = {t.table: t.note for t in streamed.tables}["counts"]
    assert note.startswith("cannot align rows: keys") and streamed.to_json() == whole.to_json()
