"""What a run records about the data it was given: repeats removed at read, the token-set coverage table, external
sets for the sources, and whether sources and target injected the same sets (`sources_comparable`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from interf_dsl.interference.labels import label_coverage
from interf_dsl.interference.sets_file import read_token_sets
from interf_dsl.interference.token_sets import (
    MIN_TARGET_TOKENS,
    combine_sources,
    coverage_table,
    external_token_sets,
)
from interf_dsl.interventions.sentences import read_file
from interf_dsl.steps import StepResult
from interf_dsl.transfer.inputs import sources_sets
from interf_dsl.transfer.sets import read_prompt_sets

DATA = Path(__file__).resolve().parents[2] / "data" / "import"
VOCAB = pl.DataFrame({"token_id": [0, 1, 2, 3, 4, 5], "token_str": [" city", " town", " a", " b", " c", " a"],
                      "count": [1] * 6})
SETS = {"location": {"target": [" city", " town", " Paris"], "high": [" a"], "medium": [" b"], "random": [" c"]}}


def test_repeats_are_removed_at_read_and_counted(tmp_path) -> None:
    assert read_prompt_sets(DATA / "prompt_sets.txt").removed == {"location": 1, "number": 1}
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"type": {"location": ["A b", "A  b ", "C"]}, "vocab": {" x": ["y", "y"]}}))
    data = read_file(str(path))
    assert data["type"]["location"] == ["A b", "C"] and data["removed"] == {"vocab": {" x": 1}, "type": {"location": 1}}
    path.write_text(json.dumps({"location": {"target": [" city", " city"], "high": [" a"], "medium": [" b"],
                                             "random": [" c"]}}))
    assert read_token_sets(path).removed == {"location": {"target": 1}}


def test_external_sets_are_scored_by_each_source_own_ids() -> None:
    rows = external_token_sets("gpt2", SETS, VOCAB, ("location",))
    target = rows.filter(pl.col("level") == "target")
    assert target.filter(pl.col("token_str") == " Paris")["token_id"].to_list() == [None]  # injected, never scored
    assert sorted(rows.filter(pl.col("token_str") == " a")["token_id"].to_list()) == [2, 5]  # both ids of ' a'
    cov = coverage_table(pl.concat([rows, combine_sources(rows)]), {}, {"gpt2": "external"}, ("location", "number"))
    gpt2 = {r["type"]: r for r in cov.filter(pl.col("source") == "gpt2").iter_rows(named=True)}
    assert (gpt2["location"]["target"], gpt2["location"]["target_scorable"], gpt2["location"]["not_in_vocab"]) == \
        (3, 2, 1)
    assert f"only 2 scorable TARGET token(s) (< {MIN_TARGET_TOKENS})" in gpt2["location"]["warning"]
    assert gpt2["number"]["target"] == 0 and "empty level(s) target, high, medium, random" in gpt2["number"]["warning"]
    union = cov.filter((pl.col("source") == "union") & (pl.col("type") == "location")).row(0, named=True)
    assert union["target_scorable"] is None and union["target"] == 3


def test_label_coverage_counts_single_tokens() -> None:
    assert label_coverage({" city": "location", " Paris": "location", " one": "number"}, [" city", " one"]) == \
        {"location": {"labels": 2, "in_vocab": 1}, "number": {"labels": 1, "in_vocab": 1}}


@dataclass
class Ctx:
    results: dict[str, tuple[str, StepResult]] = field(default_factory=dict)

    def inputs_of_kind(self, kind: str):
        return ((sid, res) for sid, (k, res) in self.results.items() if k == kind)


@dataclass
class Tr:
    sets: str | None = None
    share: str = "union"


def _ctx(origin: dict[str, Any], used: list[str], sources: tuple[str, ...] = ("gpt2", "pythia")) -> Ctx:
    ts = pl.DataFrame({"source": [*sources, "union"], "type": "location", "level": "target", "token_id": 1,
                       "token_str": " city"})
    trials = pl.DataFrame({"focus": "prompt", "base_count": [1] * len(used), "token_sets": used})
    return Ctx({"select": ("select", StepResult(tables={"token_sets": ts}, meta={"token_sets_origin": origin})),
                "intervene:prompt:gpt2": ("intervene", StepResult(tables={"interventions": trials}))})


def test_sources_comparable_only_with_the_same_sets() -> None:
    ext = {"origin": "external", "sets_fingerprint": "sha256:a"}
    same = sources_sets(_ctx(ext, ["union"]), Tr(sets="/x.json"), "sha256:a")
    assert same["same_as_sources"] is True and same["sources"] == ["external"]
    other = sources_sets(_ctx(ext, ["union"]), Tr(sets="/x.json"), "sha256:b")
    assert other["same_as_sources"] is False and "another version" in other["note"]
    own = sources_sets(_ctx({"origin": "sources"}, ["union"]), Tr(sets="/x.json"), "sha256:a")
    assert own["same_as_sources"] is False and "built from the token-type labels" in own["note"]
    assert sources_sets(_ctx({"origin": "sources"}, ["union"]), Tr(), None)["same_as_sources"] is True
    mixed = sources_sets(_ctx({"origin": "sources"}, ["gpt2"]), Tr(), None)  # share: own on two sources
    assert mixed["same_as_sources"] is False and "not comparable" in mixed["note"]
    one = sources_sets(_ctx({"origin": "sources"}, ["gpt2"], ("gpt2",)), Tr(share="intersection"), None)
    assert one["same_as_sources"] is True  # one source: own, union and intersection are the same sets
    none = sources_sets(_ctx({"origin": "sources"}, []), Tr(), None)
    assert none["same_as_sources"] is None
