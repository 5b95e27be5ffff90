"""Interference kind, `map` step: figures (PNG, matplotlib Agg) of one SAE's map.

Input: the `BlockedMap` of the primary metric and its partner counts. Output: `interference_hist.png`
(distribution of I) and `interference_vs_semantic.png` (hexbin of S and I), both drawn from the map's seeded uniform
sample of pairs (`FIGURE_PAIRS_PER_ROW` per feature; the titles give its size), and
`partners_per_bin.png` (mean partners per mapped feature in each bin, one bar group per τ; the `partner_counts`
table's counts).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interf_dsl.interference.bins import Bins
    from interf_dsl.interference.blocked import BlockedMap


def map_figures(m: BlockedMap, bins: Bins, taus: tuple[float, ...], title: str, out_dir: Path) -> dict[str, Path]:
    """Write the three figures; returns {name: path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    i_vals = m.sample_i.double().numpy() if m.sample_i is not None else np.zeros(0)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(i_vals, bins=np.linspace(-1, 1, 201))
    ax.set_yscale("log")
    ax.set(xlabel="interference I", ylabel="sampled pairs", title=f"I distribution: {title}")
    ax.set_title(f"I distribution: {title}\n(uniform sample of {i_vals.size} pairs)", fontsize=8)
    files["interference_hist"] = _save(fig, out_dir / "interference_hist.png", plt)
    if m.sample_s is not None and i_vals.size:
        fig, ax = plt.subplots(figsize=(5, 4))
        hb = ax.hexbin(m.sample_s.double().numpy(), i_vals, gridsize=40, bins="log", extent=(-1, 1, -1, 1))
        fig.colorbar(hb, ax=ax, label="sampled pairs")
        ax.set(xlabel="semantic similarity S", ylabel="interference I")
        ax.set_title(f"I vs S: {title}\n(uniform sample of {i_vals.size} pairs)", fontsize=8)
        files["interference_vs_semantic"] = _save(fig, out_dir / "interference_vs_semantic.png", plt)
    # mean partners per mapped feature (the share with >= 1 partner is 1.0 in every bin of a dense map: no signal)
    mean = m.counts.double().mean(0).numpy()  # [bins, taus]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    width = 0.8 / max(len(taus), 1)
    for t, tau in enumerate(taus):
        ax.bar(np.arange(bins.n) + t * width, mean[:, t], width=width, label=f"S < {tau:g}")
    ax.set_xticks(np.arange(bins.n) + 0.4 - width / 2, [f"I ∈ {b}" for b in bins.labels()])
    ax.set_yscale("log")
    ax.set(xlabel="interference bin", ylabel="partners per feature (mean)", title=f"partners per bin: {title}")
    ax.legend(fontsize=7)
    files["partners_per_bin"] = _save(fig, out_dir / "partners_per_bin.png", plt)
    return files


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
