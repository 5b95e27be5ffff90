"""Smoke runs of the seed specs (issue 15): every spec in `specs/paper/` and `specs/transfer_*`, run end to end through
`interf run` as a user would, shrunk with `--set`, fully offline.

* Models and SAEs: a Hugging Face cache written by `tests/hf_cache.py` (GPT-2-Small and Pythia-70M-deduped at small
  random configs, every `sae: paper` release at the real repos' file layouts), read through `from_pretrained` /
  `SAE.from_pretrained` with `HF_HUB_OFFLINE=1`.
* Data the specs name: a small .jsonl corpus (the zoo's held-out text) and a Neuronpedia export per SAE.
* Providers: one local OpenAI-compatible endpoint answers the embedding model and the sentence model
  (`tests/chat_server.py`); each transfer target is `interf serve`'s app over a tiny random model
  (`tests/transfer_server.py`), under the model id litellm sends for it. `api_base` overrides point the spec there.

Two things these runs found, both now refused at validate and fixed in the seed specs:
* Hub models carry no token-type labels, so the Table-1 sets (table1, the transfer specs) need
  `sources.<s>.token_types`; the specs name a labels file under their data folder, and the runs pass one for the
  fixture vocabulary.
* The token focus's `probe: ones` has a zero gradient on hub models loaded with transformer_lens' default weight
  processing (center_writing_weights makes attn_out, mlp_out and the residual stream zero-mean), and none of the
  paper's releases declares other processing: the specs use `probe: decoder` (docs/method.md §8.11).

The runs share one step cache (as a user's runs do), so a spec after the first reuses its atlas and map; each spec's
wall time is printed in a table at the end. `slow`: minutes on a CPU (`pytest -m slow tests/integration/test_seed_smoke.py`).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs" / "paper").glob("*.yaml")) + sorted(
    p for p in (ROOT / "specs").glob("transfer_*") if p.suffix in (".yaml", ".interf"))
KEY = "sk-smoke-not-a-real-key"
HOOKS = {"pythia": "L1.{attn_out,mlp_out,resid_post}", "gpt2": "L1.{attn_out,mlp_out,resid_mid,resid_post}"}
"""One layer of every hook site the specs use (the fixture models have two layers)."""
BINS = "[0,.1) [.1,.2) [.2,1]"
"""Three interference bins: few random 64-d directions of a small SAE reach I >= 0.3, and a target needs a partner
in every bin."""
TIMES: dict[str, float] = {}

def _sentences(body: dict[str, Any]) -> str:
    """The sentence model's answer: `n` distinct prefixes for a target token (`target_token=X`) or a token type
    (`type=X`), as the JSON the protocols ask for."""
    n = int(re.search(r"exactly (\d+)", body["messages"][0]["content"]).group(1))
    key = body["messages"][-1]["content"].split("=", 1)[1]
    return json.dumps({key: [f"On day {i} of the trip we talked about the" for i in range(n)]})


def _corpus(path: Path) -> None:
    with gzip.open(ROOT / "interf_dsl" / "zoo" / "artifacts" / "heldout.jsonl.gz", "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh][:400]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")


def _batch(folder: Path, part: str, records: list[dict]) -> None:
    (folder / part).mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / part / "batch-0.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)


def _neuronpedia(root: Path, d_sae: int) -> None:
    """A Neuronpedia export per source and hook (`<source>/<short hook>/`), one record per feature."""
    words = ["cats", "cities", "numbers", "colours", "time", "people", "science", "feelings"]
    for source, hooks in HOOKS.items():
        layer, sites = hooks.split(".", 1)
        for site in sites.strip("{}").split(","):
            folder = root / source / f"{layer}.{site}"
            _batch(folder, "features", [{"index": f, "neuron_alignment_indices": [f % 7, f % 5 + 7, f % 3 + 12],
                                         "neuron_alignment_values": [0.5, 0.3, 0.1]} for f in range(d_sae)])
            _batch(folder, "activations", [{"index": f, "activations": [
                {"tokens": [" the", f" {words[f % 8]}", " and"], "values": [0.0, 1.0 + f % 3, 0.2],
                 "maxValueTokenIndex": 1}]} for f in range(d_sae)])
            _batch(folder, "explanations", [{"index": f, "description": f"mentions of {words[f % 8]}"}
                                            for f in range(d_sae)])


def _labels(path: Path) -> None:
    """Token-type labels {token_str: type} of the fixture models' vocabulary (the zoo tokenizer's)."""
    rows = json.loads((ROOT / "interf_dsl" / "zoo" / "artifacts" / "token_types.json").read_text())
    path.write_text(json.dumps({r["token_str"]: r["type"] for r in rows if r["type"] != "unknown"}))


def _litellm_model_id(model: str) -> str:
    """The model id litellm sends for a provider-prefixed model (`together_ai/google/x` -> `google/x`)."""
    return model.split("/", 1)[1]


@functools.cache
def _loaded(spec: Path) -> Any:
    from interf_dsl.parse import load_spec

    return load_spec(spec)


def _targets(spec: Path) -> list[str]:
    transfer = _loaded(spec).transfer
    return [t.model for t in transfer.targets] if transfer is not None else []


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The fixture cache, corpus, Neuronpedia export and endpoints every smoke run uses."""
    from tests.chat_server import chat_server, hashed_embedding
    from tests.hf_cache import seed_configs, write_seed_cache
    from tests.transfer_server import served

    root = tmp_path_factory.mktemp("seed_smoke")
    t0 = time.perf_counter()
    write_seed_cache(root / "hub")
    _corpus(root / "corpus.jsonl")
    _labels(root / "token_types.json")
    _neuronpedia(root / "neuronpedia", d_sae=seed_configs(False)["gpt2-small"][1])
    setup = time.perf_counter() - t0
    models = sorted({m for spec in SPECS for m in _targets(spec)})
    with contextlib.ExitStack() as stack:
        provider = stack.enter_context(chat_server(_sentences, embed=hashed_embedding))
        targets = {m: stack.enter_context(served(name=_litellm_model_id(m))) for m in models}
        yield {"root": root, "provider": provider.api_base, "targets": targets}
    rows = "\n".join(f"| {name} | {sec:.1f} |" for name, sec in TIMES.items())
    report = (f"\nseed spec smoke runs (fixture cache written in {setup:.1f} s; one shared step cache)\n"
              f"| spec | wall s |\n|---|---|\n{rows}\n| total | {sum(TIMES.values()):.1f} |")
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(report)


