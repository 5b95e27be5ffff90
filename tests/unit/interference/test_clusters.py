"""Clustering: exact scipy tree under the budget, kNN-graph tree above it (exact when k = n - 1), nested cuts."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interf_dsl.errors import SpecError  # noqa: E402
from interf_dsl.interference.clusters import cluster_features  # noqa: E402

CUTOFFS = (0.4, 0.3, 0.2, 0.15)


def embeddings(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 8))
    x = centres[rng.integers(0, 6, n)] + 0.25 * rng.normal(size=(n, 8))  # a few loose groups
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :]))


@pytest.mark.parametrize("linkage", ["average", "complete", "single"])
def test_knn_graph_with_full_graph_equals_exact(linkage):
    e = embeddings(60)
    exact = cluster_features(e, CUTOFFS, linkage, memory_budget_mb=100)
    full = cluster_features(e, CUTOFFS, linkage, memory_budget_mb=1e-6, knn=59)
    assert exact.method == "exact" and full.method == "knn_graph(k=59)"
    for c in CUTOFFS:
        assert same_partition(exact.labels[c], full.labels[c])
    if linkage != "single":  # single linkage chains the groups together
        assert 1 < len(set(exact.labels[0.4])) < 60  # the groups give a non-trivial partition


def test_knn_graph_cuts_are_nested():
    e = embeddings(300, seed=1)
    approx = cluster_features(e, CUTOFFS, "average", memory_budget_mb=1e-6, knn=10)
    assert approx.method == "knn_graph(k=10)"
    for fine, coarse in zip(CUTOFFS, CUTOFFS[1:], strict=False):
        a, b = approx.labels[fine], approx.labels[coarse]
        # nested: features together at the finer cutoff stay together at the coarser one
        together = a[:, None] == a[None, :]
        assert bool((b[:, None] == b[None, :])[together].all())
    assert 1 < len(set(approx.labels[0.4])) < 300


def test_unknown_linkage():
    with pytest.raises(SpecError, match="linkage"):
        cluster_features(embeddings(5), CUTOFFS, "ward", 100)
