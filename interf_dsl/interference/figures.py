"""Interference kind, `map` step: figures (PNG, matplotlib Agg) of one SAE's map.

Input: the `BlockedMap` of the primary metric and its partner counts. Output: `interference_hist.png`
(distribution of I), `interference_vs_semantic.png` (hexbin of the 2-D histogram of S and I) and
`partners_per_bin.png` (share of features with ≥ 1 partner per bin, one bar group per τ).
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
    centres = np.linspace(-1, 1, m.hist_i.numel() + 1)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(centres[:-1], m.hist_i.numpy(), width=centres[1] - centres[0], align="edge")
    ax.set_yscale("log")
    ax.set(xlabel="interference I", ylabel="ordered pairs", title=f"I distribution: {title}")
    files["interference_hist"] = _save(fig, out_dir / "interference_hist.png", plt)
    if m.hist_2d is not None:
        nb = m.hist_2d.shape[0]
        c = (np.arange(nb) + 0.5) / nb * 2 - 1
        s_grid, i_grid = np.meshgrid(c, c, indexing="ij")
        w = m.hist_2d.numpy().astype(float)
        keep = w > 0
        fig, ax = plt.subplots(figsize=(5, 4))
        hb = ax.hexbin(s_grid[keep], i_grid[keep], C=w[keep], reduce_C_function=np.sum, gridsize=40, bins="log")
        fig.colorbar(hb, ax=ax, label="pairs")
        ax.set(xlabel="semantic similarity S", ylabel="interference I", title=f"I vs S: {title}")
        files["interference_vs_semantic"] = _save(fig, out_dir / "interference_vs_semantic.png", plt)
    share = (m.counts > 0).float().mean(0).numpy()  # [bins, taus]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(len(taus), 1)
    for t, tau in enumerate(taus):
        ax.bar(np.arange(bins.n) + t * width, share[:, t], width=width, label=f"S < {tau:g}")
    ax.set_xticks(np.arange(bins.n) + 0.4 - width / 2, bins.labels())
    ax.set(ylabel="features with ≥ 1 partner", title=f"partners per bin: {title}")
    ax.legend(fontsize=7)
    files["partners_per_bin"] = _save(fig, out_dir / "partners_per_bin.png", plt)
    return files


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