def _overrides(spec: Path, world: dict[str, Any]) -> list[str]:
    """The `--set`s that shrink a seed spec to a smoke run and point it at the fixtures and local endpoints."""
    loaded = _loaded(spec)
    api = world["provider"]
    sets = [f"sources.{name}.saes[0].hooks={hooks}" for name, hooks in HOOKS.items()]
    sets += [f"atlas.corpus={world['root'] / 'corpus.jsonl'}", "atlas.max_tokens=3000", "atlas.context=32",
             "atlas.top_contexts=5", f"atlas.explanations.path={world['root'] / 'neuronpedia'}",
             f"atlas.embedding.api_base={api}", f"prompts.api_base={api}", "prompts.per_token=2",
             "prompts.per_type=4", "map.targets_per_layer=1", "map.partners_per_bin=1", f"map.bins='{BINS}'",
             "stats.bootstrap=100",
             "report.figures=false"]
    types = any(b.focus == "prompt" and b.mode == "type_injection" for b in loaded.interventions)
    if types or loaded.transfer is not None:  # Table-1 token sets: hub models carry no token-type labels
        sets += [f"sources.{name}.token_types={world['root'] / 'token_types.json'}" for name in HOOKS]
    for i, block in enumerate(loaded.interventions):
        if block.focus in ("feature", "token"):
            sets.append(f"interventions[{i}].scales=[2]")
        if block.focus == "token":
            sets.append(f"interventions[{i}].targets_per_layer=1")
        if block.focus == "neuron":
            sets += [f"interventions[{i}].scales=[0, 2]", f"interventions[{i}].degree_bins=1, 2-5, 6+"]
        if block.focus == "prompt" and block.mode == "type_injection":
            sets += [f"interventions[{i}].sentences=2", f"interventions[{i}].trials=2"]
    if loaded.transfer is not None:
        sets += ["transfer.sentences=2", "transfer.trials=2"]
        sets += [f"transfer.targets[{i}].api_base={world['targets'][t.model]}"
                 for i, t in enumerate(loaded.transfer.targets)]
    return sets


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_seed_spec_runs_end_to_end(spec: Path, world: dict[str, Any]) -> None:
    root = world["root"]
    env = {**os.environ, "HF_HOME": str(root / "hf_home"), "HF_HUB_CACHE": str(root / "hub"),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "INTERF_CACHE": str(root / "cache"),
           "OPENAI_API_KEY": KEY, "DEEPSEEK_API_KEY": KEY, "TOGETHER_API_KEY": KEY}
    cmd = [sys.executable, "-m", "interf_dsl", "run", str(spec), "--reports", str(root / "reports"), "--quiet"]
    for s in _overrides(spec, world):
        cmd += ["--set", s]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    TIMES[str(spec.relative_to(ROOT / "specs"))] = time.perf_counter() - t0
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-6000:])
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    run_json = json.loads((run_dir / "run.json").read_text())
    assert run_json["record"]["status"] == "ok" and run_json["resolved"]["overrides"] == _overrides(spec, world)
    tables = {p.stem for p in (run_dir / "tables").glob("*.parquet")}
    kinds = {s["kind"] for s in run_json["record"]["steps"]}
    expected = {"atlas", "map"} | ({"transfer"} if "transfer" in spec.name else set())
    assert expected <= kinds, kinds
    assert "effects" in tables, tables
    import polars as pl

    effects = pl.read_parquet(run_dir / "tables" / "effects.parquet")
    assert set(effects["source"]) == set(HOOKS), "every source's interventions produced effects"
    if "transfer" in spec.name:
        trials = pl.read_parquet(run_dir / "tables" / "transfer_trials.parquet")
        assert set(trials["target"]) == {t.name for t in _loaded(spec).transfer.targets}, trials
    assert (run_dir / "report.md").exists()
    assert KEY not in "".join(p.read_text(errors="ignore") for p in run_dir.rglob("*") if p.is_file()
                              and p.suffix in (".json", ".md", ".html", ".txt"))
