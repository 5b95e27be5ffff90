"""Imported data files in the plan: the select step keys token-type labels and external token sets by their content
(their locations are execution-only), and the sources get the same external sets as the targets."""

from __future__ import annotations

import shutil
from pathlib import Path

from interf_dsl.parse import load_spec
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
