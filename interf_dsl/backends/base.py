"""Backends: the protocol every local model backend implements for the intervention foci.

Input: token ids, a hook name and per-row edits. Output: next-token logits at the last position (numpy, float32).
Implementations: `hooked.HookedBackend` (transformer_lens + sae_lens) and `fake.FakeBackend` (scripted linear model
for unit tests; it records every call). The intervention kinds (`interf_dsl/interventions/`) only talk to this
protocol, so they can be tested without torch.

An edit at a hook is `act' = act * mult[row] + add[row]`, broadcast over positions: steering is `mult=None,
add=alpha*v`, neuron scaling is `mult=ones with one coordinate set to the scale, add=None`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from interf_dsl.errors import BackendError

if TYPE_CHECKING:
    import numpy as np

_BLOCK = re.compile(r"^blocks\.(\d+)\.")
EMBED_HOOKS = ("hook_embed", "hook_pos_embed")


def layer_of_hook(hook: str) -> int | None:
    """The block index a hook name lives in; None for the embedding hooks.

    Raises:
        BackendError: the name is neither `blocks.<L>.…` nor an embedding hook.
    """
    m = _BLOCK.match(hook)
    if m:
        return int(m.group(1))
    if hook in EMBED_HOOKS:
        return None
    raise BackendError(f"cannot tell which layer hook '{hook}' belongs to", hint="expected blocks.<L>.<name>")


class Backend(Protocol):
    """A local model that can be run with per-row edits at one hook."""

    name: str
    capabilities: tuple[str, ...]
    d_vocab: int
    n_layers: int
    on_cpu: bool
    """Whether the model runs on the CPU (the sweep batches sentences only on an accelerator)."""

    def check_hook(self, hook: str) -> None:
        """Raise BackendError when `hook` matches nothing in the model."""

    def hook_dim(self, hook: str) -> int:
        """Width of the activation at `hook`."""

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, without BOS (the authors' steering convention, docs/method.md §5)."""

    def token_str(self, token_id: int) -> str:
        """The string of one token id."""

    def first_token_id(self, text: str) -> int:
        """Id of the first sub-token of `text` (docs/method.md §3.1)."""

    def embedding(self) -> np.ndarray:
        """The input token-embedding matrix W_E, shape (d_vocab, d_model)."""

    def last_logits(self, seqs: list[list[int]]) -> np.ndarray:
        """Unedited next-token logits after each sequence, shape (len(seqs), d_vocab)."""

    def edited_logits(self, seq: list[int], hook: str, mult: np.ndarray | None, add: np.ndarray | None,
                      *, naive: bool = False, on_device: bool = False) -> Any:
        """Next-token logits after `seq` for each edit row, shape (rows, d_vocab).

        The fast way (default) runs the prefix up to the hook's block once and all rows in one batch from there;
        `naive=True` runs one full forward per row (the authors' way), for equivalence checks and benchmarks.
        `on_device=True` returns them where the model computed them (a torch tensor on its device), so metrics run
        there; backends without a device (numpy) return the array either way.
        """

    def edited_logits_many(self, seqs: list[list[int]], hook: str, mult: np.ndarray | None, add: np.ndarray | None,
                           *, rows_per_forward: int) -> Any:
        """`edited_logits` of every sentence in one go: [len(seqs) × rows, d_vocab], sentence-major (the rows of
        sentence k are k·rows … (k+1)·rows − 1), at most `rows_per_forward` rows per forward (right-padded)."""

    def activations(self, seqs: list[list[int]], hook: str) -> np.ndarray:
        """Activations at `hook` for every position of every sequence, concatenated: (sum of lengths, d)."""

    def embed_gradient(self, seq: list[int], hook: str, positions: list[int], probe: np.ndarray) -> np.ndarray:
        """Σ_i ∂⟨a_hook[i], probe⟩/∂e_i over `positions` (gradient at the same position), shape (d_model,)."""
