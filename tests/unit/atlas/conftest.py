"""Fixtures: a tiny random-weight HookedTransformer with a word-level tokenizer and a random SAE on its hook."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

WORDS = ["<eos>", "the", "cat", "dog", "sat", "on", "mat", "paris", "london", "red", "blue", "one", "two", "three",
         "ran", "big", "small", "house", "tree", "sky", "a", "and", "is", "in", "to", "of", "green", "four", "city",
         "bird", "fish", "car"]
TEXT = ("the cat sat on the mat and the dog ran to the big house in paris\n\n"
        "a red bird is in the blue sky and one fish two fish three fish\n\n"
        "the small car is green and four trees grow in the city of london\n\n") * 6


def build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<eos>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<eos>", pad_token="<eos>")


@pytest.fixture(scope="session")
def tiny_model():
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    torch.manual_seed(0)
    cfg = HookedTransformerConfig(n_layers=2, d_model=16, d_head=8, n_heads=2, d_mlp=32, n_ctx=32,
                                  d_vocab=len(WORDS), act_fn="gelu", normalization_type="LN", seed=0)
    model = HookedTransformer(cfg, tokenizer=build_tokenizer(), default_padding_side="right")
    model.eval()
    return model


@pytest.fixture(scope="session")
def tiny_sae():
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig

    torch.manual_seed(1)
    sae = StandardSAE(StandardSAEConfig(d_in=16, d_sae=24))
    with torch.no_grad():
        sae.W_enc.normal_(0, 0.5)
        sae.W_dec.copy_(sae.W_enc.T.clone())
        sae.b_enc.fill_(-0.1)
    return sae


@pytest.fixture
def corpus_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path
