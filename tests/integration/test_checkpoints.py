"""Real checkpoints as users have them (issue 15), offline.

* A Hugging Face cache written by `tests/hf_cache.py` (random weights, the real repos' file layouts) serves
  `HookedTransformer.from_pretrained` and `SAE.from_pretrained` through interf's loading code with
  `HF_HUB_OFFLINE=1`: GPT-2-Small with a `gpt2-small-res-jb` SAE and every release `sae: paper` uses (the four
  OpenAI v5-32k families, `pythia-70m-deduped-{res,mlp,att}-sm`), at layer 0. Shrunk configs by default; the real
  shapes under `-m slow`. The loads run in a fresh interpreter because huggingface_hub reads HF_HUB_CACHE once, at
  import.
* A `save_pretrained` GPT-2-architecture directory plus local sae_lens SAEs runs atlas, map and the feature focus
  end to end through `interf run`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.hf_cache import (
    PAPER_RELEASES,
    seed_configs,
    small_config,
    write_checkpoint,
    write_sae_folder,
    write_sae_release,
    write_seed_cache,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

LOAD_SCRIPT = """
import json, sys, time
import torch
from interf_dsl.backends.loading import load_model, load_sae, model_problem, sae_problem
out, models = {}, {}
for name, model_ref, sae_ref in json.loads(sys.argv[1]):
    assert model_problem(model_ref) is None and sae_problem(sae_ref) is None, (model_problem(model_ref),
                                                                               sae_problem(sae_ref))
    t0 = time.perf_counter()
    if model_ref not in models:
        models[model_ref] = load_model(model_ref)
    model = models[model_ref]
    sae = load_sae(sae_ref)
    hook = sae.cfg.metadata.hook_name
    with torch.no_grad():
        _, cache = model.run_with_cache(torch.tensor([[1, 5, 9, 13]]), names_filter=hook)
        feats = sae.encode(cache[hook])
    out[name] = {"d_model": model.cfg.d_model, "n_layers": model.cfg.n_layers, "hook": hook,
                 "d_sae": int(feats.shape[-1]), "finite": bool(torch.isfinite(feats).all()),
                 "active": int((feats != 0).sum(-1).max()), "architecture": sae.cfg.architecture(),
                 "processing": model.interf_processing, "seconds": round(time.perf_counter() - t0, 2)}
