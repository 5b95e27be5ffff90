"""Interference kind, `map` step core: the n × n interference map computed in row blocks under a memory budget.

Input: unit row vectors V (n × k, I = V Vᵀ after an optional transform), optional unit gloss embeddings E (n × e,
S = E Eᵀ), the bins, the semantic thresholds τ and, in cluster-exclusion mode, cluster labels per τ.
Output: `BlockedMap`, holding per feature the exact partner count per (bin, τ), a seeded random sample of up to
`top_partners` partners per (bin, τ), the top partners by I overall, the high-interference links used by the
Table-1 token sets, and the App. F distribution statistics (histograms of I and S, OLS sums of I on S).
The full matrix is never held: a block of b rows costs about 40·b·n bytes, and b is chosen from the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interf_dsl.interference.bins import Bins

if TYPE_CHECKING:
    import torch

HIST_BINS = 200  # histogram of I and S on [-1, 1], resolution 0.01 (App. F fractions read from it)
HIST2D_BINS = 100
_BYTES_PER_CELL = 72  # I, S (fp32), codes, level, int64 histogram indices, temporaries (measured)


@dataclass
class BlockedMap:
    """Everything the map keeps from the n × n matrices (all tensors on CPU)."""

    n: int
    counts: torch.Tensor  # [n, n_bins, n_taus] int64: partners per bin that pass τ (diagonal excluded)
    bin_rows: dict[str, torch.Tensor] = field(default_factory=dict)  # feature, partner, I, S, bin, tau_idx, rank
    top_rows: dict[str, torch.Tensor] = field(default_factory=dict)  # feature, partner, I, S, rank
    link_rows: dict[str, torch.Tensor] = field(default_factory=dict)  # feature, partner, I, S
    hist_i: torch.Tensor | None = None  # [HIST_BINS] int64 over ordered off-diagonal pairs
    hist_s: torch.Tensor | None = None
    hist_2d: torch.Tensor | None = None  # [HIST2D_BINS (S), HIST2D_BINS (I)]
    sums: dict[str, float] = field(default_factory=dict)  # n, s, i, ss, ii, si over ordered off-diagonal pairs
    block_rows: int = 0
    flops: float = 0.0


def block_rows_for(n: int, memory_budget_mb: float) -> int:
    """Rows per block so that one block's working set stays within the budget (at least 1)."""
    return max(1, min(n, int(memory_budget_mb * 2**20 / (_BYTES_PER_CELL * max(n, 1)))))


def _pair_keys(rows: torch.Tensor, cols: torch.Tensor, seed: int) -> torch.Tensor:
    """A deterministic pseudo-random key per (row, col) pair: the order in which partners are kept."""
    x = rows.long() * 2654435761 + cols.long() * 40503 + seed * 97
    x = (x ^ (x >> 13)) * 1274126177
    return (x ^ (x >> 16)) & 0x7FFFFFFF


