"""Test helpers: a tiny random-weight model with a byte-level BPE tokenizer, served by `interf serve`'s app.

Importable by any test: `tiny_model()` builds (once per process) a 2-layer HookedTransformer whose tokenizer was
trained on a few sentences; `served(model, **kw)` starts the OpenAI-compatible app on 127.0.0.1 with a free port in
a uvicorn thread and yields its `api_base`; the pytest fixtures `tiny_served` / `transfer_server` wrap them.
`served(script=...)` puts `ScriptedFaults` in front of the app: a function of each POST (its number and body)
chooses the fault for that request — one of `interf serve`'s injected faults, or a 401/403 the app cannot send.
Type labels for the tiny vocabulary come from `TINY_TYPES` (a few words per type, as decoded token strings).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from interf_dsl.transfer.faults import FAULT_HEADER

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


Script = Callable[[int, bytes], "str | None"]
"""(POST number from 0, request body) -> a fault for it: `interf_dsl.transfer.faults.FAULT_KINDS`, "401", "403", or
None (the app's own `FaultConfig` decides)."""


class ScriptedFaults:
    """ASGI middleware: asks `script` for each POST's fault; forces it through the app's fault header, or answers a
    401/403 itself (OpenAI's error shape)."""

    def __init__(self, app: Any, script: Script) -> None:
        self.app, self.script = app, script
        self.state = app.state  # ServerThread.stop closes app.state.batcher
        self.posts = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        body = b"".join(chunks)
        with self._lock:
            fault = self.script(self.posts, body)
            self.posts += 1
        if fault in ("401", "403"):
            await _send_json(send, int(fault), {"error": {
                "message": "Incorrect API key provided" if fault == "401" else "key lacks access to this model",
                "type": "invalid_request_error", "code": "invalid_api_key"}})
            return
        if fault is not None:
            scope = {**scope, "headers": [*scope["headers"], (FAULT_HEADER.encode(), fault.encode())]}
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _send_json(send: Any, status: int, payload: dict) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def faults_for(needles: tuple[str, ...], faults: list[str]) -> Script:
    """A script: a POST whose body holds one of `needles` gets `faults[i]` the i-th time that body is seen (so a
    retried request meets the next fault, and gets through once the list is used up); every other POST none."""
    seen: dict[bytes, int] = {}

    def script(n: int, body: bytes) -> str | None:
        if not any(needle.encode() in body for needle in needles):
            return None
        i = seen.get(body, 0)
        seen[body] = i + 1
        return faults[i] if i < len(faults) else None

    return script


@contextlib.contextmanager
def served(model: Any = None, *, name: str = "tiny", port: int | None = None, script: Script | None = None,
           **kw: Any) -> Iterator[str]:
    """Serve `model` (default: the tiny model) on 127.0.0.1:<port or a free one>; yields the `/v1` api_base.
    `script` puts `ScriptedFaults` in front (a script that records its calls tells a test what was sent)."""
    from interf_dsl.transfer.serve import ServerThread, create_app

    app = create_app(model if model is not None else tiny_model(), name=name, **kw)
    if script is not None:
        app = ScriptedFaults(app, script)
    with ServerThread(app, port=port) as server:
        yield server.api_base


@pytest.fixture
def transfer_server() -> Iterator[str]:
    """The tiny model served over HTTP; yields api_base (a fresh server per test)."""
    with served() as api_base:
        yield api_base
