"""Interference kind, `map` step: agglomerative clustering of features on gloss embeddings (METHOD.md §2.3).

Input: unit gloss embeddings [n, e], the cutoffs (similarity, e.g. 0.4/0.3/0.2/0.15), the linkage and the memory
budget. Output: `Clustering`: one label vector per cutoff, all cut from ONE dendrogram (so the clusterings are
nested, which the cluster-exclusion mode of `blocked.compute_map` relies on), and the method used. Distance =
cosine distance, threshold = 1 − cutoff.

Two methods, chosen by memory (and recorded in the map's meta and README):
* `exact`: scipy's `linkage` on the condensed n·(n−1)/2 float64 distance matrix, when that fits the budget.
* `knn_graph`: above the budget (a 32,768-feature SAE needs 4.3 GB), scikit-learn's `linkage_tree` restricted to a
  symmetric k-nearest-neighbour graph (k = `KNN`, found by blocked GEMM + topk). Clusters merge only along graph
  edges and an average/complete linkage distance is the mean/max over the connected pairs only, so this
  approximates the exact tree: exact for merges among pairs in each other's k nearest neighbours, and coarser
  clusters (cut at 0.15–0.2) can stay split where no kNN edge links them. Components the graph leaves apart are
  joined by scikit-learn at their closest points. With k ≥ n − 1 it is the exact tree.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from interf_dsl.errors import SpecError

if TYPE_CHECKING:
    import numpy as np

LINKAGES = ("average", "complete", "single")
KNN = 32


@dataclass
class Clustering:
    labels: dict[float, np.ndarray]  # cutoff -> 1-based labels [n]
    method: str  # "exact" or "knn_graph(k=…)"


def condensed_mb(n: int) -> float:
    """Memory of scipy's condensed float64 distance matrix for n items, in MB."""
    return n * (n - 1) / 2 * 8 / 2**20


def cluster_features(embeddings: np.ndarray, cutoffs: tuple[float, ...], linkage: str,
                     memory_budget_mb: float, *, knn: int = KNN) -> Clustering:
    """Cluster labels (1-based ints) per similarity cutoff.

    Raises:
        SpecError: unknown linkage.
    """
    import numpy as np

    if linkage not in LINKAGES:
        raise SpecError(f"map.linkage: unknown linkage '{linkage}'", name=linkage, choices=LINKAGES)
    n = embeddings.shape[0]
    if n < 2:
        return Clustering({c: np.ones(n, dtype=np.int64) for c in cutoffs}, "exact")
    if condensed_mb(n) <= memory_budget_mb:
        return Clustering(_exact(embeddings, cutoffs, linkage), "exact")
    k = min(knn, n - 1)
    return Clustering(_knn_graph(embeddings, cutoffs, linkage, k, memory_budget_mb), f"knn_graph(k={k})")


def _exact(embeddings, cutoffs, linkage):
    import numpy as np
    from scipy.cluster.hierarchy import fcluster
    from scipy.cluster.hierarchy import linkage as scipy_linkage
    from scipy.spatial.distance import pdist

    dist = np.clip(pdist(embeddings.astype(np.float64), metric="cosine"), 0.0, 2.0)
    tree = scipy_linkage(dist, method=linkage)
    return {c: fcluster(tree, t=1.0 - c, criterion="distance").astype(np.int64) for c in cutoffs}


def knn_graph(embeddings, k: int, memory_budget_mb: float):
    """Symmetric sparse kNN connectivity (scipy CSR) from blocked cosine GEMMs."""
    import numpy as np
    import torch
    from scipy.sparse import coo_matrix

    e = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    n = e.shape[0]
    rows = max(1, min(n, int(memory_budget_mb * 2**20 / (8 * n))))
    nbr = []
    for r0 in range(0, n, rows):
        sim = e[r0:r0 + rows] @ e.T
        sim[torch.arange(sim.shape[0]), torch.arange(r0, r0 + sim.shape[0])] = float("-inf")
        nbr.append(torch.topk(sim, k, dim=1).indices)
    cols = torch.cat(nbr).numpy().reshape(-1)
    r = np.repeat(np.arange(n), k)
    g = coo_matrix((np.ones(r.size, dtype=np.float64), (r, cols)), shape=(n, n)).tocsr()
    return ((g + g.T) > 0).astype(np.float64)


def _knn_graph(embeddings, cutoffs, linkage, k, memory_budget_mb):
    import numpy as np
    from sklearn.cluster import linkage_tree

    conn = knn_graph(embeddings, k, memory_budget_mb)
    with warnings.catch_warnings():
        # a graph with several components is completed by scikit-learn (documented above); that is expected
        warnings.filterwarnings("ignore", message=".*connected components.*")
        children, _, n_leaves, _, dist = linkage_tree(embeddings.astype(np.float64), connectivity=conn,
                                                      linkage=linkage, affinity="cosine", return_distance=True)
    return {c: _cut(children, dist, n_leaves, 1.0 - c) for c in cutoffs}


def _cut(children, dist, n: int, threshold: float):
    """Labels after applying, in order, every merge whose distance is <= threshold (union-find over leaves)."""
    import numpy as np

    parent = np.arange(2 * n)
    for m, ((a, b), d) in enumerate(zip(children, dist, strict=True)):
        if d <= threshold:
            parent[a] = parent[b] = n + m
    # follow each leaf to its root among the applied merges (pointer jumping, vectorised)
    root = parent[:n].copy()
    while True:
        nxt = parent[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    _, labels = np.unique(root, return_inverse=True)
    return labels.astype(np.int64) + 1
