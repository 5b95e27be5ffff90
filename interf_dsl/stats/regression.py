"""Stats: OLS with cluster-robust standard errors, for the paper's Models A/B (docs/method.md §5.1).

Input: a polars DataFrame of test cases, a statsmodels formula ("delta_c ~ interference + S + baseline +
C(layer_type)") and the cluster column (target feature). Output: a polars DataFrame, one row per term: term,
coef, se, t, p, ci_lo, ci_hi, n, n_clusters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interf_dsl.errors import SpecError
from interf_dsl.stats._checks import check_ci

if TYPE_CHECKING:
    import polars as pl


def ols_clustered(df: pl.DataFrame, formula: str, cluster: str, ci: float = 0.95) -> pl.DataFrame:
    """Fit `formula` by OLS with standard errors clustered by `cluster` (t with G − 1 df).

    Rows with a missing value in any variable of the formula are dropped (statsmodels missing='drop'); `n` is
    the number of rows actually used, `n_clusters` the number of distinct clusters among them.

    Args:
        df: one row per test case.
        formula: a statsmodels/patsy formula over columns of df.
        cluster: the column whose values define clusters (e.g. the target feature id).
        ci: confidence level of ci_lo/ci_hi.
    """
    import polars as pl
    import statsmodels.formula.api as smf

    ci = check_ci(ci)
    if cluster not in df.columns:
        raise SpecError(f"regression cluster column '{cluster}' is not in the table", name=cluster,
                        choices=tuple(df.columns))
    if df[cluster].null_count():
        raise SpecError(f"regression cluster column '{cluster}' has missing values")
    pdf = df.to_pandas()
    try:
        model = smf.ols(formula, data=pdf, missing="drop")
    except Exception as exc:  # patsy raises its own error types for unknown names and bad syntax
        raise SpecError(f"cannot build regression '{formula}': {exc}", choices=tuple(df.columns)) from exc
    rows = np.asarray(model.data.row_labels)
    _, groups = np.unique(pdf.loc[rows, cluster].to_numpy(), return_inverse=True)
    n_clusters = int(groups.max() + 1) if groups.size else 0
    if n_clusters < 2:
        raise SpecError(f"regression '{formula}' needs ≥ 2 clusters of '{cluster}', got {n_clusters}")
    fit = model.fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    conf = np.asarray(fit.conf_int(alpha=1.0 - ci))
    names = list(fit.model.exog_names)
    return pl.DataFrame({
        "term": names,
        "coef": np.asarray(fit.params, dtype=np.float64),
        "se": np.asarray(fit.bse, dtype=np.float64),
        "t": np.asarray(fit.tvalues, dtype=np.float64),
        "p": np.asarray(fit.pvalues, dtype=np.float64),
        "ci_lo": conf[:, 0],
        "ci_hi": conf[:, 1],
        "n": [int(fit.nobs)] * len(names),
        "n_clusters": [n_clusters] * len(names),
    })
