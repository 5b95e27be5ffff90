"""Zoo build, last step: measure the models, then write `zoo.json` (the catalog) and `README.md` (the zoo card).

Input: a build folder whose earlier stages are done, and the build state (per-stage timings and results).
Output: `zoo.json`, read by `catalog.zoo_card()`, and `README.md`, rendered from it by `render_card` (also what
`interf zoo info` prints). `render_card` is light (no torch); `write_card` loads the models.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from interf_dsl.backends.loading import load_model_dir
from interf_dsl.zoo import build, catalog, models, saes, tokens

HELDOUT_WINDOWS = 384  # evenly spaced over the whole held-out split (~98 k tokens)

_NOT = """\
## What the zoo is not

* Not GPT-2, Pythia or Llama. The names say which *architecture family* each model copies (GPT-2: LayerNorm, GELU,
  learned positions; Pythia/NeoX: rotary, parallel attention and MLP; Llama: RMSNorm, SwiGLU, rotary), at toy
  scale (1.8 M to 4.2 M parameters) and trained for minutes on dictionary and quotation text. Every effect measured
  on the zoo is a small-model effect; it is not evidence about the real models or the paper's numbers.
* Not the paper's SAEs: those are 32,768-wide Neuronpedia SAEs on every layer; the zoo has 12 TopK SAEs (k = 32) on
  two layers of each source model.
* `target-tiny` stands in for the black-box LLM of the transfer experiments; it is served over HTTP by the transfer
  code and is not meant to be opened white-box in an experiment.
* The corpus is not general web text: it is dictionary definitions, WordNet glosses, jargon entries and fortunes.
"""

_LAYOUT = """\
## Inputs, outputs, and how to add a model or SAE

* **Inputs**: Debian text packages (`corpus.py`), nothing from a model hub.
* **Outputs** (`artifacts/`): `tokenizer/`; `models/<name>/` (config.json with `HookedTransformerConfig` fields,
  fp16 `model.safetensors`, tokenizer files: the layout `load_model` also accepts for any local directory);
  `saes/<model>/<L1.resid_post>/` (sae_lens `cfg.json` + `sae_weights.safetensors`, metadata `hook_name` set);
  `heldout.jsonl.gz`; `token_types.json`; `zoo.json` (read by `catalog.py`); this card.
* **How to add a zoo model**: add an entry to `models.MODEL_SPECS` and its name to `catalog.ZOO_MODELS` and
  `build.DEFAULT_MINUTES`; rebuild; the integration test `tests/integration/test_zoo.py` picks it up from the card.
* **How to add SAEs**: extend `saes.SAE_MODELS` / `SAE_LAYERS` / `SAE_HOOKS`; rebuild; check the artifact size
  test (30 MB budget) in `tests/unit/zoo/test_catalog.py`.
"""

_REBUILD = """\
## How to rebuild

```
apt-get install -y fortunes fortunes-min wordnet-base dict-gcide dict-devil dict-jargon
HF_HUB_OFFLINE=1 WANDB_MODE=disabled interf zoo build --out zoo-build     # ~45 min on 2 CPU cores
interf zoo build --out zoo-build --install                                 # copy into interf_dsl/zoo/artifacts
```

