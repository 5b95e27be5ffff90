"""Bring your own data (issue 14), end to end on the tiny zoo: every import format converted from a made-up source
with real-world quirks (tests/data/import/README.md), then a study that reads all of them (token types of two
sources, type sentences, external token sets and prompt sets, a Neuronpedia export made here for three SAEs of two
sources) validates and runs the prompt focus (type_injection) and a transfer to the served target-tiny. The run
records what it was given: the token-set coverage table, repeats removed, and whether sources and target injected
the same sets (`sources_comparable`)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "import"
ZOO = ROOT / "interf_dsl" / "zoo" / "artifacts" / "zoo.json"
WORDS = ("river", "music", "numbers", "cooking", "weather", "animals", "law", "colour", "travel", "sport", "money",
         "illness", "poetry", "machines", "family", "stars", "plants", "war", "trade", "time")
N_FEATURES = 300  # features 0..299 of each SAE carry an explanation (the zoo's SAEs are 1536 wide)
SAES = {"gpt2/L1.resid_post": "gpt2-tiny/1-res-x", "gpt2/L1.mlp_out": "gpt2-tiny/1-mlp-x",
        "pythia/L1.resid_post": "pythia-tiny/1-res-x"}


def _np_tree(root: Path) -> Path:
    """A Neuronpedia-like download: `<model>/<layer>-<set>/` folders, batches numbered from 1, the second batch of
    each part uncompressed, and one SAE the study does not use."""
    for k, sub in enumerate([*SAES.values(), "gpt2-tiny/2-res-x"]):
        for part in ("features", "activations", "explanations"):
            folder = root / sub / part
            folder.mkdir(parents=True)
            recs = [{"index": f, "neuron_alignment_indices": [f % 64], "neuron_alignment_values": [0.5]}
                    if part == "features" else {"index": f, "activations": []} if part == "activations" else
                    {"index": f, "description": f"{sub.split('/')[1]}: {WORDS[(f + k) % 20]} and {WORDS[(3 * f) % 20]}"}
                    for f in range(N_FEATURES)]
            half = N_FEATURES // 2
            with gzip.open(folder / "batch-1.jsonl.gz", "wt", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in recs[:half])
            (folder / "batch-2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs[half:]), encoding="utf-8")
    return root


def _cli(*args: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-m", "interf_dsl", "import", *args, "--json"], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """Every format imported into one study folder (the CLI for two of them), and the study's spec."""
    if not ZOO.exists():
        pytest.skip("the tiny zoo is not built")
    from interf_dsl.dataio import import_neuronpedia, import_sentences, import_token_types

    d = tmp_path_factory.mktemp("study")
    res = {
        "gpt2_labels": import_token_types(DATA / "labels_by_id.json", d / "gpt2_labels.json", model="zoo:gpt2-tiny",
                                          aliases={"LOC": "location", "NUM": "number", "PER": "person",
                                                   "NOUN": "object"}, other="unknown").to_json(),
        "pythia_labels": _cli("token-types", str(DATA / "labels_folder"), "--to", str(d / "pythia_labels.json"),
                              "--map", "place=location", "--other", "unknown", "--conflict", "first",
                              "--model", "zoo:pythia-tiny"),
        "sentences": import_sentences(DATA / "sentences_plain.json", d / "sentences.json",
                                      aliases={"place": "location"}).to_json(),
        "sets": _cli("sets", str(DATA / "sets_aliases.json"), "--to", str(d / "sets.json"), "--model",
                     "zoo:gpt2-tiny"),
        "export": import_neuronpedia(_np_tree(d / "download"), d / "export",
                                     [f"{k}={v}" for k, v in SAES.items()]).to_json(),
    }
    (d / "prompt_sets.txt").write_text((DATA / "prompt_sets.txt").read_text(encoding="utf-8"), encoding="utf-8")
    spec = {
        "experiment": {"name": "imported", "seed": 0, "preset": "paper"},
        "sources": {"gpt2": {"model": "zoo:gpt2-tiny", "token_types": "gpt2_labels.json",
                             "saes": [{"hooks": "L1.{mlp_out,resid_post}", "sae": "zoo"}]},
                    "pythia": {"model": "zoo:pythia-tiny", "token_types": "pythia_labels.json",
                               "saes": [{"hooks": "L1.resid_post", "sae": "zoo"}]}},
        "atlas": {"max_tokens": 6000, "context": 32, "top_contexts": 5,
                  "explanations": {"kind": "neuronpedia", "path": "export"}},
        "map": {"bins": "[0,.1) [.1,.2) [.2,1]", "thresholds": [0.4], "targets_per_layer": 1,
                "partners_per_bin": 1},
        "interventions": [{"focus": "prompt", "mode": "type_injection", "types": ["location", "number"],
                           "high_threshold": 0.3, "sentences": 3, "trials": 3, "tokens_per_trial": 5}],
        "prompts": {"source": "file", "path": "sentences.json", "per_type": 3},
        "stats": {"bootstrap": 200},
        "transfer": {"types": ["location", "number"], "sentences": 3, "trials": 3, "sets": "sets.json",
                     "prompt_sets": "prompt_sets.txt",
                     "targets": [{"name": "tt", "model": "openai/target-tiny", "serve": "zoo:target-tiny",
                                  "top_k": 10}]},
        "report": {"formats": ["md"], "figures": False},
    }
    (d / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return {"dir": d, "results": res}


def test_every_quirk_is_converted_and_said(study) -> None:
    res = study["results"]
    gpt2 = res["gpt2_labels"]
    assert any("39 token ids read as token strings" in c for c in gpt2["changes"])
    assert any("'LOC' -> location (13)" in c for c in gpt2["changes"])
    assert any("--other" in c and "'DET' -> unknown (2)" in c for c in gpt2["changes"])
    assert any("1 repeated entries" in c for c in gpt2["changes"])
    pythia = res["pythia_labels"]
    assert any("one file per type" in c for c in pythia["changes"]) and any("README.md" in c for c in pythia["changes"])
    assert any("'Number' -> number" in c for c in pythia["changes"]) and any("' home'" in c for c in pythia["changes"])
    assert pythia["summary"]["location"] == {"labels": 12, "single tokens of zoo:pythia-tiny": 10}
    assert any("3 of 32 label strings are no single token" in w for w in pythia["warnings"])
    assert res["sentences"]["summary"] == {"location": {"sentences": 4, "repeats removed": 1},
                                           "number": {"sentences": 3, "repeats removed": 2}}
    sets = res["sets"]
    assert any("byte-level BPE" in c for c in sets["changes"])
    assert any("'high_interference' -> 'high'" in c for c in sets["changes"])
    assert sets["summary"]["location"]["strings no single token of zoo:gpt2-tiny"] == 1  # ' Paris'
    export = res["export"]
    assert any("renumbered 0..1" in c for c in export["changes"]) and any("gzipped" in c for c in export["changes"])
    assert any("gpt2-tiny/2-res-x" in w for w in export["warnings"])
    assert export["summary"]["gpt2/L1.mlp_out"]["explanations records"] == N_FEATURES


def _run(plan, resolved, spec: Path, tmp: Path, run_id: str):
    from interf_dsl.pipeline import run_plan

    record = run_plan(plan, spec_path=spec, spec_text=spec.read_text(encoding="utf-8"),
                      resolved_json=resolved.model_dump_json(), reports_root=tmp / "reports",
                      cache_dir=tmp / "cache", quiet=True, run_id=run_id)
    assert record.status == "ok", record.error
    run = Path(record.run_dir)
    return {s["id"]: s for s in json.loads((run / "run.json").read_text())["record"]["steps"]}, run


def _sources_build_their_own_sets(plan):
    """The plan with `transfer.sets` taken from the select step, so the sources build their own sets from the labels
    while the target takes the external ones (an older plan's shape)."""
    from interf_dsl import __version__
    from interf_dsl.plan.ir import seal_steps

    sel = {k: v for k, v in plan.step("select").params["token_sets"].items() if k not in ("sets", "sets_fingerprint")}
    steps = [s.model_copy(update={"params": {**s.params, "token_sets": sel}}) if s.id == "select" else s
             for s in plan.steps]
    return plan.model_copy(update={"steps": seal_steps(steps, __version__)})


def test_the_imported_study_runs_and_accounts_for_its_data(study, tmp_path) -> None:
    from interf_dsl.parse import load_spec
    from interf_dsl.plan import compile_plan
    from interf_dsl.resolve import resolve_spec

    spec = study["dir"] / "spec.yaml"
    resolved = resolve_spec(load_spec(spec), require_data=True)
    plan = compile_plan(resolved)
    steps, run = _run(plan, resolved, spec, tmp_path, "own")
    # each SAE read its own folder of the export
    expl = pl.read_parquet(run / "tables" / "explanations.parquet")
    for sae, sub in SAES.items():
        texts = expl.filter(pl.col("step") == f"explain:{sae}")["explanation"].to_list()
        assert texts and all(t.startswith(sub.split("/")[1] + ":") for t in texts), sae
    # the compiled plan gives the sources transfer.sets too: both sides inject the same tokens
    assert plan.step("select").params["token_sets"]["sets_fingerprint"].startswith("sha256:")
    assert steps["select"]["meta"]["token_sets_origin"]["origin"] == "external"
    assert steps["prompts"]["meta"]["duplicates_removed"] == {"vocab": {}, "type": {}}  # the import removed them
    tr = steps["transfer:tt"]["meta"]
    assert tr["data"]["type_sentences"] == {"location": {"sentences": 2, "duplicates_removed": 1},
                                            "number": {"sentences": 2, "duplicates_removed": 1}}
    assert {(c["type"], c["level"], c["strings"]) for c in tr["data"]["coverage"]} >= {("location", "target", 10)}
    assert tr["sources_sets"] == {**tr["sources_sets"], "target": "external", "sources": ["external"],
                                  "same_as_sources": True}
    assert tr["sources_comparable"] is (tr["protocol"]["estimator"] == "logprobs")
    cov = pl.read_parquet(run / "tables" / "token_set_coverage.parquet")
    row = cov.filter((pl.col("source") == "gpt2") & (pl.col("type") == "location")).row(0, named=True)
    assert (row["origin"], row["target"], row["target_scorable"], row["not_in_vocab"]) == ("external", 10, 9, 1)
    effects = pl.read_parquet(run / "tables" / "effects.parquet").filter(pl.col("focus") == "prompt")
    assert set(effects["source"]) >= {"gpt2", "pythia"}
    interventions = pl.read_parquet(run / "tables" / "interventions.parquet").filter(pl.col("focus") == "prompt")
    # paper preset: each source injects its own rows of the token sets, here the external ones
    assert interventions.height and set(zip(interventions["source"], interventions["token_sets"], strict=True)) == {
        ("gpt2", "gpt2"), ("pythia", "pythia")}
    # every table the run wrote is declared, and the report shows the coverage of the imported data
    from interf_dsl.report.schema import TABLES

    assert {p.stem for p in (run / "tables").glob("*.parquet")} <= set(TABLES)
    assert "token_set_coverage" in (run / "report.md").read_text(encoding="utf-8")
    # sources that build their own sets from the labels: coverage of the labels, and not comparable, said so
    steps, run = _run(_sources_build_their_own_sets(plan), resolved, spec, tmp_path, "own-sets")
    assert steps["select"]["meta"]["token_sets_origin"]["origin"] == "sources"
    cov = pl.read_parquet(run / "tables" / "token_set_coverage.parquet")
    row = cov.filter((pl.col("source") == "pythia") & (pl.col("type") == "location")).row(0, named=True)
    assert (row["origin"], row["labels"], row["labels_in_vocab"], row["target_scorable"]) == ("labels", 12, 10, 10)
    tr = steps["transfer:tt"]["meta"]
    assert tr["sources_sets"]["same_as_sources"] is False and tr["sources_comparable"] is False
    assert "not comparable" in tr["sources_sets"]["note"]
