"""The Answers section: report.md opens with it, each question has a figure and a small table with intervals and
the mode, missing transfer ratios say why, and the text is free of control bytes."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from interf_dsl.report import build_report
from interf_dsl.report.answers import ratio_reason
from interf_dsl.report.sections import clean

sys.path.insert(0, str(Path(__file__).parent))
from answer_run import answer_run  # noqa: E402 - a test helper beside this file


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return answer_run(tmp_path)


def test_report_md_starts_with_answers_each_with_figure_and_table(run_dir: Path) -> None:
    build_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert md.startswith("## Answers\n")
    answers = md.split("## Contents")[0]
    for q in ("### 1.", "### 2.", "### 3."):
        assert q in answers
    assert answers.count("![answers_") == 3
    for name in ("answers_1_steering.png", "answers_2_grid.png", "answers_3_transfer.png"):
        assert (run_dir / "figures" / name).stat().st_size > 1000
    assert "mode **rigorous**" in answers and "I in [0.2, 1]" in answers and "I in [0, 0.1)" in answers
    assert "0.05 [0.01, 0.09], p 0.01" in answers  # the slope on I
    assert "k = 30" in answers and "*** p < 0.001" in answers
    assert "20 [15, 25] *↓" in answers  # a starred rate below RANDOM is marked as a decrease
    assert "gpt2 (source) | big (target)" in answers
    assert "no ratio: the source's difference from RANDOM is 0" in answers
    # the table of contents follows the Answers; atlas dumps and steps come last
    order = [line for line in md.splitlines() if line.startswith("## ")]
    assert order[:3] == ["## Answers", "## Contents", "## Run"] and order[-2:] == ["## Atlas", "## Steps"]
    assert "a tiny study" in md


def test_report_text_has_no_control_bytes(run_dir: Path) -> None:
    build_report(run_dir)
    for name in ("report.md", "report.html"):
        text = (run_dir / name).read_text()
        assert not [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) <= 0x9F or c == "\ufffd"]
    assert clean("a\x00b\tc\ufffd") == "a·b c·"


def test_html_answers_first_and_dumps_collapsed(run_dir: Path) -> None:
    build_report(run_dir)
    page = (run_dir / "report.html").read_text()
    assert page.index('<section id="answers">') < page.index('<nav class="toc">') < page.index('id="run"')
    squeezed = page.replace("\n", "")
    assert '<section id="atlas"><details><summary>Atlas</summary>' in squeezed
    assert '<section id="steps"><details><summary>Steps</summary>' in squeezed


@pytest.mark.parametrize(("row", "reason"), [
    ({"ratio": float("nan"), "source_effect": 0.0, "target_effect": 0.0}, "the target's is 0 too"),
    ({"ratio": float("nan"), "source_effect": None, "target_effect": 0.1}, "no source effect"),
    ({"ratio": 2.0, "ratio_lo": math.nan, "ratio_hi": math.nan, "source_effect": 0.1,
      "method": "delta: no CI (the target's difference has a zero-width CI)"}, "zero-width CI"),
    ({"ratio": 0.0, "ratio_lo": -20.76, "ratio_hi": 20.76, "source_effect": 0.001}, "too wide"),
    ({"ratio": 0.5, "ratio_lo": 0.1, "ratio_hi": 0.9, "source_effect": 0.1}, ""),
])
def test_every_missing_or_unreadable_ratio_has_a_reason(row: dict, reason: str) -> None:
    got = ratio_reason(row)
    assert (reason in got) if reason else got == ""


def test_grid_says_why_a_sources_rate_differs_from_its_prompt_focus_rate(run_dir: Path) -> None:
    """The sources' rates in the grid are rescored at the target's k; the prompt focus counts at the source's own
    top_k. When the two differ the grid says so (issue: 60.9 % vs 23.4 % for one cell, unexplained)."""
    import json

    info = json.loads((run_dir / "run.json").read_text())
    step = {"id": "intervene:prompt:gpt2", "kind": "intervene",
            "params": {"focus": "prompt", "source": "gpt2", "block": {"mode": "type_injection", "top_k": 50}}}
    (run_dir / "run.json").write_text(json.dumps({**info, "plan": {"steps": [step]}}))
    build_report(run_dir)
    answers = (run_dir / "report.md").read_text().split("## Contents")[0]
    assert "gpt2 at k = 30 here, k = 50 there" in answers and "rescored at the targets' k" in answers
    step["params"]["block"]["top_k"] = 30  # same k: nothing to explain
    (run_dir / "run.json").write_text(json.dumps({**info, "plan": {"steps": [step]}}))
    build_report(run_dir)
    assert "rescored at the targets' k" not in (run_dir / "report.md").read_text()


def test_grid_says_which_token_sets_the_sources_rows_are(run_dir: Path) -> None:
    """With share: [own, union] each source has two sets of prompt rows; the grid shows those on the target's sets
    and says so."""
    import polars as pl

    from interf_dsl.report.io import write_table
    from interf_dsl.report.schema import SCHEMA_VERSION

    path = run_dir / "tables" / "effects.parquet"
    effects = pl.read_parquet(path)
    prompt = pl.DataFrame([{"source": "gpt2", "focus": "prompt", "type": "location", "level": "target",
                            "token_sets": sets, "metric": "success_rate", "mode": "rigorous", "estimator": "rate",
                            "estimate": 0.5, "ci_lo": 0.4, "ci_hi": 0.6} for sets in ("gpt2", "union")])
    write_table(path, pl.concat([effects, prompt], how="diagonal_relaxed"), name="effects",
                keys=["source", "focus", "level"], schema_version=SCHEMA_VERSION)
    build_report(run_dir)
    assert "each source ran several token sets" in (run_dir / "report.md").read_text().split("## Contents")[0]