The build is seeded (data split by document hash, fixed seeds for initialisation and batches) but training runs
are time-budgeted (learning rate by wall clock), so a rebuild on another machine takes a different number of steps
and gives close, not identical, numbers. An interrupted build resumes from its last finished stage
(`build_state.json`); `--fresh` starts over. Per-stage budgets: `--minutes gpt2-tiny=8,sae=0.75`. On a GPU:
`--device cuda --batch 64 --reuse-tokenizer` (the shipped tokenizer and token types keep every token id); the
training stages can run on a GPU machine from a carried build (`scripts/gpu_zoo.sh`, docs/gpu.md).
"""


def _model_entry(name: str, build_dir: Path, state: dict) -> dict:

    t0 = time.time()
    model = load_model_dir(build_dir / "models" / name)
    load_s = time.time() - t0
    tok_dir = build_dir / "tokenizer"
    heldout = tokens.spread(tokens.heldout_stream(build_dir, tok_dir), HELDOUT_WINDOWS)
    sl = tokens.eval_slice(catalog.read_sample(build_dir / "heldout.jsonl.gz", "atlas"), tok_dir)
    cfg = model.cfg
    spec = models.MODEL_SPECS[name]["cfg"]
    return {
        "family": models.MODEL_SPECS[name]["family"], "n_layers": cfg.n_layers, "d_model": cfg.d_model,
        "d_mlp": cfg.d_mlp, "n_heads": cfg.n_heads, "d_head": cfg.d_head, "d_vocab": cfg.d_vocab,
        "n_ctx": cfg.n_ctx, "n_params": sum(p.numel() for p in model.parameters()),
        "architecture": {k: spec.get(k) for k in ("act_fn", "normalization_type", "positional_embedding_type",
                                                   "rotary_dim", "parallel_attn_mlp", "gated_mlp",
                                                   "original_architecture")},
        "heldout_loss": round(models.eval_loss(model, heldout), 4),
        "heldout_tokens": len(heldout), "heldout_windows": HELDOUT_WINDOWS,
        "slice_loss": round(models.eval_loss(model, sl, n_windows=tokens.EVAL_SLICE_WINDOWS), 4),
        "slice": {"split": "atlas", "windows": tokens.EVAL_SLICE_WINDOWS, "window": models.N_CTX},
        "train": state[f"model:{name}"]["train"], "load_seconds_at_build": round(load_s, 2),
    }


def _sae_entries(state: dict) -> dict:

    out = {}
    for model in saes.SAE_MODELS:
        for key, res in state[f"saes:{model}"]["saes"].items():
            layer, hook = key[1:].split(".", 1)
            out[f"{model}/{key}"] = {"model": model, "hook_name": saes.hook_name(int(layer), hook),
                                     "layer": int(layer), "hook": hook, "d_in": 128, "d_sae": saes.D_SAE,
                                     "architecture": "topk", "k": saes.K, **res}
    return out


def _batches(card: dict) -> str:
    """The models' training batch sizes, as the card states them (one number when all agree)."""
    sizes = sorted({m["train"].get("batch", 32) for m in card["models"].values()})
    return " / ".join(str(b) for b in sizes)


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def write_card(build_dir: Path, state: dict) -> dict:
    """Measure every model, assemble `zoo.json` and render `README.md` into the build folder."""

    card = {
        "schema_version": 1,
        "tokenizer": {"kind": "byte-level BPE (tokenizers)", "vocab_size": 4096, "bos_eos": "<|endoftext|>",
                      "folder": "tokenizer/"},
        "corpus": {"sources": state["corpus"]["sources"], "heldout_percent": 3,
                   "sample": {s: len(catalog.read_sample(build_dir / "heldout.jsonl.gz", s))
                              for s in catalog.HELDOUT_SPLITS}},
        "models": {name: _model_entry(name, build_dir, state) for name in catalog.ZOO_MODELS},
        "saes": _sae_entries(state),
        "token_types": state["token_types"]["token_type_counts"],
        "build": {"stage_seconds": {k: v["seconds"] for k, v in state.items()},
                  "total_minutes": round(sum(v["seconds"] for v in state.values()) / 60, 1),
                  "trained_on": sorted({state[f"model:{n}"]["train"].get("device", "cpu")
                                        for n in catalog.ZOO_MODELS})},
    }
    (build_dir / "zoo.json").write_text(json.dumps(card, indent=1, sort_keys=True), encoding="utf-8")
    card["build"]["artifact_megabytes"] = round(
        sum(_dir_bytes(build_dir / n) for n in build.SHIPPED if n != "README.md") / 1e6, 2)
    (build_dir / "zoo.json").write_text(json.dumps(card, indent=1, sort_keys=True), encoding="utf-8")
    (build_dir / "README.md").write_text(render_card(card), encoding="utf-8")
    return {"artifact_megabytes": card["build"]["artifact_megabytes"]}


