"""Report stage: figures drawn from run tables with matplotlib (Agg), each a PNG named `<stage>_<what>.png`.

Input: merged tables by name (as in the run directory, with a `step` column). Output: PNG files in a folder.
Every point is drawn with its CI, so a figure never shows an effect without its uncertainty.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.interventions.figures import METRIC_LABELS, level_label, level_order, save

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


def effects_by_focus_figure(effects: pl.DataFrame, bins: list[str] | None = None) -> Any:
    """Small multiples: one panel per focus, its first metric and estimator, the rigorous mode where it has one;
    x = level (bins as their interference ranges), one series per source (and τ or type), each point with its CI."""
    import polars as pl

    plt = _plt()
    if "level" not in effects.columns:  # steps that name their levels `condition`
        effects = effects.rename({"condition": "level"})
    if "focus" not in effects.columns:
        effects = effects.with_columns(pl.lit("intervention").alias("focus"))
    foci = sorted({str(f) for f in effects["focus"].to_list()})
    ncols = min(2, len(foci))
    nrows = -(-len(foci) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 3.8 * nrows), squeeze=False)
    for ax, focus in zip(axes.flat, foci, strict=False):
        sub, metric = one_metric(effects.filter(pl.col("focus") == focus))
        modes = set(sub["mode"].to_list()) if "mode" in sub.columns else set()
        mode = "rigorous" if "rigorous" in modes else next(iter(sorted(modes)), "")
        if mode:
            sub = sub.filter(pl.col("mode") == mode)
        levels = level_order(sub["level"].to_list())
        series = sorted({_series(r) for r in sub.iter_rows(named=True)})
        for k, name in enumerate(series):
            rows = [r for r in sub.iter_rows(named=True) if _series(r) == name]
            off = (k - (len(series) - 1) / 2) * 0.7 / max(len(series), 1)
            xs = [levels.index(str(r["level"])) + off for r in rows]
            est = [r["estimate"] for r in rows]
            lo = [max(0.0, r["estimate"] - r["ci_lo"]) if r["ci_lo"] is not None else 0 for r in rows]
            hi = [max(0.0, r["ci_hi"] - r["estimate"]) if r["ci_hi"] is not None else 0 for r in rows]
            ax.errorbar(xs, est, yerr=[lo, hi], fmt="o", ms=4, capsize=2, label=name)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xticks(range(len(levels)), [level_label(lv, bins) for lv in levels], rotation=30, ha="right",
                      fontsize=9)
        ax.tick_params(axis="y", labelsize=9)
        ax.set_title(f"{focus} focus ({mode} mode)", fontsize=10)
        ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)}\n(estimate, CI)", fontsize=9)
        if series:
            ax.legend(fontsize=7, ncol=2)
    for ax in list(axes.flat)[len(foci):]:
        ax.axis("off")
    return fig


def _series(row: dict) -> str:
    parts = [str(row.get("source") or "")]
    if row.get("tau") is not None:
        parts.append(f"τ={row['tau']:g}")
    if row.get("type"):
        parts.append(str(row["type"]))
    if row.get("token_sets"):  # type injection: own sets, or the sources' union/intersection
        parts.append("own" if row["token_sets"] == row.get("source") else str(row["token_sets"]))
    return " ".join(p for p in parts if p) or "estimate"


def partners_grid_figure(counts: pl.DataFrame, bins: list[str] | None = None) -> Any:
    """Small multiples of the maps' `partner_counts`: one panel per map step, the mean partners per mapped feature
    in each bin (log scale), one bar per τ."""
    import polars as pl

    plt = _plt()
    agg = counts.group_by("step", "tau", "bin").agg(pl.col("count").mean()).sort("step", "tau", "bin")
    steps = agg["step"].unique(maintain_order=True).to_list()
    ncols = min(4, len(steps))
    nrows = -(-len(steps) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), squeeze=False, sharey=True)
    for ax, step in zip(axes.flat, steps, strict=False):
        part = agg.filter(pl.col("step") == step)
        taus = sorted(set(part["tau"].to_list()))
        n_bins = int(part["bin"].max()) + 1
        width = 0.8 / max(len(taus), 1)
        for t, tau in enumerate(taus):
            p = part.filter(pl.col("tau") == tau)
            ax.bar([int(b) + t * width for b in p["bin"].to_list()], p["count"].to_list(), width=width,
                   label=f"S < {tau:g}")
        labels = [bins[b] if bins and b < len(bins) else str(b) for b in range(n_bins)]
        ax.set_xticks([b + 0.4 - width / 2 for b in range(n_bins)], labels, fontsize=8)
        ax.set_yscale("log")
        ax.set_title(str(step).removeprefix("map:"), fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    for row in axes:
        row[0].set_ylabel("partners per feature\n(mean)", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("interference bin I", fontsize=9)
    for ax in list(axes.flat)[len(steps):]:
        ax.axis("off")
    if steps:
        axes[0][0].legend(fontsize=7)
    return fig


def image_grid_figure(images: dict[str, Path], ncols: int = 4) -> Any:
    """Small multiples of PNG files (one per map step): a grid of panels titled with their step."""
    plt = _plt()
    names = list(images)
    ncols = min(ncols, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        ax.imshow(plt.imread(images[name]))
        ax.set_title(name.removeprefix("map:"), fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    return fig


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    return save(fig, path, dpi=100)


MAP_IMAGES = ("interference_hist", "interference_vs_semantic")
"""Per-map figures the report lays out as one grid each (`map_grid_<name>.png`)."""


def draw_figures(tables: dict[str, pl.DataFrame], out_dir: Path, *, bins: list[str] | None = None,
                 map_images: dict[str, dict[str, Path]] | None = None) -> list[Path]:
    """Draw every figure the available tables allow; returns the written PNGs.

    `bins`: select's labels of bin index k; `map_images`: {figure name: {map step id: PNG}} laid out as grids."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    cols = set(tables["effects"].columns) if "effects" in tables else set()
    if {"estimate", "ci_lo", "ci_hi"} <= cols and cols & {"level", "condition"} and tables["effects"].height:
        made.append(_save(effects_by_focus_figure(tables["effects"], bins), out_dir / "interventions_effects.png"))
    transfer, t_metric = one_metric(tables["transfer"]) if "transfer" in tables else (None, "")
    if transfer is not None:
        made.append(_errorbar_figure(transfer, "target", f"transfer by target ({t_metric})",
                                     out_dir / "transfer_success.png"))
    if "partner_counts" in tables and tables["partner_counts"].height:
        made.append(_save(partners_grid_figure(tables["partner_counts"], bins), out_dir /
                          "map_grid_partners_per_bin.png"))
    for name, images in (map_images or {}).items():
        if images:
            made.append(_save(image_grid_figure(images), out_dir / f"map_grid_{name}.png"))
    return [p for p in made if p is not None]