def _keep_first(groups: torch.Tensor, keys: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the first k entries (by key) of each group, and their rank inside the group."""
    import torch

    if groups.numel() == 0:
        return groups.new_zeros(0, dtype=torch.long), groups.new_zeros(0, dtype=torch.long)
    order = torch.argsort(keys, stable=True)
    order = order[torch.argsort(groups[order], stable=True)]
    g = groups[order]
    _, counts = torch.unique_consecutive(g, return_counts=True)
    starts = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    rank = torch.arange(g.numel(), device=g.device) - starts
    keep = rank < k
    return order[keep], rank[keep]


def _levels(s_blk, rows, taus_asc, labels, n_taus):
    """How many τ each pair passes (τ are nested, so passing τ_t implies passing every looser τ)."""
    import torch

    if labels is not None:  # cluster exclusion: a partner must lie in another cluster at that cutoff
        lvl = torch.zeros(s_blk.shape, dtype=torch.int32, device=s_blk.device)
        for lab in labels:
            lvl += (lab[rows][:, None] != lab[None, :]).to(torch.int32)
        return lvl
    return n_taus - torch.bucketize(s_blk, taus_asc, right=True, out_int32=True)


def compute_map(vectors: torch.Tensor, embeddings: torch.Tensor | None, bins: Bins, taus: tuple[float, ...], *,
                top_partners: int = 20, memory_budget_mb: float = 1024, transform: str | None = None,
                cluster_labels: list[torch.Tensor] | None = None, link_min: float = 0.2,
                link_max_semantic: float = 0.3, seed: int = 0, progress=None) -> BlockedMap:
    """Compute the blocked interference map.

    Args:
        vectors: [n, k] unit rows; I(i, j) = <v_i, v_j> (then `transform`, e.g. "abs").
        embeddings: [n, e] unit rows (S = cosine) or None (S undefined: no pair passes any τ).
        bins: interference bins.
        taus: semantic thresholds, descending (loosest first).
        top_partners: partners kept per feature per (bin, τ) and overall.
        memory_budget_mb: bound on one block's working set.
        transform: None or "abs".
        cluster_labels: cluster-exclusion mode: one label vector [n] per τ (same order as `taus`, nested).
        link_min: links kept for token sets need I > link_min ...
        link_max_semantic: ... and S < link_max_semantic.
        seed: seed of the partner sampling order.
        progress: optional handle with `advance(n)`.

    Returns:
        The `BlockedMap`.
    """
    import torch

    n, nb, nt = vectors.shape[0], bins.n, len(taus)
    dev = vectors.device
    taus_asc = torch.tensor(sorted(taus), dtype=vectors.dtype, device=dev)
    b = block_rows_for(n, memory_budget_mb)
    ncode = (nb + 1) * (nt + 1)
    out = BlockedMap(n=n, counts=torch.zeros(n, nb, nt, dtype=torch.long), block_rows=b)
    hist_i = torch.zeros(HIST_BINS, dtype=torch.long, device=dev)
    hist_s = torch.zeros(HIST_BINS, dtype=torch.long, device=dev)
    hist_2d = torch.zeros(HIST2D_BINS * HIST2D_BINS, dtype=torch.long, device=dev)
    sums = dict.fromkeys(("s", "i", "ss", "ii", "si"), 0.0)
    sparse_min = min(bins.edges[1] if nb > 1 else bins.edges[0], link_min)
    m = min(n, max(8 * top_partners, 256))  # columns sampled per row for the dense first bin
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(dev)
    parts: dict[str, list] = {"bin": [], "top": [], "link": []}
    flops = 0.0
    for r0 in range(0, n, b):
        r1 = min(n, r0 + b)
        rows = torch.arange(r0, r1, device=dev)
        i_blk = vectors[r0:r1] @ vectors.T
        flops += 2.0 * (r1 - r0) * n * vectors.shape[1]
        if transform == "abs":
            i_blk.abs_()
        diag_i = i_blk[rows - r0, rows].clone()
        s_blk = diag_s = None
        if embeddings is not None:
            s_blk = embeddings[r0:r1] @ embeddings.T
            flops += 2.0 * (r1 - r0) * n * embeddings.shape[1]
            diag_s = s_blk[rows - r0, rows].clone()
            _accumulate_sums(sums, i_blk, s_blk, diag_i, diag_s)
            _hist(hist_s, s_blk, diag_s)
            _hist2d(hist_2d, s_blk, i_blk, diag_s, diag_i)
            s_blk[rows - r0, rows] = float("nan")
        _hist(hist_i, i_blk, diag_i)
        i_blk[rows - r0, rows] = float("-inf")
        code = bins.codes(i_blk)
        if s_blk is not None:
            level = _levels(s_blk, rows, taus_asc, cluster_labels, nt)
        else:
            level = torch.zeros_like(code)
        flat = (code + 1) * (nt + 1) + level + (torch.arange(r1 - r0, device=dev, dtype=torch.int32) * ncode)[:, None]
        h = torch.bincount(flat.view(-1), minlength=(r1 - r0) * ncode).view(r1 - r0, nb + 1, nt + 1)[:, 1:, :]
        # partners that pass τ_t are those with level >= t + 1
        out.counts[r0:r1] = h.flip(-1).cumsum(-1).flip(-1)[:, :, 1:].cpu()
        del flat, h
        parts["top"].append(_top(i_blk, s_blk, rows, top_partners))
        parts["bin"].append(_sparse_bins(i_blk, s_blk, code, level, rows, sparse_min, top_partners, nt, seed, bins))
        parts["bin"].append(_dense_first_bin(i_blk, s_blk, code, level, rows, perm, m, top_partners, nt))
        parts["link"].append(_links(i_blk, s_blk, rows, link_min, link_max_semantic))
        del i_blk, s_blk, code, level
        if progress is not None:
            progress.advance(r1 - r0)
    out.bin_rows = _cat(parts["bin"])
    out.top_rows = _cat(parts["top"])
    out.link_rows = _cat(parts["link"])
    out.hist_i = hist_i.cpu()
    if embeddings is not None:
        out.hist_s, out.hist_2d = hist_s.cpu(), hist_2d.view(HIST2D_BINS, HIST2D_BINS).cpu()
        sums["n"] = float(n) * (n - 1)
        out.sums = sums
    out.flops = flops
    return out


def _hist_index(x: torch.Tensor, nbins: int) -> torch.Tensor:
    return ((x + 1.0) * (nbins / 2.0)).clamp_(0, nbins - 0.5).long()


def _hist(hist: torch.Tensor, x: torch.Tensor, diag: torch.Tensor) -> None:
    import torch

    hist += torch.bincount(_hist_index(x.reshape(-1), HIST_BINS), minlength=HIST_BINS)
    hist -= torch.bincount(_hist_index(diag, HIST_BINS), minlength=HIST_BINS)


def _hist2d(hist, s, i, ds, di) -> None:
    import torch

    nb = HIST2D_BINS
    idx = _hist_index(s.reshape(-1), nb) * nb + _hist_index(i.reshape(-1), nb)
    hist += torch.bincount(idx, minlength=nb * nb)
    hist -= torch.bincount(_hist_index(ds, nb) * nb + _hist_index(di, nb), minlength=nb * nb)


def _accumulate_sums(sums, i_blk, s_blk, di, ds) -> None:
    import torch

    f64 = torch.float64
    di64, ds64 = di.double(), ds.double()
    sums["i"] += float(i_blk.sum(dtype=f64)) - float(di64.sum())
    sums["s"] += float(s_blk.sum(dtype=f64)) - float(ds64.sum())
    sums["ii"] += float((i_blk * i_blk).sum(dtype=f64)) - float((di64 * di64).sum())
    sums["ss"] += float((s_blk * s_blk).sum(dtype=f64)) - float((ds64 * ds64).sum())
    sums["si"] += float((s_blk * i_blk).sum(dtype=f64)) - float((ds64 * di64).sum())


def _gather_s(s_blk, r, c):
    import torch

    if s_blk is None:
        return torch.full(r.shape, float("nan"), device=r.device)
    return s_blk[r, c]


def _top(i_blk, s_blk, rows, k):
    import torch

    kk = min(k, i_blk.shape[1] - 1)
    if kk <= 0:
        return {}
    vals, cols = torch.topk(i_blk, kk, dim=1)
    r = torch.arange(i_blk.shape[0], device=i_blk.device)[:, None].expand_as(cols)
    return {"feature": rows[r].reshape(-1), "partner": cols.reshape(-1), "I": vals.reshape(-1),
            "S": _gather_s(s_blk, r, cols).reshape(-1),
            "rank": torch.arange(kk, device=i_blk.device).repeat(i_blk.shape[0])}


def _select_per_tau(r, c, iv, sv, bn, lv, keys, k, nt, nb, rows):
    """Up to k entries per (row, bin, τ) among candidates, ordered by `keys`."""
    import torch

    out = []
    for t in range(nt):
        ok = lv >= t + 1
        idx, rank = _keep_first((r[ok] * nb + bn[ok].long()), keys[ok], k)
        sel = ok.nonzero().squeeze(1)[idx]
        out.append({"feature": rows[r[sel]], "partner": c[sel], "I": iv[sel], "S": sv[sel],
                    "bin": bn[sel].long(), "tau_idx": torch.full_like(sel, t), "rank": rank})
    return _cat(out)


def _sparse_bins(i_blk, s_blk, code, level, rows, sparse_min, k, nt, seed, bins):
    r, c = (i_blk >= sparse_min).nonzero(as_tuple=True)
    bn = code[r, c]
    keep = bn >= 1  # the first bin is sampled densely by `_dense_first_bin`
    r, c, bn = r[keep], c[keep], bn[keep]
    return _select_per_tau(r, c, i_blk[r, c], _gather_s(s_blk, r, c), bn, level[r, c],
                           _pair_keys(rows[r], c, seed), k, nt, bins.n, rows)


def _dense_first_bin(i_blk, s_blk, code, level, rows, perm, m, k, nt):
    """First bin (most pairs): walk a seeded random column order per row instead of scanning all columns."""
    import torch

    nrow, n = i_blk.shape
    step = torch.arange(m, device=i_blk.device)
    cols = perm[(rows[:, None] * 7919 + step[None, :]) % n]
    r = torch.arange(nrow, device=i_blk.device)[:, None].expand_as(cols)
    bn = code[r, cols]
    hit = bn == 0
    r, c = r[hit], cols[hit]
    keys = step.expand(nrow, m)[hit]  # position in the walk: the earlier, the sooner kept
    return _select_per_tau(r, c, i_blk[r, c], _gather_s(s_blk, r, c), bn[hit], level[r, c], keys, k, nt, 1, rows)


def _links(i_blk, s_blk, rows, link_min, link_max_semantic):
    if s_blk is None:
        return {}
    hit = (i_blk > link_min) & (s_blk < link_max_semantic)
    r, c = hit.nonzero(as_tuple=True)
    return {"feature": rows[r], "partner": c, "I": i_blk[r, c], "S": s_blk[r, c]}


def _cat(parts: list[dict]) -> dict:
    import torch

    parts = [p for p in parts if p]
    if not parts:
        return {}
    return {key: torch.cat([p[key] for p in parts]).cpu() for key in parts[0]}
