"""Backends, standard checkpoints: load a Hugging Face `save_pretrained` directory into a HookedTransformer.

Input: a directory `checkpoints.checkpoint_problem` accepts and the weight processing to apply. Output: a
`HookedTransformer` built by transformer_lens' own conversion: its config converter reads the directory's
config.json (Gemma and Gemma-2, which transformer_lens configures by Hub name only, are mapped here from the same
fields), its weight converter (`get_pretrained_state_dict` with the transformers model as `hf_model`) renames and
reshapes the weights, and `load_and_process_state_dict` applies fold_ln and the rest, as `from_pretrained` does.
The model carries the processing it got as `model.interf_processing`. Its heavy imports (torch, transformers,
transformer_lens) are inside the functions.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.backends.checkpoints import DEFAULT_PROCESSING, architecture_of, checkpoint_problem
from interf_dsl.errors import BackendError

if TYPE_CHECKING:
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import PreTrainedModel


def _gemma_cfg_dict(hf: dict[str, Any], arch: str) -> dict[str, Any]:
    """transformer_lens config fields of a Gemma / Gemma-2 config (transformer_lens maps these by Hub name only)."""
    d_head = hf.get("head_dim") or hf["hidden_size"] // hf["num_attention_heads"]
    n_kv = hf.get("num_key_value_heads") or hf["num_attention_heads"]
    out: dict[str, Any] = {
        "d_model": hf["hidden_size"], "d_head": d_head, "n_heads": hf["num_attention_heads"],
        "d_mlp": hf["intermediate_size"], "n_layers": hf["num_hidden_layers"],
        "n_ctx": hf["max_position_embeddings"], "eps": hf.get("rms_norm_eps", 1e-6), "d_vocab": hf["vocab_size"],
        "act_fn": hf.get("hidden_activation") or hf.get("hidden_act") or "gelu_pytorch_tanh",
        "normalization_type": "RMS", "positional_embedding_type": "rotary", "rotary_dim": d_head,
        "rotary_base": float((hf.get("rope_parameters") or {}).get("rope_theta") or hf.get("rope_theta") or 10000.0),
        "use_attn_scale": True, "n_key_value_heads": n_kv if n_kv != hf["num_attention_heads"] else None,
        "gated_mlp": True, "final_rms": True, "original_architecture": arch,
    }
    if arch == "Gemma2ForCausalLM":
        n = hf["num_hidden_layers"]
        layer_types = hf.get("layer_types") or ["sliding_attention" if i % 2 == 0 else "full_attention"
                                                for i in range(n)]
        out.update({"window_size": hf.get("sliding_window"), "use_local_attn": True,
                    "attn_types": ["local" if t == "sliding_attention" else "global" for t in layer_types],
                    "attn_scores_soft_cap": float(hf.get("attn_logit_softcapping") or -1.0),
                    "output_logits_soft_cap": float(hf.get("final_logit_softcapping") or -1.0),
                    "use_normalization_before_and_after": True})
        scalar = hf.get("query_pre_attn_scalar")
        if scalar:
            out["attn_scale"] = float(scalar) ** 0.5
    return out


def _cfg_dict(path: Path, hf: dict[str, Any]) -> dict[str, Any]:
    from transformer_lens import loading_from_pretrained as tl_loading

    arch = architecture_of(hf)
    if arch in ("GemmaForCausalLM", "Gemma2ForCausalLM"):
        return _gemma_cfg_dict(hf, arch)
    # transformer_lens matches names in the path ("llama", "gemma-2-", ...) before reading config.json: hand it a
    # neutral directory holding only the config; its GPT-2 branch reads n_ctx, which transformers 5 no longer
    # writes (n_positions is the same number)
    if arch == "GPT2LMHeadModel" and "n_ctx" not in hf and "n_positions" in hf:
        hf = {**hf, "n_ctx": hf["n_positions"]}
    with tempfile.TemporaryDirectory(prefix="interf-ckpt-") as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(hf), encoding="utf-8")
        return tl_loading.convert_hf_model_config(tmp)


def hooked_config(path: Path, *, fold_ln: bool, device: str, dtype: torch.dtype) -> HookedTransformerConfig:
    """The HookedTransformerConfig of a checkpoint directory, as `get_pretrained_model_config` builds it."""
    from transformer_lens import HookedTransformerConfig

    hf = json.loads((path / "config.json").read_text(encoding="utf-8"))
    cfg = _cfg_dict(path, hf)
    cfg.update({"model_name": path.name, "init_weights": False, "device": device, "dtype": dtype, "n_devices": 1,
                "from_checkpoint": False, "tokenizer_name": str(path)})
    cfg.setdefault("default_prepend_bos", True)
    cfg["d_vocab"] = hf.get("vocab_size", cfg["d_vocab"])
    if fold_ln:
        cfg["normalization_type"] = {"LN": "LNPre", "RMS": "RMSPre"}.get(cfg["normalization_type"],
                                                                         cfg["normalization_type"])
    return HookedTransformerConfig.from_dict(cfg)


def _effective(cfg: HookedTransformerConfig, processing: dict[str, bool]) -> dict[str, bool]:
    """The processing transformer_lens can apply to this config (as `from_pretrained` turns the rest off)."""
    from transformer_lens.utilities.architectures import POST_NORM_ARCHITECTURES

    out = dict(processing)
    if out["center_unembed"] and cfg.output_logits_soft_cap > 0:
        out["center_unembed"] = False  # softcapped logits are not invariant to a constant shift
    if cfg.original_architecture in POST_NORM_ARCHITECTURES:
        out["fold_ln"] = out["center_writing_weights"] = False
    return out


def load_hf_checkpoint(path: Path | str, processing: dict[str, bool] | None = None, device: str = "cpu",
                       dtype: str = "float32", hf_model: PreTrainedModel | None = None) -> HookedTransformer:
    """A HookedTransformer from a Hugging Face checkpoint directory, through transformer_lens' conversion.

    Raises:
        BackendError: an unsupported architecture, missing weights or tokenizer, or weights the converter refuses.
    """
    import torch
    from transformer_lens import HookedTransformer
    from transformer_lens import loading_from_pretrained as tl_loading
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    problem = checkpoint_problem(path)
    if problem is not None:
        raise BackendError(f"model directory {path}: {problem}",
                           hint="a standard checkpoint is save_pretrained output: config.json, model.safetensors, "
                                "tokenizer files (docs/checkpoints.md)")
    torch_dtype = getattr(torch, dtype)
    wanted = dict(processing or DEFAULT_PROCESSING)
    cfg = hooked_config(path, fold_ln=False, device=device, dtype=torch_dtype)
    applied = _effective(cfg, wanted)
    if applied["fold_ln"]:
        cfg = hooked_config(path, fold_ln=True, device=device, dtype=torch_dtype)
    try:
        if hf_model is None:
            hf_model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype)
        hf_model.eval()
        state = tl_loading.get_pretrained_state_dict(str(path), cfg, hf_model, dtype=torch_dtype)
    except (OSError, ValueError, KeyError, AttributeError, RuntimeError) as exc:
        raise BackendError(f"model directory {path}: transformer_lens could not convert its weights ({exc})") from exc
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = HookedTransformer(cfg, tokenizer, move_to_device=False)
    model.load_and_process_state_dict(state, refactor_factored_attn_matrices=False, **applied)
    model.to(device)
    model.eval()
    model.interf_processing = applied  # type: ignore[attr-defined]
    return model
