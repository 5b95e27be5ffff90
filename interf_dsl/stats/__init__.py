"""Stats kind: aggregation and tests of intervention effects, in two modes recorded side by side.

`paper` reproduces the authors' aggregation (best α per sentence, positive-only means, Welch on trials);
`rigorous` (default) uses held-out α, sentence-clustered bootstrap CIs, Wilson/Cohen's h/BH for rates;
`regression` fits the paper's Models A/B with clustered SEs; `power` reports minimum detectable effects.
Import the submodules directly (`from interf_dsl.stats.rigorous import cluster_bootstrap_mean`); scipy and
statsmodels load only when a function needs them.
"""

BOOTSTRAP_SEED = 0
"""Seed of every bootstrap over raw rows: a statistics rerun gives the same intervals for the same settings."""
