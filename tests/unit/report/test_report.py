"""report.md / report.html content, table schemas and conform, the report step's figures."""

from __future__ import annotations

import base64
import re

import polars as pl
import pytest

from interf_dsl.errors import ReportError
from interf_dsl.report import build_report, conform, read_run
from interf_dsl.report.schema import generic_keys
from interf_dsl.report.sections import side_by_side


def test_report_md_has_sections_tables_and_side_by_side_modes(make_run):
    run = make_run("r")
    md = (run / "report.md").read_text()
    for heading in ("## Run", "## Steps", "## Interventions", "## Other"):
        assert heading in md
    assert "**effects: paper vs rigorous** (2 rows)" in md
    assert "| estimate [paper] | estimate [rigorous] | ci_lo [paper] |" in md
    assert "**interventions** (80 rows; showing 50)" in md
    assert "![intervene_feature_m__effects](figures/intervene_feature_m__effects.png)" in md
    assert "forward passes" in md and "preset paper, seed 0" in md


def test_report_lists_api_use_per_target(make_run):
    md = (make_run("r", api_requests=3) / "report.md").read_text()
    assert "API target tgt: 3 requests" in md


def test_report_html_is_self_contained_with_embedded_figures_and_sortable_tables(make_run):
    page = (run := make_run("r")).joinpath("report.html").read_text()
    imgs = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) == 1 and base64.b64decode(imgs[0]).startswith(b"\x89PNG")
    assert page.count('<table class="sortable">') >= 5 and "<script>" in page
    assert not re.search(r'(src|href)="(https?:|//|figures/)', page)  # nothing fetched from outside
    assert '<section id="interventions">' in page and "estimate [rigorous]" in page
    assert run.name in page


def test_interf_report_rerenders_from_tables(make_run):
    run = make_run("r")
    (run / "report.md").unlink()
    (run / "report.html").write_text("stale")
    written = build_report(run)
    assert {p.name for p in written} == {"report.md", "report.html"}
    assert "stale" not in (run / "report.html").read_text()
    with pytest.raises(ReportError, match="unknown report format"):
        build_report(run, formats=("pdf",))
    with pytest.raises(ReportError, match="not a run directory"):
        build_report(run / "tables")


def test_conform_casts_orders_and_sorts_and_records_keys():
    df = pl.DataFrame({"estimate": [0.2, 0.1], "mode": ["rigorous", "paper"], "feature": [2, 1],
                       "condition": ["self", "self"], "step": ["s", "s"], "n": [3.0, 4.0]})
    out, keys = conform("effects", df)
    assert keys == ["step", "feature", "condition", "mode"]
    assert out.columns[:4] == keys and out["feature"].to_list() == [1, 2] and out.schema["n"] == pl.Int64


def test_undeclared_tables_get_generic_keys():
    df = pl.DataFrame({"step": ["s"], "name": ["x"], "k": [1], "score": [0.5], "vec": [[1.0, 2.0]]})
    assert generic_keys(df) == ["step", "name", "k"]
    assert conform("my_table", df)[1] == ["step", "name", "k"]


def test_conform_rejects_a_column_of_the_wrong_type():
    with pytest.raises(ReportError, match="effects"):
        conform("effects", pl.DataFrame({"step": ["s"], "estimate": ["not a number"]}))


def test_side_by_side_only_with_two_modes():
    df = pl.DataFrame({"step": ["s", "s"], "condition": ["self", "self"], "mode": ["paper", "rigorous"],
                       "estimate": [1.0, 2.0]})
    wide = side_by_side(df, ["step", "condition", "mode"])
    assert wide.columns == ["step", "condition", "estimate [paper]", "estimate [rigorous]"]
    assert wide.row(0) == ("s", "self", 1.0, 2.0)
    assert side_by_side(df.filter(pl.col("mode") == "paper"), ["step", "condition", "mode"]) is None


