"""Test fixtures: random-weight Hugging Face checkpoints and a Hugging Face cache, written offline.

`small_config(arch)` builds a small transformers config of each parity-tested architecture; `write_checkpoint`
writes `save_pretrained` output (config.json, model.safetensors, tokenizer files from the zoo's tokenizer);
`write_hub_model` / `write_sae_release` lay the same files out as the Hugging Face cache does
(`models--org--name/snapshots/<rev>/...`, `refs/main`), at the file layouts the real repos use, so
`HookedTransformer.from_pretrained` and `SAE.from_pretrained` run against them with `HF_HUB_OFFLINE=1`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REVISION = "0" * 40
"""The snapshot revision every fixture repo is written at (refs/main points at it)."""

ZOO_TOKENIZER = Path(__file__).resolve().parents[1] / "interf_dsl" / "zoo" / "artifacts" / "models" / "gpt2-tiny"
VOCAB = 4096
"""The zoo tokenizer's vocabulary; small configs use it as vocab_size."""


def small_config(arch: str, vocab: int = VOCAB) -> Any:
    """A small random transformers config of `arch` (gpt2, gpt_neox, llama, gemma, gemma2)."""
    import transformers as tf

    common = {"vocab_size": vocab}
    if arch == "gpt2":
        return tf.GPT2Config(n_layer=2, n_embd=64, n_head=4, n_positions=128, **common)
    if arch == "gpt_neox":
        return tf.GPTNeoXConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=256,
                                max_position_embeddings=128, rotary_pct=0.25, **common)
    if arch == "llama":
        return tf.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                              intermediate_size=128, max_position_embeddings=128, **common)
    if arch == "gemma":
        return tf.GemmaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=1,
                              head_dim=16, intermediate_size=128, max_position_embeddings=128, **common)
    if arch == "gemma2":
        return tf.Gemma2Config(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                               head_dim=16, intermediate_size=128, max_position_embeddings=128, sliding_window=8,
                               query_pre_attn_scalar=16, **common)
    raise ValueError(arch)


def write_tokenizer(folder: Path) -> None:
    """The zoo's GPT-2-style tokenizer, saved as a transformers fast tokenizer."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(ZOO_TOKENIZER / "tokenizer.json"))
    special = json.loads((ZOO_TOKENIZER / "special_tokens_map.json").read_text())
    tok.add_special_tokens({k: v if isinstance(v, str) else v["content"] for k, v in special.items()})
    tok.save_pretrained(str(folder))


def write_checkpoint(folder: Path, config: Any, seed: int = 0) -> Any:
    """save_pretrained output of a random-weight model of `config` (weights drawn with `seed`); returns the model."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # norms start at one and biases at zero: randomise them so processing is exercised
        for name, p in model.named_parameters():
            if "norm" in name or "ln" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    write_tokenizer(folder)
    return model


def _snapshot(cache: Path, repo: str) -> Path:
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(REVISION)
    snap = root / "snapshots" / REVISION
    snap.mkdir(parents=True, exist_ok=True)
    return snap


def write_hub_model(cache: Path, repo: str, config: Any, seed: int = 0) -> Path:
    """A random-weight snapshot of `repo` in the cache at `cache` (HF_HUB_CACHE); returns the snapshot folder."""
    snap = _snapshot(cache, repo)
    write_checkpoint(snap, config, seed)
    gen = snap / "generation_config.json"
    if not gen.exists():
        gen.write_text("{}")
    return snap


def write_sae_folder(folder: Path, cfg: dict[str, Any], d_in: int, d_sae: int, seed: int = 0,
                     sparsity: bool = True) -> None:
    """A sae_lens standard SAE folder: cfg.json, sae_weights.safetensors (W_enc, b_enc, W_dec, b_dec), sparsity."""
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    w_dec = torch.randn(d_sae, d_in, generator=g)
    w_dec = w_dec / w_dec.norm(dim=1, keepdim=True)
    save_file({"W_enc": w_dec.T.contiguous(), "b_enc": torch.zeros(d_sae), "W_dec": w_dec.contiguous(),
               "b_dec": torch.zeros(d_in)}, str(folder / "sae_weights.safetensors"))
    if sparsity:
        save_file({"sparsity": torch.full((d_sae,), -3.0)}, str(folder / "sparsity.safetensors"))


def write_sae_release(cache: Path, release: str, sae_id: str, cfg: dict[str, Any], d_in: int, d_sae: int,
                      seed: int = 0) -> Path:
    """The files sae_lens reads for (`release`, `sae_id`), in the cache, at the folder its catalog names."""
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    entry = get_pretrained_saes_directory()[release]
    folder = entry.saes_map[sae_id]
    snap = _snapshot(cache, entry.repo_id)
    write_sae_folder(snap / folder, cfg, d_in, d_sae, seed)
    return snap / folder


