"""Test helpers: a tiny random-weight model with a byte-level BPE tokenizer, served by `interf serve`'s app.

Importable by any test: `tiny_model()` builds (once per process) a 2-layer HookedTransformer whose tokenizer was
trained on a few sentences; `served(model, **kw)` starts the OpenAI-compatible app on 127.0.0.1 with a free port in
a uvicorn thread and yields its `api_base`; the pytest fixtures `tiny_served` / `transfer_server` wrap them.
Type labels for the tiny vocabulary come from `TINY_TYPES` (a few words per type, as decoded token strings).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TINY_TYPES: dict[str, list[str]] = {
    "location": [" Paris", " London", " Berlin", " Rome", " city", " village"],
    "number": [" one", " two", " three", " four", " ten", " seven"],
    "animal": [" cat", " dog", " horse", " bird", " fish"],
}
_FILLER = ("the a of in to and is was for on with at by from he she it they we you went saw found put "
           "there here big small red green quickly slowly house car tree book road river table window").split()
_CORPUS = [f"we went to {w.strip()} and saw {v.strip()} near the {f}"
           for ws in TINY_TYPES.values() for w in ws for v in TINY_TYPES["animal"] for f in _FILLER[:6]]
_CORPUS += [" ".join(_FILLER)] * 5


@functools.cache
def tiny_tokenizer_dir() -> Path:
    """A byte-level BPE tokenizer (vocab ~300) trained on a few sentences, saved to a temp folder."""
    import tempfile

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer)
    out = Path(tempfile.mkdtemp(prefix="interf-tinytok-"))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    fast.save_pretrained(out)
    return out


@functools.cache
def tiny_model(seed: int = 0) -> Any:
    """A random-weight 2-layer HookedTransformer over the tiny tokenizer (built once, never mutated)."""
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir())
    torch.manual_seed(seed)
    cfg = HookedTransformerConfig(n_layers=2, d_model=32, n_ctx=256, d_head=8, n_heads=4, d_mlp=64,
                                  d_vocab=len(tokenizer), act_fn="gelu", seed=seed, device="cpu")
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    model.eval()
    return model


def tiny_type_strings() -> dict[str, list[str]]:
    """Type → decoded token strings of the tiny vocabulary (only strings that are single tokens)."""
    tok = tiny_model().tokenizer
    out: dict[str, list[str]] = {}
    for t, words in TINY_TYPES.items():
        out[t] = [w for w in words if len(tok.encode(w, add_special_tokens=False)) == 1]
    return out


@contextlib.contextmanager
def served(model: Any = None, *, name: str = "tiny", port: int | None = None, **kw: Any) -> Iterator[str]:
    """Serve `model` (default: the tiny model) on 127.0.0.1:<port or a free one>; yields the `/v1` api_base."""
    from interf_dsl.transfer.serve import ServerThread, create_app

    app = create_app(model if model is not None else tiny_model(), name=name, **kw)
    with ServerThread(app, port=port) as server:
        yield server.api_base


@pytest.fixture
def transfer_server() -> Iterator[str]:
    """The tiny model served over HTTP; yields api_base (a fresh server per test)."""
    with served() as api_base:
        yield api_base
