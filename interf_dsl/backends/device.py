"""Backends, shared helper: the device models, SAEs, the sweep and the map run on (`execute.device`).

Input: the setting `auto`, `cpu` or `cuda`. Output: `cpu` or `cuda`. torch is imported only to ask about CUDA
(`auto` or `cuda`), so a spec that says `cpu`, and a fully cached run, never import it.
"""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")
CUDA_HINT = "use `execute.device: auto` (cuda when present, else cpu) or `cpu`, or run on a machine with a CUDA GPU"


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(setting: str) -> str:
    """`auto` -> cuda when torch sees a CUDA device, else cpu; `cpu` and `cuda` as they are."""
    if setting == "auto":
        return "cuda" if cuda_available() else "cpu"
    if setting not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {setting!r} (one of {', '.join(DEVICES)})")
    return setting
