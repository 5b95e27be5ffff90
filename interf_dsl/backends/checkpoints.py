"""Backends, standard checkpoints: what a Hugging Face `save_pretrained` directory is, read without torch.

Input: a local directory (`config.json` with `model_type` / `architectures`, `model.safetensors` or its shards,
tokenizer files) and, for weight processing, the `model_from_pretrained_kwargs` an SAE declares. Output: the
directory's problem (or None), its shape (layers, widths, vocabulary, context) for validation, and the weight
processing to load it with, written into the model reference (`<ref>#fold_ln=0,...`) so the plan's step hash and
the `load_model` step's meta both carry it. `hf_load.py` does the loading (torch, transformers, transformer_lens).

Supported architectures are those whose conversion transformer_lens ships (`SUPPORTED_ARCHITECTURES`); the parity
tests (`tests/unit/backends/test_parity.py`) pin GPT-2, GPT-NeoX, Llama, Gemma and Gemma-2 against transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUPPORTED_ARCHITECTURES: dict[str, str] = {
    "GPT2LMHeadModel": "gpt2", "GPTNeoXForCausalLM": "gpt_neox", "LlamaForCausalLM": "llama",
    "GemmaForCausalLM": "gemma", "Gemma2ForCausalLM": "gemma2", "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2", "GPTNeoForCausalLM": "gpt_neo", "GPTJForCausalLM": "gptj",
    "OPTForCausalLM": "opt",
}
"""Hugging Face architecture class -> model_type, for those transformer_lens converts to a HookedTransformer."""

PARALLEL_ATTN_MLP = frozenset({"GPTJForCausalLM"})
"""Architectures whose attention and MLP read the same residual (no resid_mid); GPT-NeoX says so in its config."""

PROCESSING_KEYS: tuple[str, ...] = ("fold_ln", "center_writing_weights", "center_unembed", "fold_value_biases")
"""The weight processing `HookedTransformer.from_pretrained` applies, in the order a reference spells it."""

DEFAULT_PROCESSING: dict[str, bool] = dict.fromkeys(PROCESSING_KEYS, True)
"""transformer_lens' `from_pretrained` defaults: what a model without an SAE that says otherwise is loaded with."""

_TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"), ("tokenizer.model",))


def read_hf_config(path: Path) -> dict[str, Any] | None:
    """The directory's config.json when it is a Hugging Face one (has `model_type` or `architectures`), else None."""
    cfg = path / "config.json"
    try:
        raw = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(raw, dict) or "hooked_transformer_config" in raw:
        return None
    return raw if ("model_type" in raw or "architectures" in raw) else None


def architecture_of(cfg: dict[str, Any]) -> str | None:
    """The Hugging Face architecture class a config names (its first `architectures` entry), or None."""
    archs = cfg.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str):
        return archs[0]
    by_type = {t: a for a, t in SUPPORTED_ARCHITECTURES.items()}
    return by_type.get(str(cfg.get("model_type")))


def _weights(path: Path) -> list[Path]:
    return sorted(path.glob("*.safetensors")) or sorted(path.glob("pytorch_model*.bin"))


def checkpoint_problem(path: Path) -> str | None:
    """Why a Hugging Face checkpoint directory cannot be loaded (architecture, weights, tokenizer), or None."""
    cfg = read_hf_config(path)
    if cfg is None:
        return f"{path}/config.json is not a Hugging Face model config (no model_type or architectures)"
    arch = architecture_of(cfg)
    if arch not in SUPPORTED_ARCHITECTURES:
        return (f"architecture {arch or cfg.get('model_type')!r} is not one transformer_lens converts "
                f"(supported: {', '.join(sorted(SUPPORTED_ARCHITECTURES))})")
    if not _weights(path):
        return f"{path} has no weights (model.safetensors, its shards, or pytorch_model.bin)"
    if not any(all((path / f).is_file() for f in group) for group in _TOKENIZER_FILES):
        return f"{path} has no tokenizer (tokenizer.json, vocab.json + merges.txt, or tokenizer.model)"
    missing = [k for k, v in hf_shape(cfg).items() if k in ("n_layers", "d_model") and not v]
    if missing:
        return f"{path}/config.json does not give {' and '.join(missing)}"
    return None


def _first(cfg: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = cfg.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def hf_shape(cfg: dict[str, Any]) -> dict[str, Any]:
    """n_layers, d_model, d_mlp, d_vocab, n_ctx, parallel_attn_mlp of a Hugging Face config (None where unknown)."""
    d_model = _first(cfg, "hidden_size", "n_embd", "d_model")
    arch = architecture_of(cfg)
    d_mlp = _first(cfg, "intermediate_size", "ffn_dim")
    if d_mlp is None and d_model and arch in ("GPT2LMHeadModel", "GPTJForCausalLM"):
        d_mlp = 4 * d_model  # transformer_lens' GPT-2 and GPT-J conversions use 4 * d_model
    parallel = arch in PARALLEL_ATTN_MLP or (arch == "GPTNeoXForCausalLM" and cfg.get("use_parallel_residual", True))
    return {"n_layers": _first(cfg, "num_hidden_layers", "n_layer", "num_layers"), "d_model": d_model,
            "d_mlp": d_mlp, "d_vocab": _first(cfg, "vocab_size"),
            "n_ctx": _first(cfg, "n_positions", "n_ctx", "max_position_embeddings"),
            "parallel_attn_mlp": bool(parallel)}


# ---------------------------------------------------------------- weight processing in the reference

def processing_from_sae(kwargs: dict[str, Any] | None) -> dict[str, bool]:
    """The processing an SAE was trained with: sae_lens trains on `from_pretrained_no_processing(**kwargs)` when
    it records `model_from_pretrained_kwargs`; an SAE that records nothing gets transformer_lens' defaults."""
    if not kwargs:
        return dict(DEFAULT_PROCESSING)
    return {k: bool(kwargs.get(k, False)) for k in PROCESSING_KEYS}


def with_processing(ref: str, processing: dict[str, bool]) -> str:
    """`ref` with its weight processing appended: `/ckpt#fold_ln=1,center_writing_weights=0,...`."""
    return ref + "#" + ",".join(f"{k}={int(bool(processing[k]))}" for k in PROCESSING_KEYS)


def split_processing(ref: str) -> tuple[str, dict[str, bool] | None]:
    """(reference, processing) of a reference written by `with_processing`; (ref, None) for any other."""
    head, sep, tail = ref.rpartition("#")
    if not sep:
        return ref, None
    parts = dict(p.split("=", 1) for p in tail.split(",") if "=" in p)
    if set(parts) != set(PROCESSING_KEYS) or not set(parts.values()) <= {"0", "1"}:
        return ref, None
    return head, {k: parts[k] == "1" for k in PROCESSING_KEYS}
