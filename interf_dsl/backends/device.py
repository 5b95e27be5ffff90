"""Backends, shared helper: the device models, SAEs, the sweep and the map run on (`execute.device`).

Input: the setting `auto`, `cpu` or `cuda`. Output: `cpu` or `cuda`. torch is imported only to ask about CUDA
(`auto` or `cuda`), so a spec that says `cpu`, and a fully cached run, never import it.
"""

from __future__ import annotations

from typing import Any

DEVICES = ("auto", "cpu", "cuda")
CUDA_HINT = "use `execute.device: auto` (cuda when present, else cpu) or `cpu`, or run on a machine with a CUDA GPU"


GPU_SHARE = 0.25
"""On a GPU, the share of the device's free memory one batch (sweep) or block (map) may take by default."""
GPU_MAX_MB = 16384
CPU_BUDGET_MB = 1024
"""`execute.memory_budget_mb: auto` on a CPU (where the loops sweep one sentence at a time anyway)."""


def device_budget_mb(device: Any) -> float:
    """The default working-set budget on `device`: on a CUDA device a quarter of its free memory, at most 16 GiB
    (at least 64 MB); on a CPU `CPU_BUDGET_MB`. Asked when the budget is needed, so it sees what is free then."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return float(CPU_BUDGET_MB)
    free, _total = torch.cuda.mem_get_info(device)
    return max(64.0, min(float(GPU_MAX_MB), GPU_SHARE * free / 2**20))


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def device_problem(setting: str, *, check_cuda: bool = True) -> str | None:
    """Why a `--device` value cannot be used here (not a device; `cuda` where torch sees none), or None."""
    if setting not in DEVICES:
        return f"{setting!r} is not a device: {', '.join(DEVICES)}"
    if check_cuda and setting == "cuda" and not cuda_available():
        return f"torch sees no CUDA device on this machine; {CUDA_HINT}"
    return None


def resolve_device(setting: str) -> str:
    """`auto` -> cuda when torch sees a CUDA device, else cpu; `cpu` and `cuda` as they are."""
    if setting == "auto":
        return "cuda" if cuda_available() else "cpu"
    if setting not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {setting!r} (one of {', '.join(DEVICES)})")
    return setting
