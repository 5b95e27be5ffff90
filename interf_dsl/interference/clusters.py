"""Interference kind, `map` step: agglomerative clustering of features on gloss embeddings (METHOD.md §2.3).

Input: unit gloss embeddings [n, e], the cutoffs (similarity, e.g. 0.4/0.3/0.2/0.15), the linkage and the memory
budget. Output: one label vector per cutoff, all cut from ONE dendrogram (so the clusterings are nested, which the
cluster-exclusion mode of `blocked.compute_map` relies on). Distance = cosine distance, threshold = 1 − cutoff.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interf_dsl.errors import BackendError, SpecError

if TYPE_CHECKING:
    import numpy as np

LINKAGES = ("average", "complete", "single")


def condensed_mb(n: int) -> float:
    """Memory of scipy's condensed float64 distance matrix for n items, in MB."""
    return n * (n - 1) / 2 * 8 / 2**20


def cluster_features(embeddings: np.ndarray, cutoffs: tuple[float, ...], linkage: str,
                     memory_budget_mb: float) -> dict[float, np.ndarray]:
    """Cluster labels (1-based ints) per similarity cutoff.

    Raises:
        SpecError: unknown linkage.
        BackendError: the condensed distance matrix would exceed the memory budget.
    """
    import numpy as np
    from scipy.cluster.hierarchy import fcluster
    from scipy.cluster.hierarchy import linkage as scipy_linkage
    from scipy.spatial.distance import pdist

    if linkage not in LINKAGES:
        raise SpecError(f"map.linkage: unknown linkage '{linkage}'", name=linkage, choices=LINKAGES)
    n = embeddings.shape[0]
    if n < 2:
        return {c: np.ones(n, dtype=np.int64) for c in cutoffs}
    need = condensed_mb(n)
    if need > memory_budget_mb:
        raise BackendError(
            f"clustering {n} features needs a {need:.0f} MB distance matrix, above map.memory_budget_mb "
            f"= {memory_budget_mb:g}", hint=f"raise map.memory_budget_mb to at least {need:.0f}")
    dist = np.clip(pdist(embeddings.astype(np.float64), metric="cosine"), 0.0, 2.0)
    tree = scipy_linkage(dist, method=linkage)
    return {c: fcluster(tree, t=1.0 - c, criterion="distance").astype(np.int64) for c in cutoffs}
