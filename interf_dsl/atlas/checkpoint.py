"""Atlas kind, `atlas` step helper: the running state of pass 1 and its checkpoints in a unit store.

Input: per corpus batch, the SAE activations [B, T, F] and the batch's first window id. Output: `Pass1`, the
running state (firing counts, maxima, top-K windows per feature, the coactivation token sample, the next window
to read), saved as safetensors bytes inside a one-row polars table under two alternating unit keys, so a kill
while writing one checkpoint leaves the other intact. `load_latest` returns the newest intact checkpoint of the
same corpus (sha256 of the windows) and batch size (anything else is ignored: it belongs to another run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

KEYS = ("pass1.a", "pass1.b")


@dataclass
class Pass1:
    fired: torch.Tensor  # [F] int64: tokens with act > 0
    max_act: torch.Tensor  # [F]
    top_val: torch.Tensor  # [K, F] window maxima, descending
    top_win: torch.Tensor  # [K, F] window ids (-1 = none)
    sample: torch.Tensor  # [t, F] activations of the first t corpus tokens
    next_window: int = 0
    saves: int = 0

    @classmethod
    def empty(cls, n_f: int, k: int) -> Pass1:
        import torch

        return cls(torch.zeros(n_f, dtype=torch.long), torch.zeros(n_f), torch.full((k, n_f), float("-inf")),
                   torch.full((k, n_f), -1, dtype=torch.long), torch.zeros(0, n_f))

    def update(self, acts: torch.Tensor, w0: int, n_sample: int) -> None:
        """Fold one batch of activations [B, T, F] (windows w0 … w0 + B − 1) into the state."""
        import torch

        n_f = acts.shape[-1]
        self.fired += (acts > 0).sum((0, 1))
        win_max = acts.amax(1)  # [B, F]
        self.max_act = torch.maximum(self.max_act, win_max.amax(0))
        vals = torch.cat([self.top_val, win_max])
        ids = torch.cat([self.top_win, torch.arange(w0, w0 + acts.shape[0])[:, None].expand_as(win_max)])
        self.top_val, pos = vals.topk(min(self.top_val.shape[0], vals.shape[0]), dim=0)
        self.top_win = ids.gather(0, pos)
        if self.sample.shape[0] < n_sample:
            self.sample = torch.cat([self.sample, acts.reshape(-1, n_f)[: n_sample - self.sample.shape[0]]])
        self.next_window = w0 + acts.shape[0]


def windows_digest(windows: torch.Tensor) -> str:
    """sha256 of the corpus windows: a checkpoint only resumes the same corpus."""
    import hashlib

    return hashlib.sha256(windows.contiguous().numpy().tobytes()).hexdigest()


def save(store: Any, st: Pass1, batch_size: int, digest: str) -> None:
    """Write the state under the older of the two keys."""
    import polars as pl
    from safetensors.torch import save as st_save

    blob = st_save({"fired": st.fired, "max_act": st.max_act, "top_val": st.top_val.contiguous(),
                    "top_win": st.top_win.contiguous(), "sample": st.sample.contiguous()})
    st.saves += 1
    store.save(KEYS[st.saves % 2], pl.DataFrame({"next_window": [st.next_window], "batch_size": [batch_size],
                                                 "saves": [st.saves], "digest": [digest],
                                                 "state": [blob]}))


def load_latest(store: Any, n_windows: int, batch_size: int, digest: str) -> Pass1 | None:
    """The newest intact checkpoint for this corpus (digest) and batch size, or None."""
    from safetensors.torch import load as st_load

    best = None
    for key in KEYS:
        if not store.done(key):
            continue
        row = store.load(key).row(0, named=True)
        if row["batch_size"] != batch_size or row["digest"] != digest or row["next_window"] > n_windows:
            continue
        if best is None or row["saves"] > best["saves"]:
            best = row
    if best is None:
        return None
    t = st_load(best["state"])
    return Pass1(t["fired"], t["max_act"], t["top_val"], t["top_win"], t["sample"], int(best["next_window"]),
                 int(best["saves"]))
