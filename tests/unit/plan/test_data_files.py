"""Imported data files in the plan: the select step keys token-type labels and external token sets by their content
(their locations are execution-only), and the sources get the same external sets as the targets."""

from __future__ import annotations

import shutil
from pathlib import Path

from interf_dsl.parse import load_spec, load_spec_text
from interf_dsl.plan import compile_plan
from interf_dsl.resolve import resolve_spec

SPEC = """experiment: {name: p, seed: 7, preset: paper}
sources:
  gpt2:
    model: zoo:gpt2-tiny
    seed: 53
    token_types: data/labels.json
    saes: [{hooks: "L1.resid_post"}]
map: {thresholds: [0.4], targets_per_layer: 2, partners_per_bin: 1}
interventions:
  - focus: prompt
    types: [location, number]
    sentences: 4
    trials: 5
transfer:
  types: [location, number]
  sentences: 4
  trials: 5
  sets: data/sets.json
  targets: [{name: tiny, model: openai/tiny, serve: zoo:target-tiny}]
"""


LABELS = '{"Paris": "location", "seven": "number"}'
LEVELS = '{"target": ["a"], "high": ["b"], "medium": ["c"], "random": ["d"]}'


def _study(root: Path, labels: str = LABELS) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "labels.json").write_text(labels, encoding="utf-8")
    (root / "data" / "sets.json").write_text(f'{{"location": {LEVELS}, "number": {LEVELS}}}', encoding="utf-8")
    (root / "spec.yaml").write_text(SPEC, encoding="utf-8")
    return root / "spec.yaml"


def _select(spec: Path):
    return compile_plan(resolve_spec(load_spec(spec))).step("select")


def test_sources_take_the_external_sets(fake_zoo, tmp_path) -> None:
    sel = _select(_study(tmp_path / "a"))
    ts = sel.params["token_sets"]
    assert ts["sets"] == str(tmp_path / "a" / "data" / "sets.json")
    assert ts["sets_fingerprint"].startswith("sha256:")
    assert ts["labels_fingerprint"]["gpt2"].startswith("sha256:")


def test_moving_the_files_keeps_the_hash_and_editing_them_changes_it(fake_zoo, tmp_path) -> None:
    a = _select(_study(tmp_path / "a"))
    shutil.copytree(tmp_path / "a", tmp_path / "moved")
    moved = _select(tmp_path / "moved" / "spec.yaml")
    assert moved.params["token_sets"]["sets"] != a.params["token_sets"]["sets"]
    assert (moved.hash, moved.data_hash) == (a.hash, a.data_hash)
    edited = _select(_study(tmp_path / "b", labels='{"Paris": "location", "eight": "number"}'))
    assert edited.hash != a.hash and edited.data_hash != a.data_hash


def test_plan_counts_the_imported_data_per_source_and_type(fake_zoo, tmp_path) -> None:
    from interf_dsl.plan.data import data_coverage, render_data

    spec = _study(tmp_path / "a")
    (tmp_path / "a" / "data" / "sentences.json").write_text(
        '{"type": {"location": ["I went to Paris.", "I went to Paris.", "Rome is far."], "number": ["It is 7."]}}',
        encoding="utf-8")
    text = spec.read_text(encoding="utf-8").replace("map:", "prompts: {source: file, path: data/sentences.json}\nmap:")
    spec.write_text(text, encoding="utf-8")
    p = compile_plan(resolve_spec(load_spec(spec)))
    vocab = {"Paris", "a", "c"}
    rows = {r["type"]: r for r in data_coverage(p, vocab=lambda ref: vocab)}
    loc = rows["location"]
    assert (loc["source"], loc["labels"], loc["labels_in_vocab"]) == ("gpt2", 1, 1)
    assert loc["sets"] == {"target": (1, 1), "high": (1, 0), "medium": (1, 1), "random": (1, 0)}
    assert (loc["sentences"], loc["repeats_removed"]) == (2, 1)
    assert any("fewer than transfer.sentences = 4" in w for w in rows["number"]["warnings"])
    assert any("only 1 single-token TARGET set" in w for w in loc["warnings"])
    text = render_data(list(rows.values()))
    assert "gpt2/location: labels 1 (1 single-token)" in text and "(1 repeats removed)" in text
    unreadable = data_coverage(p, vocab=lambda ref: None)
    assert unreadable[0]["labels_in_vocab"] is None and "counted at run" in render_data(unreadable)


def test_plan_without_imported_data_prints_nothing(fake_zoo) -> None:
    from interf_dsl.plan.data import data_coverage

    p = compile_plan(resolve_spec(load_spec_text(SPEC.replace("    token_types: data/labels.json\n", "")
                                                 .replace("  sets: data/sets.json\n", ""), "p.yaml")))
    assert data_coverage(p, vocab=lambda ref: set()) == []
