"""Interventions kind: figures of one intervene step (matplotlib, Agg backend, PNG).

Input: the `interventions` and `effects` tables of one focus. Output: {name: path} of PNG files under the step's
work dir: effect by level with CIs per mode (paper Fig. 3-5 layout), neuron effects by degree bin as box plots
(Fig. 6; letter-value plots need seaborn, which is not installed), and a Table-1 style grid of success rates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


METRIC_LABELS = {"wc_rel": "relative change in weighted cosine", "wo_rel": "relative change in weighted overlap",
                 "wc_delta": "change in weighted cosine", "wo_delta": "change in weighted overlap", "kl": "KL divergence",
                 "success_rate": "success rate"}
"""Y-axis labels of the effect metrics (`effects.metric`)."""
CONTROL_ORDER = ("self", "random_direction", "random_feature", "matched_feature")


def level_label(level: str, bins: list[str] | None) -> str:
    """A level as shown: bin index k as its interference range `I ∈ [lo, hi)` when the labels are known."""
    if bins and str(level).isdigit() and int(level) < len(bins):
        return f"I ∈ {bins[int(level)]}"
    return str(level)


def level_order(levels: list[str]) -> list[str]:
    """Bins first (by index), then the controls in a fixed order, then anything else."""
    def key(lv: str) -> tuple:
        lv = str(lv)
        if lv.isdigit():
            return (0, int(lv), "")
        return (1, CONTROL_ORDER.index(lv) if lv in CONTROL_ORDER else len(CONTROL_ORDER), lv)

    return sorted({str(v) for v in levels}, key=key)


def effect_by_level(effects: pl.DataFrame, focus: str, path: Path, bins: list[str] | None = None) -> Path:
    """`effect_by_level_figure` written to `path`."""
    return save(effect_by_level_figure(effects, focus, bins), path)


def save(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Write a figure as PNG and close it."""
    plt = _plt()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def effect_by_level_figure(effects: pl.DataFrame, focus: str, bins: list[str] | None = None) -> Any:
    """Bars of the primary estimator per level with CIs, one bar per source; one panel per (mode, metric).

    Bins are labelled by their interference ranges (`bins`: select's labels of bin index k)."""
    import polars as pl

    plt = _plt()
    est = {"paper": "best_alpha_positive_mean", "rigorous": "heldout_alpha_mean"}
    panels = [(m, met) for m in ("paper", "rigorous") for met in ("wc_rel", "wo_rel")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False)
    for ax, (mode, metric) in zip(axes[0], panels, strict=True):
        sub = effects.filter((pl.col("mode") == mode) & (pl.col("metric") == metric)
                             & (pl.col("estimator") == est[mode]))
        levels = level_order(sub["level"].to_list()) if sub.height else []
        sources = sorted({str(s) for s in sub["source"].to_list()}) if sub.height else []
        width = 0.8 / max(len(sources), 1)
        for k, src in enumerate(sources):
            part = (sub.filter(pl.col("source") == src).group_by("level")
                    .agg(pl.col("estimate", "ci_lo", "ci_hi").mean()))
            got = {str(r["level"]): r for r in part.iter_rows(named=True)}
            xs = [i + (k - (len(sources) - 1) / 2) * width for i, lv in enumerate(levels) if lv in got]
            rows = [got[lv] for lv in levels if lv in got]
            y = [r["estimate"] for r in rows]
            err = [[max(0.0, r["estimate"] - r["ci_lo"]) if r["ci_lo"] == r["ci_lo"] else 0 for r in rows],
                   [max(0.0, r["ci_hi"] - r["estimate"]) if r["ci_hi"] == r["ci_hi"] else 0 for r in rows]]
            ax.bar(xs, y, width=width, yerr=err, capsize=2, label=src)
        ax.set_xticks(range(len(levels)), [level_label(lv, bins) for lv in levels], rotation=35, ha="right",
                      fontsize=9)
        ax.tick_params(axis="y", labelsize=9)
        ax.set_title(f"{focus} focus, {mode} mode", fontsize=10)
        ax.set_ylabel(f"{METRIC_LABELS.get(metric, metric)}\n(estimate, CI)", fontsize=9)
        ax.axhline(0, color="k", lw=0.5)
        if ax.get_legend_handles_labels()[0]:  # a panel with no bars has nothing to label
            ax.legend(title="source", fontsize=8, title_fontsize=8)
    return fig


def neuron_boxes(table: pl.DataFrame, path: Path) -> Path:
    """`neuron_boxes_figure` written to `path`."""
    return save(neuron_boxes_figure(table), path)


def neuron_boxes_figure(table: pl.DataFrame) -> Any:
    """Box plots of the largest masking drop / amplifying gain in Δc per degree bin (Fig. 6 layout), titled with
    the source."""
    import polars as pl

    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    keys = ["hook", "condition", "level", "coordinate", "target", "sentence_id"]
    source = ", ".join(sorted({str(s) for s in table["source"].to_list()})) if "source" in table.columns else ""
    for ax, (name, cond, agg) in zip(axes, (("masking", pl.col("alpha") < 1, pl.col("wc_delta").min()),
                                            ("amplifying", pl.col("alpha") > 1, pl.col("wc_delta").max())),
                                     strict=True):
        per = table.filter(cond & (pl.col("condition") == "neuron")).group_by(keys).agg(agg.alias("v"))
        levels = sorted(per["level"].unique().to_list(), key=lambda s: int(str(s).split("-")[0].rstrip("+")))
        ax.boxplot([per.filter(pl.col("level") == lv)["v"].to_list() for lv in levels], tick_labels=levels)
        ax.set_title(f"{source}: neuron {name}", fontsize=10)
        ax.set_xlabel("polysemanticity degree (linked features)", fontsize=9)
        ax.set_ylabel(f"{'largest drop' if name == 'masking' else 'largest gain'} in Δ weighted cosine", fontsize=9)
        ax.tick_params(labelsize=9)
    return fig


def type_grid(effects: pl.DataFrame, path: Path) -> Path:
    """`type_grid_figure` written to `path`."""
    return save(type_grid_figure(effects), path)


def type_grid_figure(effects: pl.DataFrame) -> Any:
    """Table-1 grid: success rate (%) per type, token sets injected (own, or the sources' union/intersection) and
    condition, stars from the paper-mode Welch test."""
    import polars as pl

    plt = _plt()
    sub = effects.filter((pl.col("mode") == "paper") & (pl.col("metric") == "success_rate"))
    if "token_sets" not in sub.columns:
        sub = sub.with_columns(pl.col("source").alias("token_sets"))
    rows = sorted({(r["source"], r["type"], r["token_sets"] or r["source"]) for r in sub.to_dicts()},
                  key=lambda k: (k[0], k[1], k[2] != k[0], k[2]))
    cols = [c for c in ("target", "high", "medium", "random", "random_matched") if c in sub["level"].to_list()]
    cells = []
    for src, typ, sets in rows:
        line = []
        for c in cols:
            r = sub.filter((pl.col("source") == src) & (pl.col("type") == typ) & (pl.col("level") == c)
                           & (pl.col("token_sets").fill_null(src) == sets))
            line.append(f"{100 * r['estimate'][0]:.2f}{r['stars'][0] or ''}" if r.height else "")
        cells.append(line)
    fig, ax = plt.subplots(figsize=(1.6 * len(cols) + 2.6, 0.4 * len(rows) + 1))
    ax.axis("off")
    if cells:
        labels = [f"{t} ({s}, {'own' if sets == s else sets} sets)" for s, t, sets in rows]
        ax.table(cellText=cells, rowLabels=labels, colLabels=cols, loc="center")
    return fig
