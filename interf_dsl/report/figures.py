"""Report stage: figures drawn from run tables with matplotlib (Agg), each a PNG named `<stage>_<what>.png`.

Input: merged tables by name (as in the run directory, with a `step` column). Output: PNG files in a folder.
Every point is drawn with its CI, so a figure never shows an effect without its uncertainty.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

MAX_POINTS = 200


def _errorbar_figure(df: pl.DataFrame, x: str, title: str, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    need = {x, "estimate", "ci_lo", "ci_hi"}
    if not need <= set(df.columns) or df.height == 0:
        return None
    df = df.head(MAX_POINTS)
    cats = sorted({str(v) for v in df[x].to_list()})
    modes = sorted({str(m) for m in df["mode"].to_list()}) if "mode" in df.columns else [""]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(cats) + 2), 3.2), dpi=100)
    width = 0.6 / max(len(modes), 1)
    for j, mode in enumerate(modes):
        part = df if mode == "" else df.filter(df["mode"].cast(str) == mode)
        xs = [cats.index(str(v)) + (j - (len(modes) - 1) / 2) * width for v in part[x].to_list()]
        est = part["estimate"].to_list()
        lo = [e - low if e is not None and low is not None else 0 for e, low in zip(est, part["ci_lo"], strict=True)]
        hi = [h - e if e is not None and h is not None else 0 for e, h in zip(est, part["ci_hi"], strict=True)]
        ax.errorbar(xs, est, yerr=[lo, hi], fmt="o", capsize=3, label=mode or None)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xticks(range(len(cats)), cats, rotation=30, ha="right")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("estimate (CI)")
    if modes != [""]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _bar_figure(df: pl.DataFrame, x: str, y: str, title: str, path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not {x, y} <= set(df.columns) or df.height == 0:
        return None
    agg = df.group_by(x).agg(df[y].sum()).sort(x)
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.bar([str(v) for v in agg[x].to_list()], agg[y].to_list())
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(y)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def one_metric(df: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """The rows of the first metric, one estimator per mode (mixing metrics or estimators on one axis misleads)."""
    import polars as pl

    metric = ""
    if "metric" in df.columns and df.height:
        metric = str(df["metric"].drop_nulls().first() or "")  # runners list the primary metric first
        df = df.filter(pl.col("metric") == metric)
    if "estimator" in df.columns and "mode" in df.columns and df.height:
        first = df.group_by("mode").agg(pl.col("estimator").drop_nulls().first().alias("__est"))
        df = df.join(first, on="mode").filter(pl.col("estimator") == pl.col("__est")).drop("__est")
    return df, metric


def draw_figures(tables: dict[str, pl.DataFrame], out_dir: Path) -> list[Path]:
    """Draw every figure the available tables allow; returns the written PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    effects, metric = one_metric(tables["effects"]) if "effects" in tables else (None, "")
    x = next((c for c in ("level", "condition") if effects is not None and c in effects.columns), "condition")
    transfer, t_metric = one_metric(tables["transfer"]) if "transfer" in tables else (None, "")
    made = [
        _errorbar_figure(effects, x, f"intervention effects by {x} ({metric})",
                         out_dir / "interventions_effects.png") if effects is not None else None,
        _errorbar_figure(transfer, "target", f"transfer by target ({t_metric})",
                         out_dir / "transfer_success.png") if transfer is not None else None,
        _bar_figure(tables["map_stats"], "bin", "count", "interference pairs per bin",
                    out_dir / "map_pairs_per_bin.png") if "map_stats" in tables else None,
    ]
    return [p for p in made if p is not None]