def test_report_step_draws_figures(tmp_path):
    from engine_kinds import make_plan

    from interf_dsl.pipeline import run_plan as execute_plan
    from interf_dsl.plan.ir import Plan, Step, seal_steps

    base = list(make_plan().steps)
    steps = [s.model_copy(update={"hash": ""}) for s in base]
    steps.append(Step(id="report", kind="report", params={"report": {"formats": ["md"], "figures": True}},
                      inputs=tuple(s.id for s in base)))
    plan = Plan(experiment="demo", preset="paper", seed=0, spec_sha256="0", steps=seal_steps(steps, "t"))
    rec = execute_plan(plan, spec_path="s.yaml", spec_text="", resolved_json={}, reports_root=tmp_path / "r",
                       cache_dir=tmp_path / "c", quiet=True, run_id="x")
    run = read_run(rec.run_dir)
    assert "report__interventions_effects.png" in run.run["figures"]
    assert (tmp_path / "r" / "demo" / "x" / "report.md").exists()
    assert not (tmp_path / "r" / "demo" / "x" / "report.html").exists()  # formats: [md]
    md = (tmp_path / "r" / "demo" / "x" / "report.md").read_text()
    section = md.split("## Interventions")[1]
    assert "report__interventions_effects.png" in section


def test_report_figures_false_keeps_every_figure_out(tmp_path):
    from engine_kinds import make_plan

    from interf_dsl.pipeline import run_plan as execute_plan
    from interf_dsl.plan.ir import Plan, Step, seal_steps

    base = list(make_plan().steps)  # its intervene step returns effects.png
    steps = [s.model_copy(update={"hash": ""}) for s in base]
    steps.append(Step(id="report", kind="report", params={"report": {"formats": ["md"], "figures": False}},
                      inputs=tuple(s.id for s in base)))
    plan = Plan(experiment="demo", preset="paper", seed=0, spec_sha256="0", steps=seal_steps(steps, "t"))
    rec = execute_plan(plan, spec_path="s.yaml", spec_text="", resolved_json={}, reports_root=tmp_path / "r",
                       cache_dir=tmp_path / "c", quiet=True, run_id="x")
    run_dir = tmp_path / "r" / "demo" / "x"
    assert read_run(rec.run_dir).run["figures"] == []
    assert not list(run_dir.glob("figures/*")) and ".png" not in (run_dir / "report.md").read_text()


def test_effects_figure_uses_the_first_metric_and_one_estimator_per_mode():
    from interf_dsl.report.figures import one_metric

    df = pl.DataFrame({"level": ["self", "b1", "self", "self", "self"], "metric": ["wc", "wc", "wc", "wc", "kl"],
                       "mode": ["paper", "paper", "rigorous", "rigorous", "paper"],
                       "estimator": ["pm", "pm", "hm", "frac", "pm"], "estimate": [1.0, 0.5, 0.9, 0.4, 3.0]})
    rows, metric = one_metric(df)
    assert metric == "wc" and sorted(rows["estimator"].to_list()) == ["hm", "pm", "pm"]


def test_console_run_json_and_report_md_give_one_total_time(tmp_path, capsys):
    """The console's `finished in` is the run record's seconds, as run.json and report.md state them (issue 16:
    150 s in report.md vs 162 s on the console, which counted writing the run directory too)."""
    from engine_kinds import make_plan

    from interf_dsl.pipeline import run_plan as execute_plan

    rec = execute_plan(make_plan(), spec_path="s.yaml", spec_text="", resolved_json={}, reports_root=tmp_path / "r",
                       cache_dir=tmp_path / "c", quiet=True, run_id="x")
    out = capsys.readouterr()
    console = re.search(r"finished in ([0-9.]+)s .*; run directory written in ([0-9.]+)s", out.out + out.err)
    assert console, out.err[-2000:]
    stored = read_run(rec.run_dir).run["record"]["seconds"]
    md = (tmp_path / "r" / "demo" / "x" / "report.md").read_text()
    assert f"{rec.seconds:.2f}" == console.group(1) == f"{stored:.2f}"
    assert f"steps took {stored:.2f}s" in md
