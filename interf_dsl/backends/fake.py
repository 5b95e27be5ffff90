"""Backends: a scripted fake backend for unit tests (no torch).

Input: a vocabulary of token strings and a seed. Output: the `base.Backend` protocol over a linear "model" with known
answers: the activation at every hook is the input embedding, `act[i] = E[token_i]`, and the next-token logits are
`(act[-1] * mult + add) @ U`. So adding `alpha * v` moves the logits by exactly `alpha * v @ U`, and the embedding
gradient of ⟨act[p], probe⟩ is `probe` at each position. Every call is recorded in `calls`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interf_dsl.errors import BackendError


@dataclass
class FakeBackend:
    """A linear stand-in model; `calls` lists (method, details) for every call."""

    vocab: list[str]
    d_model: int = 8
    hooks: tuple[str, ...] = ("blocks.0.hook_resid_post", "blocks.1.hook_attn_out", "blocks.1.hook_mlp_out")
    seed: int = 0
    name: str = "fake"
    counters: Any = None
    W_E: np.ndarray | None = None
    W_U: np.ndarray | None = None
    calls: list[tuple[str, dict]] = field(default_factory=list)
    capabilities: tuple[str, ...] = ("hooks", "sae", "logprobs", "gradients")
    on_cpu: bool = True

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        if self.W_E is None:
            self.W_E = rng.normal(size=(len(self.vocab), self.d_model)).astype(np.float32)
        if self.W_U is None:
            self.W_U = rng.normal(size=(self.d_model, len(self.vocab))).astype(np.float32)
        self.d_vocab = len(self.vocab)
        self.n_layers = 2
        self._index = {s: i for i, s in enumerate(self.vocab)}

    def _count(self, forward: int = 0, gradient: int = 0) -> None:
        if self.counters is not None:
            self.counters.forward_passes += forward
            self.counters.gradient_passes += gradient

    def check_hook(self, hook: str) -> None:
        if hook not in self.hooks:
            raise BackendError(f"hook '{hook}' matches nothing in model '{self.name}'", name=hook,
                               choices=self.hooks)

    def hook_dim(self, hook: str) -> int:
        self.check_hook(hook)
        return self.d_model

    def tokenize(self, text: str) -> list[int]:
        # Greedy longest match over the vocabulary; unknown characters are an error.
        out, i = [], 0
        while i < len(text):
            for j in range(len(text), i, -1):
                if text[i:j] in self._index:
                    out.append(self._index[text[i:j]])
                    i = j
                    break
            else:
                raise BackendError(f"fake tokenizer cannot encode {text[i:]!r}")
        return out

    def token_str(self, token_id: int) -> str:
        return self.vocab[int(token_id)]

    def first_token_id(self, text: str) -> int:
        return self.tokenize(text)[0]

    def embedding(self) -> np.ndarray:
        return self.W_E

    def last_logits(self, seqs: list[list[int]]) -> np.ndarray:
        self.calls.append(("last_logits", {"n": len(seqs)}))
        self._count(forward=len(seqs))
        return np.stack([self.W_E[s[-1]] @ self.W_U for s in seqs]).astype(np.float32)

    def edited_logits(self, seq: list[int], hook: str, mult: np.ndarray | None, add: np.ndarray | None,
                      *, naive: bool = False, on_device: bool = False) -> np.ndarray:
        self.check_hook(hook)
        rows = (mult if mult is not None else add).shape[0]
        self.calls.append(("edited_logits", {"hook": hook, "rows": rows, "naive": naive, "seq": list(seq)}))
        self._count(forward=rows)
        act = np.repeat(self.W_E[seq[-1]][None, :], rows, axis=0)
        if mult is not None:
            act = act * mult
        if add is not None:
            act = act + add
        return (act @ self.W_U).astype(np.float32)

    def edited_logits_many(self, seqs: list[list[int]], hook: str, mult: np.ndarray | None, add: np.ndarray | None,
                           *, rows_per_forward: int) -> np.ndarray:
        self.calls.append(("edited_logits_many", {"hook": hook, "sentences": len(seqs),
                                                  "rows_per_forward": rows_per_forward}))
        return np.concatenate([self.edited_logits(s, hook, mult, add) for s in seqs])

    def activations(self, seqs: list[list[int]], hook: str) -> np.ndarray:
        self.check_hook(hook)
        self.calls.append(("activations", {"hook": hook, "n": len(seqs)}))
        self._count(forward=len(seqs))
        return np.concatenate([self.W_E[s] for s in seqs])

    def embed_gradient(self, seq: list[int], hook: str, positions: list[int], probe: np.ndarray) -> np.ndarray:
        self.check_hook(hook)
        self.calls.append(("embed_gradient", {"hook": hook, "positions": list(positions)}))
        self._count(forward=1, gradient=len(positions))
        return (len(positions) * np.asarray(probe, np.float32)).astype(np.float32)
