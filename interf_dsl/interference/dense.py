"""Interference kind, `map` step helper: the dense per-row statistics of one block, as ONE fused kernel.

Input: a block of I rows and S rows ([b, n], diagonal = -inf) and, in cluster-exclusion mode, the cluster labels of
the block's rows and of all features. Output: int32 [b, n_taus + |dense I thresholds| + |S_THRESHOLDS|]: per row
the count of cells with I >= the first bin's lower edge that pass each τ, then the counts of I < t for the App. F
thresholds below the candidate minimum, and of S < t (the diagonal is still included there; the caller subtracts
it); and the bool mask I >= sparse_min of the candidates.

Only what needs every cell is counted here. Everything at or above the candidate minimum (every bin above the
first, the first bin's upper part, the App. F thresholds t >= sparse_min) is counted from the candidates, which are
rare (≈ 0.3 % of the cells of a random 32k SAE): `block_parts.bin_counts` and `block_parts.sparse_below`. That
halves the reductions of this pass (14 instead of 35 with the paper's bins).

The function is plain torch comparisons and sums. Where compiling pays back within the map (`choose_kernel`: the
expected saving over n² cells against the compile time, cold or from inductor's on-disk cache) it is compiled with
`torch.compile` (inductor), which fuses the reductions into a single pass over I and S; otherwise, and where
compilation fails, the same function runs eagerly. The kernel used, and why, is recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from interf_dsl.interference.bins import Bins

if TYPE_CHECKING:
    import torch

APPF_THRESHOLDS = (0.1, 0.15, 0.2, 0.3, 0.4)
I_THRESHOLDS = tuple(sorted({s * t for t in APPF_THRESHOLDS for s in (-1, 1)}))
S_THRESHOLDS = APPF_THRESHOLDS
FORCE: str | None = None
"""None: the payback rule below picks the kernel; "eager" or "compiled" forces one (benchmarks, tests)."""
COMPILE_SECONDS = {"cpu": {"cold": 10.0, "warm": 2.5}, "cuda": {"cold": 12.0, "warm": 2.0}}
"""One-off cost of compiling the fused pass, per device type: `cold` with an empty inductor cache, `warm` when this
map's kernel shapes were compiled before (a marker in inductor's on-disk cache says so). CPU, 2 cores, measured
(bench_map.py --kernel compiled in two fresh processes on one cache): 8,192 × 768 in 13.2 s cold, 4.7 s warm
against 2.2 s eager. CUDA cold: the H200's first-run 8.8-13.3 s at 32k; warm is not measured yet (a guess)."""
SAVED_NS_PER_CELL = {"cpu": 14.0, "cuda": 0.05}
"""Time the fused pass saves over the eager one, per I cell (ns; on CPU per thread: divided by the thread count).
CPU, 2 cores: 32,768 × 768 compiled (warm) 31.5 s vs eager 36.5 s, ≈ 7 ns a cell (noisy, shared machine). H200,
second run in one process: 32k 0.13 s vs 0.18 s, 65k × 2,304 0.74 s vs 0.98 s: ≈ 0.05 ns a cell."""


@dataclass(frozen=True)
class KernelChoice:
    """Which kernel the map runs, and why (recorded in the map's meta)."""

    compiled: bool
    reason: str
    marker: Path | None = None


def choose_kernel(n: int, device_type: str, shapes: tuple[tuple[int, int], ...], signature: str,
                  threads: int = 1) -> KernelChoice:
    """Compile only where it pays back within this map: when the n² cells' expected saving exceeds the expected
    compile time (warm if inductor's cache holds this map's kernel shapes, else cold; once per distinct shape)."""
    if FORCE is not None:
        return KernelChoice(FORCE == "compiled", f"forced {FORCE}", _marker(device_type, shapes, signature))
    if device_type not in COMPILE_SECONDS:
        return KernelChoice(False, f"no compile rule for {device_type}")
    per_cell = SAVED_NS_PER_CELL[device_type] / (max(threads, 1) if device_type == "cpu" else 1)
    saved = float(n) * n * per_cell * 1e-9
    costs = {state: sec * len(shapes) for state, sec in COMPILE_SECONDS[device_type].items()}
    # the marker needs torch._inductor (≈ 1.4 s to import): looked up only where warm and cold disagree
    marker = _marker(device_type, shapes, signature) if saved > costs["warm"] else None
    state = "warm" if marker is not None and marker.exists() else "cold"
    verdict = "pays back" if saved > costs[state] else "would not pay back"
    return KernelChoice(saved > costs[state], f"compiling ({state} cache, {len(shapes)} shape(s), "
                        f"≈ {costs[state]:.1f} s) {verdict}: ≈ {saved:.1f} s saved", marker)