# ---------------------------------------------------------------- the seed study's models and SAE releases

SEED_MODELS = {"gpt2-small": "gpt2", "pythia-70m-deduped": "EleutherAI/pythia-70m-deduped"}
"""The seed study's transformer_lens names -> the Hugging Face repos `from_pretrained` reads."""

PAPER_RELEASES: dict[str, dict[str, str]] = {
    "gpt2-small": {"attn_out": "gpt2-small-attn-out-v5-32k", "mlp_out": "gpt2-small-mlp-out-v5-32k",
                   "resid_mid": "gpt2-small-resid-mid-v5-32k", "resid_post": "gpt2-small-resid-post-v5-32k"},
    "pythia-70m-deduped": {"attn_out": "pythia-70m-deduped-att-sm", "mlp_out": "pythia-70m-deduped-mlp-sm",
                           "resid_post": "pythia-70m-deduped-res-sm"},
}
"""`sae: paper` (interf_dsl/resolve/catalogs/saes.yaml): model -> hook site -> sae_lens release."""


def seed_configs(full: bool) -> dict[str, tuple[Any, int]]:
    """transformer_lens name -> (transformers config, d_sae): the real configs of gpt2 and
    EleutherAI/pythia-70m-deduped with the releases' 32,768 features, or small ones of the same architectures."""
    import transformers as tf

    if full:
        gpt2 = tf.GPT2Config(n_layer=12, n_embd=768, n_head=12, n_positions=1024, n_ctx=1024, vocab_size=50257)
        pythia = tf.GPTNeoXConfig(num_hidden_layers=6, hidden_size=512, num_attention_heads=8,
                                  intermediate_size=2048, max_position_embeddings=2048, rotary_pct=0.25,
                                  rotary_emb_base=10000, vocab_size=50304, use_parallel_residual=True)
        return {"gpt2-small": (gpt2, 32768), "pythia-70m-deduped": (pythia, 32768)}
    gpt2 = small_config("gpt2")
    gpt2.n_ctx = gpt2.n_positions  # the real gpt2 config.json carries n_ctx; transformer_lens reads it
    return {"gpt2-small": (gpt2, 256), "pythia-70m-deduped": (small_config("gpt_neox"), 256)}


def release_cfg(release: str, hook: str, d_in: int, d_sae: int) -> dict[str, Any]:
    """The cfg.json a paper release's repo holds for `hook` (SAELens 5 layout: no sae_lens_version, so sae_lens
    reads it through its pre-6.0 conversion), at `d_in` x `d_sae`. The OpenAI v5-32k SAEs are TopK (k = 32)
    with layer-norm input normalisation, trained on 64-token contexts; the `-sm` ones ReLU SAEs."""
    model = "gpt2-small" if release.startswith("gpt2") else "pythia-70m-deduped"
    cfg: dict[str, Any] = {"architecture": "standard", "d_in": d_in, "d_sae": d_sae, "dtype": "float32",
                           "device": "cpu", "model_name": model, "hook_name": hook,
                           "hook_layer": int(hook.split(".")[1]), "hook_head_index": None,
                           "apply_b_dec_to_input": True, "finetuning_scaling_factor": False}
    if release.endswith("-v5-32k"):
        return {**cfg, "activation_fn_str": "topk", "activation_fn_kwargs": {"k": min(32, d_sae)},
                "normalize_activations": "layer_norm", "context_size": 64,
                "dataset_path": "apollo-research/Skylion007-openwebtext-tokenizer-gpt2"}
    return {**cfg, "activation_fn_str": "relu", "normalize_activations": "none", "context_size": 128}


def write_seed_cache(cache: Path, full: bool = False, layers: tuple[int, ...] | None = None) -> dict[str, Any]:
    """The seed study's Hugging Face cache: GPT-2-Small and Pythia-70M-deduped snapshots and every paper release
    (`PAPER_RELEASES`) at `layers` (default: all of the model's), random weights, the real repos' file layouts.
    Returns {transformer_lens name: config} of the models written."""
    configs = seed_configs(full)
    for i, (name, (config, d_sae)) in enumerate(configs.items()):
        write_hub_model(cache, SEED_MODELS[name], config, seed=1 + i)
        d_in, n_layers = config.hidden_size, config.num_hidden_layers
        for site, release in PAPER_RELEASES[name].items():
            for layer in layers if layers is not None else range(n_layers):
                hook = f"blocks.{layer}.hook_{site}"
                write_sae_release(cache, release, hook, release_cfg(release, hook, d_in, d_sae), d_in, d_sae,
                                  seed=100 * i + 10 * layer + len(site))
    return {name: config for name, (config, _) in configs.items()}
