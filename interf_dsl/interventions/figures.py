"""Interventions kind: figures of one intervene step (matplotlib, Agg backend, PNG).

Input: the `interventions` and `effects` tables of one focus. Output: {name: path} of PNG files under the step's
work dir: effect by level with CIs per mode (paper Fig. 3-5 layout), neuron effects by degree bin as box plots
(Fig. 6; letter-value plots need seaborn, which is not installed), and a Table-1 style grid of success rates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def effect_by_level(effects: pl.DataFrame, focus: str, path: Path) -> Path:
    """Bars of the primary estimator per level with CIs; one panel per (mode, metric)."""
    import polars as pl

    plt = _plt()
    est = {"paper": "best_alpha_positive_mean", "rigorous": "heldout_alpha_mean"}
    panels = [(m, met) for m in ("paper", "rigorous") for met in ("wc_rel", "wo_rel")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
    for ax, (mode, metric) in zip(axes[0], panels, strict=True):
        sub = effects.filter((pl.col("mode") == mode) & (pl.col("metric") == metric)
                             & (pl.col("estimator") == est[mode])).sort("level")
        for k, (src, part) in enumerate(sub.group_by("source", maintain_order=True)):
            part = part.group_by("level", maintain_order=True).agg(pl.col("estimate", "ci_lo", "ci_hi").mean())
            x = [i + 0.35 * k for i in range(part.height)]
            y = part["estimate"].to_list()
            err = [[max(0.0, a - b) if a == a and b == b else 0 for a, b in zip(y, part["ci_lo"], strict=True)],
                   [max(0.0, b - a) if a == a and b == b else 0 for a, b in zip(y, part["ci_hi"], strict=True)]]
            ax.bar(x, y, width=0.35, yerr=err, capsize=2, label=str(src[0]))
            ax.set_xticks([i for i in range(part.height)], part["level"].to_list(), rotation=45, fontsize=7)
        ax.set_title(f"{focus}: {metric} ({mode})", fontsize=9)
        ax.axhline(0, color="k", lw=0.5)
        if ax.get_legend_handles_labels()[0]:  # a panel with no bars has nothing to label
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def neuron_boxes(table: pl.DataFrame, path: Path) -> Path:
    """Box plots of the largest masking drop / amplifying gain in Δc per degree bin (Fig. 6 layout)."""
    import polars as pl

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    keys = ["hook", "condition", "level", "coordinate", "target", "sentence_id"]
    for ax, (name, cond, agg) in zip(axes, (("masking", pl.col("alpha") < 1, pl.col("wc_delta").min()),
                                            ("amplifying", pl.col("alpha") > 1, pl.col("wc_delta").max())),
                                     strict=True):
        per = table.filter(cond & (pl.col("condition") == "neuron")).group_by(keys).agg(agg.alias("v"))
        levels = sorted(per["level"].unique().to_list(), key=lambda s: int(str(s).split("-")[0].rstrip("+")))
        ax.boxplot([per.filter(pl.col("level") == lv)["v"].to_list() for lv in levels], tick_labels=levels)
        ax.set_title(f"neuron {name}: Δc by degree", fontsize=9)
        ax.tick_params(axis="x", labelsize=7, rotation=45)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def type_grid(effects: pl.DataFrame, path: Path) -> Path:
    """Table-1 grid: success rate (%) per type × condition, stars from the paper-mode Welch test."""
    import polars as pl

    plt = _plt()
    sub = effects.filter((pl.col("mode") == "paper") & (pl.col("metric") == "success_rate"))
    rows = sorted({(r["source"], r["type"]) for r in sub.to_dicts()})
    cols = [c for c in ("target", "high", "medium", "random", "random_matched") if c in sub["level"].to_list()]
    cells = []
    for src, typ in rows:
        line = []
        for c in cols:
            r = sub.filter((pl.col("source") == src) & (pl.col("type") == typ) & (pl.col("level") == c))
            line.append(f"{100 * r['estimate'][0]:.2f}{r['stars'][0] or ''}" if r.height else "")
        cells.append(line)
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 2, 0.4 * len(rows) + 1))
    ax.axis("off")
    if cells:
        ax.table(cellText=cells, rowLabels=[f"{t} ({s})" for s, t in rows], colLabels=cols, loc="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