def _marker(device_type: str, shapes: tuple[tuple[int, int], ...], signature: str) -> Path | None:
    """A file in inductor's on-disk cache that records this kernel (torch version, device, shapes) was compiled."""
    try:
        import torch
        from torch._inductor.runtime.cache_dir_utils import cache_dir
    except ImportError:  # pragma: no cover - torch without inductor
        return None
    key = f"{torch.__version__}|{device_type}|{shapes}|{signature}"
    return Path(cache_dir()) / "interf_map" / hashlib.sha256(key.encode()).hexdigest()[:24]


def dense_i_thresholds(sparse_min: float) -> tuple[float, ...]:
    """The App. F I thresholds counted densely: those below the candidate minimum (the rest come from candidates)."""
    return tuple(t for t in I_THRESHOLDS if t < sparse_min)


def make_stats(bins: Bins, taus: tuple[float, ...], mode: str, sparse_min: float) -> Callable:
    """The per-block statistics function for these bins, thresholds and mode ("pairwise", "cluster", "none").

    It returns counts [b, columns] int32. The candidate mask is not made here (see `BlockStats.__call__`).
    """
    import torch

    lo = bins.edges[0]
    i_thresholds = dense_i_thresholds(sparse_min)

    def stats(i: torch.Tensor, s: torch.Tensor | None, lab_rows: torch.Tensor | None,
              lab_all: torch.Tensor | None) -> torch.Tensor:
        outs = []
        if mode != "none":
            above = i >= lo
            for t, tau in enumerate(taus):
                ok = (s < tau) if mode == "pairwise" else (lab_rows[t][:, None] != lab_all[t][None, :])
                outs.append((above & ok).sum(1, dtype=torch.int32))
        outs.extend((i < t).sum(1, dtype=torch.int32) for t in i_thresholds)
        if s is not None:
            outs.extend((s < t).sum(1, dtype=torch.int32) for t in S_THRESHOLDS)
        return torch.stack(outs, 1)

    return stats


class BlockStats:
    """Runs `make_stats`' function, compiled when `choose_kernel` says compiling pays back (`kernel` says which ran,
    `note` why), and writes the candidate mask I >= sparse_min into a reused buffer.

    The mask is an eager `torch.ge(..., out=mask)` (≈ 1.3 ms for 256 × 32,768 cells on 2 cores): a bool store
    from inside the compiled kernel took ≈ 20 ms here, ten times the 14 reductions themselves. A reused buffer,
    because a fresh [b, n] tensor per block fragments the heap and grows the RSS by MBs per block.
    """

    def __init__(self, bins: Bins, taus: tuple[float, ...], mode: str, n: int, sparse_min: float,
                 device_type: str, shapes: tuple[tuple[int, int], ...]) -> None:
        import torch

        self.fn = make_stats(bins, taus, mode, sparse_min)
        self.sparse_min = sparse_min
        signature = f"{mode}|{len(taus)}|{bins.edges}|{sparse_min}"
        self.choice = choose_kernel(n, device_type, shapes, signature, torch.get_num_threads())
        self.kernel = "compiled" if self.choice.compiled else "eager"
        self.note = self.choice.reason
        self._shapes, self._seen = set(shapes), set()
        self._compiled = torch.compile(self.fn, dynamic=False) if self.choice.compiled else None

    def __call__(self, i, s, lab_rows, lab_all, mask):
        import torch

        torch.ge(i, self.sparse_min, out=mask)
        if self._compiled is not None:
            try:
                out = self._compiled(i, s, lab_rows, lab_all)
            except Exception as exc:  # noqa: BLE001 - no compiler here: run eagerly, and record why
                self._compiled, self.kernel = None, "eager"
                self.note = f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); ran eagerly"
            else:
                self._remember(tuple(i.shape))
                return out
        return self.fn(i, s, lab_rows, lab_all)

    def _remember(self, shape: tuple[int, int]) -> None:
        """Once every shape has compiled, mark them in inductor's cache: the next map of this shape starts warm."""
        if shape in self._seen:
            return
        self._seen.add(shape)
        marker = self.choice.marker
        if marker is not None and self._seen >= self._shapes and not marker.exists():
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(self.note + "\n")
            except OSError:  # a read-only cache only costs the next run a cold estimate
                pass