print(json.dumps(out))
"""


def _sae_cfg(model: str, hook: str, d_in: int, d_sae: int) -> dict:
    return {"architecture": "standard", "d_in": d_in, "d_sae": d_sae, "dtype": "float32", "device": "cpu",
            "model_name": model, "hook_name": hook, "hook_head_index": None, "activation_fn": "relu",
            "apply_b_dec_to_input": True, "normalize_activations": "none", "context_size": 128,
            "prepend_bos": True, "dataset_path": "Skylion007/openwebtext"}


JB_HOOK = "blocks.0.hook_resid_pre"
# the processing the jb release asks for (its config_overrides), as `interf validate` writes it
JB_MODEL = "gpt2-small#fold_ln=0,center_writing_weights=1,center_unembed=0,fold_value_biases=0"


def _fixture_cache(cache: Path, full: bool) -> list[list[str]]:
    """The seed cache at layer 0 (every paper release) plus a gpt2-small-res-jb SAE; one load case per release."""
    configs = write_seed_cache(cache, full, layers=(0,))
    gpt2, d_sae = seed_configs(full)["gpt2-small"]
    d_jb = 24576 if full else d_sae  # the jb release's width
    write_sae_release(cache, "gpt2-small-res-jb", JB_HOOK, _sae_cfg("gpt2-small", JB_HOOK, gpt2.n_embd, d_jb),
                      gpt2.n_embd, d_jb)
    cases = [["gpt2-small-res-jb", JB_MODEL, f"release=gpt2-small-res-jb,id={JB_HOOK}"]]
    for model in configs:
        for site, release in PAPER_RELEASES[model].items():
            cases.append([release, model, f"release={release},id=blocks.0.hook_{site}"])
    return cases


def _load_from_cache(tmp_path: Path, full: bool) -> dict:
    cache = tmp_path / "hub"
    cases = _fixture_cache(cache, full)
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, json.dumps(cases)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check(out: dict, full: bool) -> None:
    assert set(out) == {"gpt2-small-res-jb"} | {r for m in PAPER_RELEASES.values() for r in m.values()}
    assert out["gpt2-small-res-jb"]["processing"] == {"fold_ln": False, "center_writing_weights": True,
                                                      "center_unembed": False, "fold_value_biases": False}
    for release, o in out.items():
        site = next((s for m in PAPER_RELEASES.values() for s, r in m.items() if r == release), "resid_pre")
        assert o["hook"] == f"blocks.0.hook_{site}" and o["finite"], (release, o)
        if release != "gpt2-small-res-jb":
            assert all(o["processing"].values()), (release, o)  # transformer_lens' defaults: no overrides
        if release.endswith("-v5-32k"):  # TopK (k = 32): at most 32 features fire per token
            assert o["architecture"] == "topk" and 0 < o["active"] <= 32, (release, o)
        else:
            assert o["architecture"] == "standard", (release, o)
        shape = (12, 768) if release.startswith("gpt2") else (6, 512)
        if full:
            width = 24576 if release == "gpt2-small-res-jb" else 32768
            assert (o["n_layers"], o["d_model"], o["d_sae"]) == (*shape, width), (release, o)
        else:
            assert o["d_sae"] == 256, (release, o)


def test_hub_paths_load_offline_from_a_fixture_cache(tmp_path: Path) -> None:
    _check(_load_from_cache(tmp_path, full=False), full=False)


@pytest.mark.slow
def test_hub_paths_load_offline_at_real_shapes(tmp_path: Path) -> None:
    out = _load_from_cache(tmp_path, full=True)
    print(json.dumps(out))
    _check(out, full=True)


def test_save_pretrained_gpt2_with_local_saes_runs_atlas_map_and_feature_focus(tmp_path: Path) -> None:
    cfg = small_config("gpt2")
    write_checkpoint(tmp_path / "ckpt", cfg, seed=5)
    for layer in (0, 1):
        hook = f"blocks.{layer}.hook_resid_post"
        write_sae_folder(tmp_path / "saes" / str(layer), {**_sae_cfg("local", hook, cfg.n_embd, 256),
                                                          "metadata": {"hook_name": hook}},
                         cfg.n_embd, 256, seed=layer, sparsity=False)
    spec = {
        "experiment": {"name": "ckpt", "seed": 0, "preset": "rigorous"},
        "sources": {"local": {"model": "./ckpt", "seed": 1,
                              "saes": [{"hooks": "L0,1.resid_post", "sae": "./saes/{layer}"}]}},
        "atlas": {"corpus": "zoo:heldout", "max_tokens": 4000, "context": 32, "batch_size": 16, "top_contexts": 5,
                  "explanations": {"kind": "auto"},
                  "embedding": {"kind": "sentence_transformers", "model": "all-MiniLM-L6-v2"}},
        "map": {"metrics": ["decoder_cos"], "bins": "[0,.1) [.1,.2) [.2,1]", "thresholds": [0.4, 0.2],
                "targets_per_layer": 1, "partners_per_bin": 1},
        "interventions": [{"focus": "feature", "scales": "±{1, 2}"}],
        "prompts": {"source": "mine", "per_token": 2, "per_type": 4},
        "metrics": {"names": ["weighted_cosine", "weighted_overlap", "kl"]},
        "report": {"formats": ["md"], "figures": False},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {**os.environ, "INTERF_CACHE": str(tmp_path / "cache")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "interf_dsl", "run", str(path), "--reports", str(tmp_path / "r"),
                           "--run-id", "a", "--quiet", "--set", "stats.bootstrap=100"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    run_json = json.loads((run_dir / "run.json").read_text())
    record = run_json["record"]
    assert run_json["resolved"]["overrides"] == ["stats.bootstrap=100"]
    assert run_json["resolved"]["stats"]["bootstrap"] == 100
    print(f"save_pretrained run: {time.perf_counter() - t0:.1f}s")
    kinds = {s["kind"] for s in record["steps"]}
    assert {"atlas", "map", "intervene"} <= kinds and record["status"] == "ok"
    model_meta = next(s["meta"] for s in record["steps"] if s["kind"] == "load_model")
    assert model_meta["model"].endswith("#fold_ln=1,center_writing_weights=1,center_unembed=1,fold_value_biases=1")
    import polars as pl

    effects = pl.read_parquet(run_dir / "tables" / "effects.parquet")
    assert effects.height > 0 and effects["estimate"].is_finite().any()  # some rows are undefined by design (NaN)
