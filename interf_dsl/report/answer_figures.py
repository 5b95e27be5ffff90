"""Report stage: the three figures of the Answers section (matplotlib, Agg), small multiples with labelled axes.

Input: the rows `answers.py` selected. Output: one PNG each; None when there is nothing to draw.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

CONDITION_ORDER = ("target", "high", "medium", "random", "random_matched")
CLIP = 3.0
"""The ratio figure's y range is ±CLIP: ratios of tiny source effects would flatten the others."""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _ok(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _err(est: list, lo: list, hi: list) -> list[list[float]]:
    return [[e - low if _ok(e) and _ok(low) else 0.0 for e, low in zip(est, lo, strict=True)],
            [h - e if _ok(e) and _ok(h) else 0.0 for e, h in zip(est, hi, strict=True)]]


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    _plt().close(fig)
    return path


def steering_figure(rows: pl.DataFrame, labels: dict[str, str], ylabel: str, path: Path) -> Path | None:
    """One panel per focus: effect by interference bin, a line per source × τ (lighter for stricter τ)."""
    plt = _plt()
    foci = sorted(set(rows["focus"].to_list()))
    if not foci:
        return None
    bins = sorted(set(rows["level"].to_list()), key=int)
    fig, axes = plt.subplots(1, len(foci), figsize=(4.6 * len(foci), 3.4), dpi=100, squeeze=False, sharey=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    sources = sorted(set(rows["source"].to_list()))
    for ax, focus in zip(axes[0], foci, strict=True):
        part = rows.filter(rows["focus"] == focus)
        taus = sorted({t for t in part["tau"].to_list() if t is not None}, reverse=True) or [None]
        for si, src in enumerate(sources):
            for ti, tau in enumerate(taus):
                sel = part.filter((part["source"] == src) & (part["tau"] == tau if tau is not None else True))
                if sel.height == 0:
                    continue
                sel = sel.sort("level")
                xs = [bins.index(b) + 0.06 * (si * len(taus) + ti) for b in sel["level"].to_list()]
                est = sel["estimate"].to_list()
                ax.errorbar(xs, est, yerr=_err(est, sel["ci_lo"].to_list(), sel["ci_hi"].to_list()), fmt="o-",
                            capsize=3, color=colours[si % len(colours)], alpha=1.0 - 0.45 * ti / max(len(taus), 1),
                            label=f"{src}" + (f", τ {tau:g}" if tau is not None else ""))
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xticks(range(len(bins)), [labels.get(b, b) for b in bins], fontsize=9)
        ax.set_xlabel("interference bin (I = decoder cosine)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{focus} focus", fontsize=11)
        ax.legend(fontsize=8)
    return _save(fig, path)


def grid_figure(grid: pl.DataFrame, models: list[str], path: Path) -> Path | None:
    """One panel per type: success rate by token set, a point per model with its CI."""
    plt = _plt()
    types = sorted(set(grid["type"].to_list()))
    if not types:
        return None
    conds = [c for c in CONDITION_ORDER if c in set(grid["condition"].to_list())]
    conds += sorted(set(grid["condition"].to_list()) - set(conds))
    fig, axes = plt.subplots(1, len(types), figsize=(3.6 * len(types), 3.3), dpi=100, squeeze=False, sharey=True)
    width = 0.7 / max(len(models), 1)
    for ax, typ in zip(axes[0], types, strict=True):
        for j, model in enumerate(models):
            sel = grid.filter((grid["type"] == typ) & (grid["model"] == model))
            if sel.height == 0:
                continue
            xs = [conds.index(c) + (j - (len(models) - 1) / 2) * width for c in sel["condition"].to_list()]
            est = [100 * v for v in sel["success_rate"].to_list()]
            lo = [100 * v if _ok(v) else v for v in sel["ci_lo"].to_list()]
            hi = [100 * v if _ok(v) else v for v in sel["ci_hi"].to_list()]
            ax.errorbar(xs, est, yerr=_err(est, lo, hi), fmt="o", capsize=2, label=model)
        ax.set_xticks(range(len(conds)), conds, rotation=30, ha="right", fontsize=9)
        ax.set_title(typ, fontsize=11)
        ax.set_xlabel("injected token set")
    axes[0][0].set_ylabel("success rate (%)")
    axes[0][-1].legend(fontsize=8)
    return _save(fig, path)


def ratio_figure(ratios: pl.DataFrame, path: Path) -> Path | None:
    """Transfer ratio per type × set and source; rows without a ratio are counted in the title."""
    plt = _plt()
    ok = ratios.filter(ratios["ratio"].is_not_nan() & ratios["ratio"].is_not_null())
    if ratios.height == 0:
        return None
    cats = sorted({f"{r['type']}/{r['condition']}" for r in ratios.to_dicts()})
    sources = sorted(set(ratios["source"].to_list()))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(cats) + 2), 3.4), dpi=100)
    width = 0.5 / max(len(sources), 1)
    for j, src in enumerate(sources):
        sel = ok.filter(ok["source"] == src)
        xs = [cats.index(f"{t}/{c}") + (j - (len(sources) - 1) / 2) * width
              for t, c in zip(sel["type"].to_list(), sel["condition"].to_list(), strict=True)]
        est = [e if abs(e) <= CLIP else float("nan") for e in sel["ratio"].to_list()]
        raw = sel["ratio"].to_list()
        bar = ax.errorbar(xs, est, yerr=_err(est, sel["ratio_lo"].to_list(), sel["ratio_hi"].to_list()), fmt="o",
                          capsize=2, label=f"source {src}")
        for x, e in zip(xs, raw, strict=True):
            if abs(e) > CLIP:  # off the axis: a triangle at the edge, labelled with the value
                edge = math.copysign(CLIP * 0.95, e)
                ax.plot([x], [edge], marker="^" if e > 0 else "v", color=bar[0].get_color())
                ax.annotate(f"{e:.3g}", (x, edge), textcoords="offset points", xytext=(4, -3), fontsize=7)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_ylim(-CLIP, CLIP)
    ax.set_xticks(range(len(cats)), cats, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("target effect / source effect")
    ax.set_title(f"transfer ratio ({ok.height} of {ratios.height} defined; y clipped to ±3)", fontsize=10)
    if sources:
        ax.legend(fontsize=8)
    return _save(fig, path)
