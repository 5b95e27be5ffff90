"""Transfer kind: the Table-1 style grid figure (sources' rows and targets' rows together).

Input: the `transfer_grid` table (model, role, type, condition, success_rate, ci_lo, ci_hi, stars, estimator, k).
Output: one PNG: a heat map per type, one row per model (sources first, labelled with the k they were scored or
rescored at, e.g. `gpt2 (source, k=10)`, then targets labelled with their estimator, e.g.
`target-tiny [logprobs k=10]` or `[sampling n=20]`), one column per condition; each cell shows the success rate
in %, its stars and the CI.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from interf_dsl.transfer.trials import CONDITIONS


def row_label(r: dict) -> str:
    """A grid row's label; target rows carry their estimator so a sampling row is never read as logprobs."""
    if r["role"] == "source":  # the k says whether the sources were rescored at the target's k
        return f"{r['model']} (source{', k=' + str(r['k']) if r.get('k') is not None else ''})"
    est = r["estimator"] or ""
    detail = f"k={r['k']}" if r.get("k") is not None else ""
    return f"{r['model']} [{est}{' ' + detail if detail else ''}]"


def draw_grid(grid: pl.DataFrame, path: Path, samples: dict[str, int] | None = None) -> Path | None:
    """Draw the grid figure to `path` (None when the grid is empty)."""
    if grid.height == 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    samples = samples or {}
    types = sorted(grid["type"].unique().to_list())
    conds = [c for c in CONDITIONS if c in set(grid["condition"].to_list())]
    labels_by_type = {}
    for t in types:
        part = grid.filter(pl.col("type") == t).sort(["role", "model"], descending=[False, False])
        seen: dict[str, dict] = {}
        for r in part.to_dicts():
            if r["role"] == "target" and r["estimator"] == "sampling":
                r = {**r, "k": None, "estimator": f"sampling n={samples.get(r['model'], '?')}"}
            seen.setdefault(row_label(r), {})[r["condition"]] = r
        labels_by_type[t] = seen
    n_rows = sum(len(v) for v in labels_by_type.values())
    fig, axes = plt.subplots(len(types), 1, figsize=(2.2 + 1.9 * len(conds), 1.0 + 0.55 * n_rows + 0.4 * len(types)),
                             squeeze=False)
    for ax, t in zip(axes[:, 0], types, strict=True):
        rows = labels_by_type[t]
        names = list(rows)
        mat = np.full((len(names), len(conds)), np.nan)
        for i, name in enumerate(names):
            for j, c in enumerate(conds):
                r = rows[name].get(c)
                if r is not None and r["success_rate"] is not None:
                    mat[i, j] = 100 * r["success_rate"]
                    lo, hi = r["ci_lo"], r["ci_hi"]
                    ci = f"\n[{100 * lo:.0f}, {100 * hi:.0f}]" if lo is not None and hi is not None else ""
                    ax.text(j, i, f"{mat[i, j]:.1f}{r['stars'] or ''}{ci}", ha="center", va="center", fontsize=7)
        ax.imshow(mat, cmap="Blues", vmin=0, vmax=100, aspect="auto", alpha=0.8)
        ax.set_xticks(range(len(conds)), conds, fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_title(f"{t}: success rate (%) of raising the type count, 95% CI", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
