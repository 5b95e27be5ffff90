"""Figures as objects (issue 16): bins labelled by their interference ranges, axis labels, readable ticks, source
names, small multiples (one panel per focus, per map) and the partners-per-bin bars equal to the table's counts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402

from interf_dsl.interference.bins import parse_bins  # noqa: E402
from interf_dsl.interventions.figures import (  # noqa: E402
    effect_by_level_figure,
    neuron_boxes_figure,
    type_grid_figure,
)
from interf_dsl.report.figures import (  # noqa: E402
    draw_figures,
    effects_by_focus_figure,
    image_grid_figure,
    partners_grid_figure,
)

BINS = parse_bins([(0, 0.1), (0.1, 0.2), (0.2, 1)], last_closed=True).labels()


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _effects(foci=("feature",), sources=("gpt2", "pythia")) -> pl.DataFrame:
    rows = []
    est = {"paper": "best_alpha_positive_mean", "rigorous": "heldout_alpha_mean"}
    for focus in foci:
        for src in sources:
            for mode in ("paper", "rigorous"):
                for metric in ("wc_rel", "wo_rel"):
                    for k, level in enumerate(("2", "0", "self", "1", "random_direction")):
                        rows.append({"focus": focus, "source": src, "tau": 0.2, "type": None, "level": level,
                                     "metric": metric, "mode": mode, "estimator": est[mode], "estimate": 0.01 * k,
                                     "ci_lo": 0.01 * k - 0.005, "ci_hi": 0.01 * k + 0.005})
    return pl.DataFrame(rows)


def _ticks(ax) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def test_focus_figure_labels_bins_by_their_ranges_with_y_labels_and_readable_ticks():
    fig = effect_by_level_figure(_effects(), "feature", BINS)
    assert len(fig.axes) == 4  # (paper, rigorous) x (wc_rel, wo_rel)
    for ax in fig.axes:
        assert _ticks(ax) == ["I ∈ [0,0.1)", "I ∈ [0.1,0.2)", "I ∈ [0.2,1]", "self", "random_direction"]
        assert "relative change" in ax.get_ylabel()
        assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 9
        assert {t.get_text() for t in ax.get_legend().get_texts()} == {"gpt2", "pythia"}
    # bars in level order: the first source's bin-0 bar is the table's estimate of level "0"
    first = fig.axes[0].patches[0]
    assert first.get_height() == pytest.approx(0.01)


def test_focus_figure_without_bin_labels_keeps_the_level_names():
    ax = effect_by_level_figure(_effects(), "feature", None).axes[0]
    assert _ticks(ax)[:3] == ["0", "1", "2"]


def test_neuron_figure_names_its_source_and_axes():
    rng = np.random.default_rng(0)
    table = pl.DataFrame({"source": "pythia", "hook": "h", "condition": "neuron", "level": ["1", "2-5"] * 20,
                          "coordinate": 3, "target": list(range(40)), "sentence_id": 0,
                          "alpha": [0.0, 4.0] * 20, "wc_delta": rng.normal(size=40)})
    fig = neuron_boxes_figure(table)
    assert all("pythia" in ax.get_title() for ax in fig.axes)
    assert all(ax.get_ylabel() and ax.get_xlabel() for ax in fig.axes)


def test_effects_summary_is_one_panel_per_focus():
    fig = effects_by_focus_figure(_effects(foci=("feature", "token", "embedding")), BINS)
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert sorted(ax.get_title() for ax in shown) == [f"{f} focus (rigorous mode)" for f in
                                                        ("embedding", "feature", "token")]
    for ax in shown:
        assert "I ∈ [0,0.1)" in _ticks(ax) and ax.get_ylabel()


def test_partners_per_bin_grid_shows_the_tables_counts_one_panel_per_map():
    rng = np.random.default_rng(1)
    rows = [{"step": f"map:gpt2/L{layer}.mlp_out", "tau": tau, "bin": b, "feature": f,
             "count": int(rng.integers(0, 50 * (3 - b)))}
            for layer in (1, 2, 3) for tau in (0.2, 0.4) for b in range(3) for f in range(30)]
    counts = pl.DataFrame(rows)
    fig = partners_grid_figure(counts, BINS)
    shown = [ax for ax in fig.axes if ax.axison]
    assert len(shown) == 3 and shown[0].get_title() == "gpt2/L1.mlp_out"
    want = counts.group_by("step", "tau", "bin").agg(pl.col("count").mean()).sort("step", "tau", "bin")
    heights = [p.get_height() for ax in shown for p in ax.patches]
    assert heights == pytest.approx(want["count"].to_list())
    assert max(heights) > 1.0 and len(set(heights)) > 1  # real counts, not the share of features with a partner
    assert _ticks(shown[0]) == BINS and "partners per feature" in shown[0].get_ylabel()


def test_map_images_are_laid_out_as_a_grid(tmp_path):
    images = {}
    for k in range(6):
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.plot([0, 1], [0, k])
        images[f"map:gpt2/L{k}.mlp_out"] = tmp_path / f"{k}.png"
        fig.savefig(images[f"map:gpt2/L{k}.mlp_out"])
        plt.close(fig)
    fig = image_grid_figure(images)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titled) == 6 and fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 4)
    paths = draw_figures({}, tmp_path / "out", map_images={"interference_hist": images})
    assert [p.name for p in paths] == ["map_grid_interference_hist.png"]


def test_type_grid_has_a_row_per_type_and_token_sets() -> None:
    """The prompt focus's Table-1 grid keeps own-set and union-set rates apart (share: [own, union])."""
    rows = [{"source": "gpt2", "type": "number", "level": lv, "token_sets": sets, "mode": "paper",
             "metric": "success_rate", "estimate": est, "stars": ""}
            for sets, base in (("gpt2", 0.25), ("union", 0.10)) for lv, est in (("target", base), ("random", 0.05))]
    fig = type_grid_figure(pl.DataFrame(rows))
    table = fig.axes[0].tables[0]
    text = {(r, c): cell.get_text().get_text() for (r, c), cell in table.get_celld().items()}
    labels = [text[(r, -1)] for r in (1, 2)]
    assert labels == ["number (gpt2, own sets)", "number (gpt2, union sets)"]
    assert (text[(1, 0)], text[(2, 0)]) == ("25.00", "10.00")


def test_effects_summary_keeps_token_sets_apart() -> None:
    """Own-set and union-set rates of one source and type are two series, not one series drawn twice per level."""
    rows = [{"source": "gpt2", "focus": "prompt", "type": "number", "level": lv, "token_sets": sets,
             "mode": "rigorous", "metric": "success_rate", "estimator": "rate", "estimate": 0.2, "ci_lo": 0.1,
             "ci_hi": 0.3, "tau": None} for sets in ("gpt2", "union") for lv in ("target", "random")]
    fig = effects_by_focus_figure(pl.DataFrame(rows))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["gpt2 number own", "gpt2 number union"]
