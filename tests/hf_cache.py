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
