"""Integration tier: every zoo model and SAE loads fast and still measures what the card says; the real-model
code paths (GPT-2-Small, Pythia-70M, 32k-wide SAEs) run offline on random weights of the real shapes."""

from __future__ import annotations

import json
import time

import pytest

from interf_dsl.backends.loading import load_model, load_sae
from interf_dsl.errors import BackendError
from interf_dsl.zoo import catalog, tokens
from interf_dsl.zoo.models import N_CTX, eval_loss
from interf_dsl.zoo.sae_metrics import slice_stats

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def zoo_models() -> dict:
    import torch

    torch.set_num_threads(2)
    load_model("zoo:gpt2-tiny")  # first call pays the library imports; the timed loads below do not
    out = {}
    for name in catalog.ZOO_MODELS:
        t0 = time.perf_counter()
        out[name] = (load_model(f"zoo:{name}"), time.perf_counter() - t0)
    return out


@pytest.fixture(scope="module")
def atlas_stream():
    return tokens.eval_slice(catalog.read_heldout("atlas"), catalog.artifacts_dir() / "tokenizer")


@pytest.mark.parametrize("name", catalog.ZOO_MODELS)
def test_model_loads_fast_with_a_working_tokenizer(zoo_models, name) -> None:
    model, seconds = zoo_models[name]
    assert seconds < 2.0
    info = catalog.model_info(name)
    assert (model.cfg.n_layers, model.cfg.d_model, model.cfg.d_vocab) == (info["n_layers"], info["d_model"],
                                                                          info["d_vocab"])
    toks = model.to_tokens("The cat sat on the mat.")
    assert toks[0, 0].item() == model.tokenizer.bos_token_id
    assert model.to_string(toks[0, 1:]) == "The cat sat on the mat."
    assert model.to_str_tokens("a dog")[0] == "<|endoftext|>"


@pytest.mark.parametrize("name", catalog.ZOO_MODELS)
def test_model_slice_loss_matches_card(zoo_models, atlas_stream, name) -> None:
    model, _ = zoo_models[name]
    info = catalog.model_info(name)
    loss = eval_loss(model, atlas_stream, n_windows=info["slice"]["windows"])
    assert abs(loss - info["slice_loss"]) < 0.05
    assert info["slice"]["window"] == N_CTX


@pytest.mark.parametrize("ref", catalog.list_saes())
def test_sae_loads_fast_and_matches_card(zoo_models, atlas_stream, ref) -> None:
    info = catalog.sae_info(ref)
    t0 = time.perf_counter()
    sae = load_sae(f"zoo:{ref}")
    assert time.perf_counter() - t0 < 2.0
    assert sae.cfg.metadata.hook_name == info["hook_name"]
    assert (sae.cfg.d_in, sae.cfg.d_sae) == (info["d_in"], info["d_sae"])
    model, _ = zoo_models[info["model"]]
    assert info["hook_name"] in model.hook_dict
    card = info["slice_metrics"]
    stats = slice_stats(model, sae, atlas_stream, n_windows=card.get("windows", tokens.EVAL_SLICE_WINDOWS))
    assert abs(stats["l0"] - card["l0"]) < 1.0
    assert abs(stats["explained_variance"] - card["explained_variance"]) < 0.03


# ---------------------------------------------------------------- real-model code paths, random weights

REAL_SHAPES = {
    "gpt2-small": dict(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, d_vocab=50257, n_ctx=1024,
                       act_fn="gelu_new", normalization_type="LN", positional_embedding_type="standard",
                       original_architecture="GPT2LMHeadModel"),
    "pythia-70m-deduped": dict(n_layers=6, d_model=512, n_heads=8, d_head=64, d_mlp=2048, d_vocab=50304,
                               n_ctx=2048, act_fn="gelu", normalization_type="LN", positional_embedding_type="rotary",
                               rotary_dim=16, parallel_attn_mlp=True, original_architecture="GPTNeoXForCausalLM"),
}


@pytest.mark.parametrize("name", REAL_SHAPES)
def test_real_model_shapes_load_through_the_local_directory_path(tmp_path, name) -> None:
    import shutil

    import torch
    from safetensors.torch import save_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(**REAL_SHAPES[name], seed=0)
    model = HookedTransformer(cfg)
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()
               if not k.endswith((".IGNORE", ".mask", "rotary_sin", "rotary_cos"))}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"hooked_transformer_config": REAL_SHAPES[name]}))
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(catalog.artifacts_dir() / "tokenizer" / f, tmp_path / f)
    loaded = load_model(str(tmp_path))
    assert loaded.cfg.d_model == REAL_SHAPES[name]["d_model"]
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        logits = loaded(loaded.to_tokens("hello"))
    assert logits.shape[-1] == REAL_SHAPES[name]["d_vocab"]


def test_paper_width_sae_loads_from_disk(tmp_path) -> None:
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    cfg = StandardSAEConfig(d_in=768, d_sae=32768, metadata=SAEMetadata(hook_name="blocks.8.hook_resid_pre",
                                                                          model_name="gpt2-small"))
    sae = StandardSAE(cfg)
    torch.nn.init.normal_(sae.W_dec, std=0.02)
    sae.save_model(tmp_path)
    loaded = load_sae(str(tmp_path))
    assert (loaded.cfg.d_in, loaded.cfg.d_sae) == (768, 32768)
    assert torch.equal(loaded.W_dec, sae.W_dec)


def test_sae_without_hook_name_is_refused(tmp_path) -> None:
    from sae_lens import StandardSAE, StandardSAEConfig

    StandardSAE(StandardSAEConfig(d_in=16, d_sae=64)).save_model(tmp_path)
    with pytest.raises(BackendError, match="no hook_name"):
        load_sae(str(tmp_path))
