"""Interference kind, shared helper: interference bins and semantic thresholds as plain values.

Input: the spec's `map.bins` (a string such as "[0,.1) [.1,.2) [.2,.3) [.3,.4) [.4,1]" or a list of [lo, hi] pairs)
and `map.thresholds`. Output: `Bins`, which assigns a bin index to interference values with the authors'
convention (every bin [a, b) except a closed last bin [a, b]; docs/method.md §2.1, §2.4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import SpecError
from interf_dsl.lang.sections import PAPER_BINS, Map

if TYPE_CHECKING:
    import torch

    from interf_dsl.lang.ast import Bin

PAPER_THRESHOLDS: tuple[float, ...] = Map.model_fields["thresholds"].default
_BIN_RE = re.compile(r"([\[(])\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*([\])])")


@dataclass(frozen=True)
class Bins:
    """Contiguous interference bins; `edges` has one more entry than there are bins."""

    edges: tuple[float, ...]
    last_closed: bool = True

    @property
    def n(self) -> int:
        return len(self.edges) - 1

    def labels(self) -> list[str]:
        out = []
        for k in range(self.n):
            close = "]" if (k == self.n - 1 and self.last_closed) else ")"
            out.append(f"[{self.edges[k]:g},{self.edges[k + 1]:g}{close}")
        return out

    def codes(self, values: torch.Tensor) -> torch.Tensor:
        """Bin index per value: 0..n-1 inside a bin, -1 outside (int32, same shape)."""
        import torch

        inner = torch.tensor(self.edges[1:-1], dtype=values.dtype, device=values.device)
        code = torch.bucketize(values, inner, right=True, out_int32=True)
        lo, hi = self.edges[0], self.edges[-1]
        outside = (values < lo) | ((values > hi) if self.last_closed else (values >= hi)) | values.isnan()
        return code.masked_fill_(outside, -1)

    def code_of(self, value: float) -> int:
        """Bin index of one value (-1 outside), the scalar twin of `codes`."""
        if value != value or value < self.edges[0]:
            return -1
        if value > self.edges[-1] or (value == self.edges[-1] and not self.last_closed):
            return -1
        for k in range(self.n):
            if value < self.edges[k + 1]:
                return k
        return self.n - 1


def parse_bins(spec: Any, *, last_closed: bool = True) -> Bins:
    """Parse `map.bins` into `Bins`; the bins must be contiguous and ascending.

    Args:
        spec: a string of intervals ("[0,.1) [.1,1]"), a list of [lo, hi] pairs, or None for the paper's bins.
        last_closed: for a list of pairs, whether the last bin includes its upper edge (a string says it itself).

    Raises:
        SpecError: malformed or non-contiguous bins.
    """
    if spec is None:
        spec = PAPER_BINS
    if isinstance(spec, str):
        found = _BIN_RE.findall(spec)
        if not found or _BIN_RE.sub("", spec).strip():
            raise SpecError(f"map.bins: cannot parse {spec!r}", hint='write e.g. "[0,.1) [.1,.2) [.2,1]"')
        # the authors' convention is the only one the counts implement: [a, b) bins, the last one [a, b] or [a, b)
        odd = [f"{o}{a},{b}{c}" for k, (o, a, b, c) in enumerate(found) if o != "[" or (c == "]" and k < len(found) - 1)]
        if odd:
            raise SpecError(f"map.bins: bin {odd[0]} has brackets the map cannot count (bins are [a,b), the last may "
                            "be [a,b])", hint='write e.g. "[0,.1) [.1,.2) [.2,1]"')
        pairs = [(float(a), float(b)) for _, a, b, _ in found]
        last_closed = found[-1][3] == "]"
    else:
        try:
            pairs = [(float(p[0]), float(p[1])) for p in spec]
        except (TypeError, ValueError, IndexError):
            raise SpecError(f"map.bins: expected a list of [lo, hi] pairs, got {spec!r}") from None
    for (a, b), nxt in zip(pairs, pairs[1:] + [None], strict=True):
        if not a < b or (nxt is not None and nxt[0] != b):
            raise SpecError(f"map.bins: bins must be ascending and contiguous, got {spec!r}")
    return Bins(tuple([p[0] for p in pairs] + [pairs[-1][1]]), last_closed)


def bins_of(intervals: tuple[Bin, ...]) -> Bins:
    """`Bins` from the map section's validated intervals (`Map.bins`), checked ascending and contiguous."""
    return parse_bins([(b.lo, b.hi) for b in intervals], last_closed=intervals[-1].hi_closed)


def parse_thresholds(values: Any) -> tuple[float, ...]:
    """Semantic thresholds τ, descending (paper: 0.4, 0.3, 0.2, 0.15)."""
    if values is None:
        return PAPER_THRESHOLDS
    try:
        taus = tuple(sorted({float(v) for v in values}, reverse=True))
    except (TypeError, ValueError):
        raise SpecError(f"map.thresholds: expected numbers, got {values!r}") from None
    if not taus:
        raise SpecError("map.thresholds: at least one semantic threshold is needed")
    return taus
