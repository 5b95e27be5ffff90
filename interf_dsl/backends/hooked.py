"""Backends: the hooked backend (transformer_lens `HookedTransformer`, SAEs from sae_lens).

Input: a loaded `HookedTransformer` (and, for steering, SAE hook names taken from `sae.cfg.metadata.hook_name`).
Output: numpy logits / activations / gradients per the `base.Backend` protocol.

Every edit is verified (STYLE.md §14): the hook must exist in `model.hook_dict`, exactly the planned number of hook
functions must be attached, and each must fire exactly once per forward; anything else is a `BackendError`, never a
silent no-op. The fast path runs the blocks before the hook once (`stop_at_layer=L`), replicates that residual over
all edit rows and continues with `start_at_layer=L`; only the last position goes through `ln_final` and the unembed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from interf_dsl.backends.base import layer_of_hook
from interf_dsl.errors import BackendError

if TYPE_CHECKING:
    import numpy as np
    import torch


SMALL_D_MODEL = 256


def sae_hook_name(sae: Any) -> str:
    """The hook an SAE was trained on, from its own metadata (docs/method.md §8.13-14)."""
    meta = getattr(getattr(sae, "cfg", None), "metadata", None)
    hook = getattr(meta, "hook_name", None)
    if not hook:
        raise BackendError("SAE has no cfg.metadata.hook_name; cannot tell where to intervene",
                           hint="set metadata.hook_name when saving the SAE")
    return str(hook)


class HookedBackend:
    """A transformer_lens model behind the `Backend` protocol."""

    capabilities = ("hooks", "sae", "logprobs", "gradients")

    def __init__(self, model: Any, *, name: str = "", counters: Any = None, max_rows: int = 256) -> None:
        self.model = model
        self.name = name
        self.counters = counters
        self.max_rows = max_rows
        self.d_vocab = int(model.cfg.d_vocab)
        self.n_layers = int(model.cfg.n_layers)
        self._device = next(model.parameters()).device

    @property
    def on_cpu(self) -> bool:
        """Whether the model runs on the CPU (the sweep batches sentences only on an accelerator)."""
        return self._device.type == "cpu"

    @contextmanager
    def threads(self) -> Iterator[None]:
        """Run small CPU models on one intra-op thread (restored afterwards).

        A d_model ≤ `SMALL_D_MODEL` model's matmuls are too small to gain from intra-op threads, and on a shared,
        oversubscribed CPU their spin-waits made the same forwards 5-10× slower (measured on the tiny zoo at load
        10 on 2 cores: 24 × 95-token batch 0.34 s on 1 thread, 0.9-5 s on 2).
        """
        import torch

        small = self._device.type == "cpu" and int(self.model.cfg.d_model) <= SMALL_D_MODEL
        before = torch.get_num_threads()
        if small:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if small:
                torch.set_num_threads(before)

    # ---- names and tokens -------------------------------------------------------------------------------------
    def check_hook(self, hook: str) -> None:
        if hook not in self.model.hook_dict:
            names = [h for h in self.model.hook_dict if h.startswith("blocks.") and h.count(".") == 2]
            raise BackendError(f"hook '{hook}' matches nothing in model '{self.name}'", name=hook,
                               choices=tuple(names[:40]))

    def hook_dim(self, hook: str) -> int:
        self.check_hook(hook)
        return int(self.activations([[0]], hook).shape[-1])

    def tokenize(self, text: str) -> list[int]:
        return [int(t) for t in self.model.to_tokens(text, prepend_bos=False)[0].tolist()]

    def token_str(self, token_id: int) -> str:
        return self.model.to_string([int(token_id)])

    def first_token_id(self, text: str) -> int:
        ids = self.tokenize(text)
        if not ids:
            raise BackendError(f"token string {text!r} tokenizes to nothing in model '{self.name}'")
        return ids[0]

    def embedding(self) -> np.ndarray:
        return self.model.W_E.detach().float().cpu().numpy()

    # ---- counting -------------------------------------------------------------------------------------------
    def _count(self, forward: int = 0, gradient: int = 0) -> None:
        if self.counters is not None:
            self.counters.forward_passes += forward
            self.counters.gradient_passes += gradient

    # ---- forwards -------------------------------------------------------------------------------------------
    def _final_logits(self, resid: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
        """ln_final + unembed at one position per row (`last` holds the index)."""
        import torch

        rows = resid[torch.arange(resid.shape[0], device=resid.device), last]
        return self.model.unembed(self.model.ln_final(rows[:, None, :]))[:, 0, :]

    def _padded(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        import torch

        if any(len(s) == 0 for s in seqs):
            raise BackendError("cannot run an empty token sequence")
        width = max(len(s) for s in seqs)
        # Right padding is exact under causal attention: positions before the pad never see it.
        toks = torch.zeros((len(seqs), width), dtype=torch.long, device=self._device)
        for i, s in enumerate(seqs):
            toks[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        last = torch.tensor([len(s) - 1 for s in seqs], device=self._device)
        return toks, last

    def last_logits(self, seqs: list[list[int]]) -> np.ndarray:
        import numpy as np
        import torch

        out = []
        with torch.no_grad():
            for i in range(0, len(seqs), self.max_rows):
                toks, last = self._padded(seqs[i : i + self.max_rows])
                resid = self.model(toks, stop_at_layer=self.n_layers)
                out.append(self._final_logits(resid, last).float().cpu().numpy())
                self._count(forward=len(toks))
        return np.concatenate(out) if out else np.zeros((0, self.d_vocab), np.float32)

    def _edit_hook(self, hook: str, mult: torch.Tensor | None, add: torch.Tensor | None, fired: list[int]):
        def fn(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            fired[0] += 1
            if act.shape[0] != (mult if mult is not None else add).shape[0]:
                raise BackendError(f"edit rows ({(mult if mult is not None else add).shape[0]}) do not match "
                                   f"the batch ({act.shape[0]}) at hook '{hook}'")
            if mult is not None:
                act = act * mult[:, None, :].to(act.dtype)
            if add is not None:
                act = act + add[:, None, :].to(act.dtype)
            return act

        return fn

    def _run_edited(self, inp: torch.Tensor, last: torch.Tensor, hook: str, mult, add,
                    start_at_layer: int | None) -> torch.Tensor:
        """One batched forward with a verified edit hook; returns last-position logits."""
        fired = [0]
        hp = self.model.hook_dict[hook]
        before = len(hp.fwd_hooks)
        with self.model.hooks(fwd_hooks=[(hook, self._edit_hook(hook, mult, add, fired))]):
            attached = len(hp.fwd_hooks) - before
            if attached != 1:
                raise BackendError(f"planned 1 hook at '{hook}', attached {attached}")
            resid = self.model(inp, start_at_layer=start_at_layer, stop_at_layer=self.n_layers)
        if fired[0] != 1:
            raise BackendError(f"hook '{hook}' fired {fired[0]} times in one forward (expected 1); "
                               "the edit would not have been applied as planned")
        return self._final_logits(resid, last)

    def edited_logits(self, seq: list[int], hook: str, mult: np.ndarray | None, add: np.ndarray | None,
                      *, naive: bool = False, on_device: bool = False) -> Any:
        import numpy as np
        import torch

        self.check_hook(hook)
        if mult is None and add is None:
            raise BackendError("an edit needs mult or add")
        rows = (mult if mult is not None else add).shape[0]
        mult_t = None if mult is None else torch.as_tensor(np.asarray(mult, np.float32), device=self._device)
        add_t = None if add is None else torch.as_tensor(np.asarray(add, np.float32), device=self._device)
        toks = torch.tensor([seq], dtype=torch.long, device=self._device)
        layer = layer_of_hook(hook)
        out = []
        with torch.no_grad():
            if naive:
                last = torch.tensor([len(seq) - 1], device=self._device)
                for r in range(rows):
                    m = None if mult_t is None else mult_t[r : r + 1]
                    a = None if add_t is None else add_t[r : r + 1]
                    out.append(self._run_edited(toks, last, hook, m, a, None))
                    self._count(forward=1)
            else:
                if layer is None:  # embedding hook: nothing to reuse
                    start, prefix = None, toks
                else:
                    start, prefix = layer, self.model(toks, stop_at_layer=layer)
                    self._count(forward=1)
                for i in range(0, rows, self.max_rows):
                    n = min(self.max_rows, rows - i)
                    inp = prefix.expand(n, *prefix.shape[1:]) if start is not None else toks.expand(n, -1)
                    last = torch.full((n,), len(seq) - 1, device=self._device)
                    m = None if mult_t is None else mult_t[i : i + n]
                    a = None if add_t is None else add_t[i : i + n]
                    out.append(self._run_edited(inp, last, hook, m, a, start))
                    self._count(forward=n)
        logits = torch.cat(out).float()
        return logits if on_device else logits.cpu().numpy()

    def edited_logits_many(self, seqs: list[list[int]], hook: str, mult: np.ndarray | None, add: np.ndarray | None,
                           *, rows_per_forward: int) -> torch.Tensor:
        """Every edit row on every sentence: logits [len(seqs) × rows, V] on the model's device, sentence-major.

        The sentences run right-padded (exact under causal attention) through the blocks before the hook once; each
        forward from there takes up to `rows_per_forward` (sentence, edit) rows.
        """
        import numpy as np
        import torch

        self.check_hook(hook)
        if mult is None and add is None:
            raise BackendError("an edit needs mult or add")
        edit = mult if mult is not None else add
        rows = edit.shape[0]
        mult_t = None if mult is None else torch.as_tensor(np.asarray(mult, np.float32), device=self._device)
        add_t = None if add is None else torch.as_tensor(np.asarray(add, np.float32), device=self._device)
        toks, last = self._padded(seqs)
        layer = layer_of_hook(hook)
        total = len(seqs) * rows
        step = max(1, int(rows_per_forward))
        out = []
        with torch.no_grad():
            if layer is None:  # embedding hook: nothing to reuse
                start, prefix = None, toks
            else:
                start, prefix = layer, self.model(toks, stop_at_layer=layer)
                self._count(forward=len(seqs))
            for i in range(0, total, step):
                idx = torch.arange(i, min(i + step, total), device=self._device)
                sent, r = idx // rows, idx % rows
                m = None if mult_t is None else mult_t[r]
                a = None if add_t is None else add_t[r]
                out.append(self._run_edited(prefix[sent], last[sent], hook, m, a, start))
                self._count(forward=len(idx))
        return torch.cat(out).float()

    # ---- reading activations and gradients -------------------------------------------------------------------
    def activations(self, seqs: list[list[int]], hook: str) -> np.ndarray:
        import numpy as np
        import torch

        self.check_hook(hook)
        layer = layer_of_hook(hook)
        stop = None if layer is None else min(layer + 1, self.n_layers)
        out = []
        with torch.no_grad():
            for s in seqs:
                toks = torch.tensor([s], dtype=torch.long, device=self._device)
                _, cache = self.model.run_with_cache(toks, names_filter=[hook], stop_at_layer=stop)
                if hook not in cache:
                    raise BackendError(f"hook '{hook}' was not reached in the forward pass")
                out.append(cache[hook][0].float().cpu().numpy())
                self._count(forward=1)
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def embed_gradient(self, seq: list[int], hook: str, positions: list[int], probe: np.ndarray) -> np.ndarray:
        import numpy as np
        import torch

        self.check_hook(hook)
        layer = layer_of_hook(hook)
        stop = None if layer is None else min(layer + 1, self.n_layers)
        store: dict[str, torch.Tensor] = {}

        def grab_embed(x: torch.Tensor, hook: Any = None) -> torch.Tensor:
            leaf = x.detach().clone().requires_grad_(True)
            store["embed"] = leaf
            return leaf

        def grab_act(x: torch.Tensor, hook: Any = None) -> torch.Tensor:
            store["act"] = x
            return x

        v = torch.as_tensor(np.asarray(probe, np.float32), device=self._device)
        toks = torch.tensor([seq], dtype=torch.long, device=self._device)
        with torch.enable_grad(), self.model.hooks(fwd_hooks=[("hook_embed", grab_embed), (hook, grab_act)]):
            self.model(toks, stop_at_layer=stop)
        if "act" not in store or "embed" not in store:
            raise BackendError(f"gradient hooks at 'hook_embed' / '{hook}' did not fire")
        total = torch.zeros(store["embed"].shape[-1], device=self._device)
        for k, p in enumerate(positions):
            # Gradient of position p's probe projection w.r.t. the embedding at the same position p (§5.2).
            (g,) = torch.autograd.grad((store["act"][0, p] * v).sum(), store["embed"],
                                       retain_graph=k < len(positions) - 1)
            total += g[0, p]
        self._count(forward=1, gradient=len(positions))
        return total.detach().float().cpu().numpy()
