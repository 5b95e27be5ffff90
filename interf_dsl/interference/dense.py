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

The function is plain torch comparisons and sums. For large maps it is compiled with `torch.compile` (inductor),
which fuses the reductions into a single pass over I and S (≈ 1–3 ns per cell instead of ~10 ns per reduction);
small maps, and machines where compilation fails, run the same function eagerly — the kernel used is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from interf_dsl.interference.bins import Bins

if TYPE_CHECKING:
    import torch

APPF_THRESHOLDS = (0.1, 0.15, 0.2, 0.3, 0.4)
I_THRESHOLDS = tuple(sorted({s * t for t in APPF_THRESHOLDS for s in (-1, 1)}))
S_THRESHOLDS = APPF_THRESHOLDS
COMPILE_MIN_FEATURES = {"cpu": 4096, "cuda": 1 << 17}
"""Per device type, the smallest map compiled with inductor: below it the one-off compilation (≈ 12 s) costs more
than it saves. On 2 CPU cores that is a few thousand features. On an H200, in a fresh process, the eager kernel
mapped 32,768 × 768 in 2.1 s (0.03 of GEMM), 65,536 × 2,304 in 5.9 s (0.10) and 262,144 × 2,304 in 72.7 s (0.21),
against 8.8-13.3 s and 22.7 s (0.31) compiled: compiling pays back from about 100k features. Other devices run
eagerly."""


def compiles(n: int, device_type: str) -> bool:
    """Whether a map of `n` features on `device_type` runs the compiled kernel (see `COMPILE_MIN_FEATURES`)."""
    return n >= COMPILE_MIN_FEATURES.get(device_type, 1 << 62)


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
    """Runs `make_stats`' function, compiled when the map is large enough (`kernel` says which ran), and writes
    the candidate mask I >= sparse_min into a reused buffer.

    The mask is an eager `torch.ge(..., out=mask)` (≈ 1.3 ms for 256 × 32,768 cells on 2 cores): a bool store
    from inside the compiled kernel took ≈ 20 ms here, ten times the 14 reductions themselves. A reused buffer,
    because a fresh [b, n] tensor per block fragments the heap and grows the RSS by MBs per block.
    """

    def __init__(self, bins: Bins, taus: tuple[float, ...], mode: str, n: int, sparse_min: float,
                 device_type: str = "cpu") -> None:
        self.fn = make_stats(bins, taus, mode, sparse_min)
        self.sparse_min = sparse_min
        self.kernel = "eager"
        self.note = ""
        self._compiled = None
        if compiles(n, device_type):
            import torch

            self._compiled = torch.compile(self.fn, dynamic=False)
            self.kernel = "compiled"

    def __call__(self, i, s, lab_rows, lab_all, mask):
        import torch

        torch.ge(i, self.sparse_min, out=mask)
        if self._compiled is not None:
            try:
                return self._compiled(i, s, lab_rows, lab_all)
            except Exception as exc:  # noqa: BLE001 - no compiler here: run eagerly, and record why
                self._compiled, self.kernel = None, "eager"
                self.note = f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); ran eagerly"
        return self.fn(i, s, lab_rows, lab_all)