def render_card(card: dict) -> str:
    """The zoo card as Markdown (light: plain string formatting over `zoo.json`)."""
    lines = ["# The tiny zoo", "",
             "Offline stand-ins for the paper's models (docs/method.md §1): two small source LMs of different families, "
             "each with TopK SAEs on attention, MLP and residual hooks, and a larger target of a third family. "
             "Referenced in specs as `zoo:<model>` and `zoo:<model>/<L1.resid_post>`; loaded by "
             "`interf_dsl/backends/loading.py`; catalog in `catalog.py`; built by `interf zoo build`.", "",
             "## Sources and licences", "",
             "| source | Debian package | licence | documents | characters | held-out docs | in shipped sample |",
             "|---|---|---|---:|---:|---:|---|"]
    for name, s in card["corpus"]["sources"].items():
        lines.append(f"| {name} | {s['package']} | {s['licence']} | {s['documents']:,} | {s['chars']:,} | "
                     f"{s['heldout_documents']:,} | {'yes' if s['shipped_in_sample'] else 'no: ' + s['note']} |")
    sample = card["corpus"]["sample"]
    lines += ["", f"Split by document hash: {card['corpus']['heldout_percent']} % held out. The repo ships only "
              f"`artifacts/heldout.jsonl.gz`, the held-out documents of the redistributable sources, split into "
              f"disjoint parts `atlas` ({sample['atlas']:,} docs, feature statistics) and `prompts` "
              f"({sample['prompts']:,} docs, prompt mining).", "",
              "## Models", "",
              "| model | family | layers | d_model | d_mlp | heads | params | train steps | tokens seen | minutes | "
              "held-out loss | slice loss |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, m in card["models"].items():
        t = m["train"]
        lines.append(f"| `zoo:{name}` | {m['family']} | {m['n_layers']} | {m['d_model']} | {m['d_mlp']} | "
                     f"{m['n_heads']} | {m['n_params']:,} | {t['steps']:,} | {t['tokens_seen']:,} | {t['minutes']} | "
                     f"{m['heldout_loss']:.3f} | {m['slice_loss']:.3f} |")
    lines += ["", "All share the byte-level BPE tokenizer (4,096 entries, `<|endoftext|>` = BOS/EOS), n_ctx 256, "
              "fp16 safetensors. Held-out loss: nats per token on 384 windows spread evenly over the whole held-out split (every source); slice loss: the "
              "first 48 windows of 256 tokens of the shipped `atlas` split (re-checked by the tests). "
              f"Training: AdamW, batch {_batches(card)} x 256, warm-up then cosine decay by wall clock, bf16 "
              "autocast.", "",
              "## SAEs", "",
              "TopK (k = 32) SAEs, d_sae 1,536 (12x), sae_lens `TopKSAE` on-disk format (fp16, loaded as float32). "
              "Metrics on ~65 k held-out tokens spread over every source (BOS excluded); CE recovered over 8 k tokens against zero "
              "ablation; dead = never fires on those tokens.", "",
              "| SAE | hook | L0 | explained var. | CE recovered | dead | pairs with abs(cos) in [0,.1) / [.1,.2) / "
              "[.2,.3) / [.3,.4) / [.4,1] |", "|---|---|---:|---:|---:|---:|---|"]
    for ref, s in card["saes"].items():
        m, bins = s["metrics"], "/".join(f"{v:,}" for v in s["decoder_cosine_bins"].values())
        lines.append(f"| `zoo:{ref}` | `{s['hook_name']}` | {m['l0']:.1f} | {m['explained_variance']:.3f} | "
                     f"{m['ce_loss_recovered']:.3f} | {m['dead_fraction']:.3f} | {bins} |")
    lines += ["", "## Token types", "",
              "Every vocabulary entry labelled with one of the 15 types of docs/method.md §4.2 by "
              "`token_types.label_token_types` (WordNet 3.0 lexicographer files + rules), in "
              "`artifacts/token_types.json`.", "", "| type | tokens |", "|---|---:|"]
    lines += [f"| {t} | {n:,} |" for t, n in card["token_types"].items()]
    b = card["build"]
    where = ", ".join(d for d in b.get("trained_on", ["cpu"]) if d != "cpu")
    where = f"with models and SAEs trained on {where}" if where else "on 2 shared CPU cores"
    lines += ["", "## Build", "", f"Last build: {b['total_minutes']} min of stage time {where}; "
              f"shipped artifacts {b.get('artifact_megabytes', '?')} MB.", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in b["stage_seconds"].items()]
    lines += ["", _LAYOUT, _REBUILD, _NOT]
    return "\n".join(lines)
