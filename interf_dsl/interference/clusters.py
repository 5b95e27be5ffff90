"""Interference kind, `map` step: agglomerative clustering of features on gloss embeddings (docs/method.md §2.3).

Input: unit gloss embeddings [n, e], the cutoffs (similarity, e.g. 0.4/0.3/0.2/0.15), the linkage and the memory
budget. Output: `Clustering`: one label vector per cutoff, all cut from ONE dendrogram (so the clusterings are
nested, which the cluster-exclusion mode of `blocked.compute_map` relies on), and the method used. Distance =
cosine distance, threshold = 1 − cutoff.

Two methods, chosen by memory (and recorded in the map's meta and README):
* `exact`: scipy's `linkage` on the condensed n·(n−1)/2 float64 distance matrix, when that fits the budget.
* `knn_graph`: above the budget (a 32,768-feature SAE needs 4.3 GB), agglomeration restricted to the symmetric
  k-nearest-neighbour graph (k = `KNN`, found by blocked GEMM + topk; memory O(n·k)): two clusters may merge only
  when a kNN edge links them. Average linkage uses the EXACT mean cosine distance between the two clusters (from
  the members' summed unit vectors); complete / single linkage use the max / min over the known kNN edges. Merging
  stops past the largest threshold (1 − the smallest cutoff). Approximation: clusters that exact linkage would
  join but that no kNN edge links stay apart (so clusters can only be finer than exact for average linkage).
  With k ≥ n − 1 it is the exact tree (tested).
"""

from __future__ import annotations

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


def knn_edges(embeddings, k: int, memory_budget_mb: float):
    """Symmetric kNN edges (u < v) with their cosine distances, from blocked GEMMs + topk (never n × n)."""
    import numpy as np
    import torch

    e = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))
    n = e.shape[0]
    rows = max(1, min(n, int(memory_budget_mb * 2**20 / (8 * n))))
    us, vs, ds = [], [], []
    for r0 in range(0, n, rows):
        sim = e[r0:r0 + rows] @ e.T
        sim[torch.arange(sim.shape[0]), torch.arange(r0, r0 + sim.shape[0])] = float("-inf")
        val, idx = torch.topk(sim, k, dim=1)
        us.append(torch.arange(r0, r0 + sim.shape[0]).repeat_interleave(k))
        vs.append(idx.reshape(-1))
        ds.append((1.0 - val.double()).clamp(0.0, 2.0).reshape(-1))
    u, v, d = torch.cat(us).numpy(), torch.cat(vs).numpy(), torch.cat(ds).numpy()
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    key, first = np.unique(lo.astype(np.int64) * n + hi, return_index=True)
    return lo[first], hi[first], d[first]


def _knn_graph(embeddings, cutoffs, linkage, k, memory_budget_mb):
    """Agglomerative clustering restricted to kNN edges; merges stop past the largest distance threshold.

    Average linkage uses the exact mean cosine distance between clusters (for unit vectors it is
    1 − s_A·s_B / (|A||B|) with s the sum of the members), so only WHICH clusters may merge is approximated;
    complete / single linkage take the max / min over the known (kNN) edges between the two clusters.
    """
    import heapq

    import numpy as np

    n = embeddings.shape[0]
    limit = 1.0 - min(cutoffs)
    u, v, d = knn_edges(embeddings, k, memory_budget_mb)
    nbr: dict[int, dict[int, float]] = {i: {} for i in range(n)}
    for a, b, dist in zip(u.tolist(), v.tolist(), d.tolist(), strict=True):
        nbr[a][b] = nbr[b][a] = dist
    sums = {i: embeddings[i].astype(np.float64) for i in range(n)} if linkage == "average" else {}
    size = dict.fromkeys(range(n), 1)
    heap = [(dist, a, b) for a, b, dist in zip(u.tolist(), v.tolist(), d.tolist(), strict=True) if dist <= limit]
    heapq.heapify(heap)
    children, dists = [], []
    nxt = n
    while heap:
        dist, a, b = heapq.heappop(heap)
        if a not in size or b not in size or nbr[a].get(b) != dist:
            continue  # stale entry: one side merged already, or the distance changed
        w = nxt
        nxt += 1
        children.append((a, b))
        dists.append(dist)
        size[w] = size.pop(a) + size.pop(b)
        na, nb_ = nbr.pop(a), nbr.pop(b)
        if linkage == "average":
            sums[w] = sums.pop(a) + sums.pop(b)
        nbr[w] = {}
        for x in (set(na) | set(nb_)) - {a, b}:
            if linkage == "average":
                nd = 1.0 - float(sums[w] @ sums[x]) / (size[w] * size[x])
            else:
                known = [na[x]] if x in na else []
                known += [nb_[x]] if x in nb_ else []
                nd = max(known) if linkage == "complete" else min(known)
            nbr[x].pop(a, None)
            nbr[x].pop(b, None)
            nbr[x][w] = nbr[w][x] = nd
            if nd <= limit:
                heapq.heappush(heap, (nd, w, x))
    return {c: _cut(children, dists, n, 1.0 - c) for c in cutoffs}


def _cut(children, dist, n: int, threshold: float):
    """Labels after applying, in order, every merge whose distance is <= threshold (union-find over leaves)."""
    import numpy as np

    parent = np.arange(n + len(children) + 1)
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
