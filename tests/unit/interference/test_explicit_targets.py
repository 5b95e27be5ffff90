"""map.targets: explicit target features replace sampling; a listed feature that fails the every-bin rule is
reported, never dropped silently."""

from __future__ import annotations

from test_select import TAUS, run_map

from interf_dsl.interference.bins import parse_bins


def test_explicit_targets_are_taken_and_failures_reported():
    import numpy as np
    import polars as pl

    from interf_dsl.interference.runner import _explicit_counts
    from interf_dsl.interference.select import select_sae

    tabs = run_map()
    warnings: list[str] = []
    counts, per_layer = _explicit_counts(tabs["partner_counts"], [0, 3, 0], 5, TAUS, "s/h", warnings)
    assert per_layer == 2
    assert set(counts["feature"].to_list()) <= {0, 3}
    # feature 0 qualifies only at τ = 0.4; feature 3 nowhere: both failures are named
    assert any("feature 0" in w and "0.3" in w and "0.4" not in w.split("tau")[1] for w in warnings)
    assert any("feature 3" in w for w in warnings)
    targets, _ = select_sae(counts, tabs["pairs"].filter(pl.col("set") == "bin"), parse_bins(None), TAUS,
                            source="s", hook="h", targets_per_layer=per_layer, partners_per_bin=1,
                            rng=np.random.default_rng(0))
    assert targets.select("tau", "target").rows() == [(0.4, 0)]
