"""Interference kind, `map` step core: the n × n interference map computed in row blocks under a memory budget.

Input: unit row vectors V (n × k, I = V Vᵀ after an optional transform), optional unit gloss embeddings E (n × e,
S = E Eᵀ, computed in the same block loop), the bins, the semantic thresholds τ and, in cluster-exclusion mode,
cluster labels per τ. Output: `BlockedMap`, holding per feature the exact partner count per (bin, τ), a seeded
random sample of up to `top_partners` partners per (bin, τ), the top partners by I overall, the high-interference
links used by the Table-1 token sets, the exact App. F counts (ordered off-diagonal pairs with I < t, S < t), the
OLS sums of I on S, and a seeded uniform sample of pairs for the figures.

Per block (b rows) the work after the two GEMMs (into preallocated buffers) is: one fused pass of comparisons and
row sums for every count and the candidate mask (dense.py), one topk, and one nonzero over the rare cells with
I above the first bin
(bins ≥ 1 and links). The first (dense) bin is sampled from a seeded walk over a few columns per row. A block
costs about `_BYTES_PER_CELL`·b·n bytes; b comes from the budget. The OLS sums use closed forms
(Σ_ij I_ij S_ij = ‖VᵀE‖²_F …), so they cost no pass over the blocks (except under the |I| transform).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from interf_dsl.backends.device import device_budget_mb
from interf_dsl.interference import block_parts as bp
from interf_dsl.interference.bins import Bins
from interf_dsl.interference.dense import I_THRESHOLDS, S_THRESHOLDS, BlockStats, dense_i_thresholds

if TYPE_CHECKING:
    import torch

_BYTES_PER_CELL = 16  # I and S (fp32), the candidate mask, transients of topk and the fused pass (measured)
CHUNK_COLS = 2048  # CPU: a [b, 2048] chunk of I and S (4 MB at b = 256) is still in cache for the fused pass
FIGURE_PAIRS_PER_ROW = 32  # uniform pair sample kept per feature for the figures


@dataclass
class BlockedMap:
    """Everything the map keeps from the n × n matrices (all tensors on CPU)."""

    n: int
    counts: torch.Tensor  # [n, n_bins, n_taus] int32: partners per bin that pass τ (diagonal excluded)
    i_below: torch.Tensor | None = None  # [len(I_THRESHOLDS)] int64: ordered off-diagonal pairs with I < t
    s_below: torch.Tensor | None = None  # [len(S_THRESHOLDS)] int64: ... with S < t (None without glosses)
    # one row per sampled pair: feature, partner, I, S, bin, tau_first..tau_last (the τ indices it is kept at,
    # contiguous), pos (its position in the seeded order of its (feature, bin) group)
    bin_rows: dict[str, torch.Tensor] = field(default_factory=dict)
    top_rows: dict[str, torch.Tensor] = field(default_factory=dict)  # feature, partner, I, S, rank
    link_rows: dict[str, torch.Tensor] = field(default_factory=dict)  # feature, partner, I, S
    sample_i: torch.Tensor | None = None  # uniform pair sample (figures)
    sample_s: torch.Tensor | None = None
    sums: dict = field(default_factory=dict)  # n, s, i, ss, ii, si over ordered off-diagonal pairs; rows: per row
    block_rows: int = 0
    flops: float = 0.0
    kernel: str = "eager"  # how the dense per-block statistics ran (dense.BlockStats)
    kernel_note: str = ""
    first_block_s: float = 0.0  # time to the first block's results (includes any compilation)
    seconds: float = 0.0  # the whole block loop; steady rate = rows after the first block / (seconds - first_block_s)


def block_budget_mb(memory_budget_mb: float, device: torch.device | str) -> float:
    """The budget of one block: `map.memory_budget_mb` on a CPU; on a GPU a quarter of the device's free memory,
    at most 16 GiB (`backends.device.device_budget_mb`). A GPU block pays fixed costs (kernel launches, one host
    sync for the candidates): the H200 ran a 262,144-feature map in 8,192 blocks of 32 rows at 0.21 of its GEMM
    rate (eager; 0.31 compiled) under a 128 MB budget. The results do not depend on the block size
    (tests/unit/interference/test_blocked.py)."""
    import torch

    return memory_budget_mb if torch.device(device).type != "cuda" else device_budget_mb(device)


def block_rows_for(n: int, memory_budget_mb: float) -> int:
    """Rows per block so that one block's working set stays within the budget (at least 1)."""
    return max(1, min(n, int(memory_budget_mb * 2**20 / (_BYTES_PER_CELL * max(n, 1)))))


def compute_map(vectors: torch.Tensor, embeddings: torch.Tensor | None, bins: Bins, taus: tuple[float, ...], *,
                top_partners: int = 20, memory_budget_mb: float = 1024, transform: str | None = None,
                cluster_labels: list[torch.Tensor] | None = None, link_min: float = 0.2,
                link_max_semantic: float = 0.3, seed: int = 0, progress=None,
                chunk_cols: int | None = None) -> BlockedMap:
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
        progress: optional handle with `advance(n)`, called after every block.
        chunk_cols: columns per GEMM + fused-pass chunk on CPU (default `CHUNK_COLS`; whole rows on a GPU).

    Returns:
        The `BlockedMap`.
    """
    import torch


    n, nb, nt = vectors.shape[0], bins.n, len(taus)
    dev, dt = vectors.device, vectors.dtype
    has_s = embeddings is not None
    mode = "none" if not has_s else ("cluster" if cluster_labels is not None else "pairwise")
    b = block_rows_for(n, memory_budget_mb)
    lab_all = torch.stack([lab.to(dev) for lab in cluster_labels]) if mode == "cluster" else None
    lab_rows = torch.zeros(nt, b, dtype=lab_all.dtype, device=dev) if mode == "cluster" else None
    n_c = nb * nt if mode != "none" else 0
    below = torch.zeros(len(I_THRESHOLDS) + (len(S_THRESHOLDS) if has_s else 0), dtype=torch.long, device=dev)
    counts = torch.zeros(n, nb, nt, dtype=torch.int32)
    taus_t = torch.tensor(taus, dtype=dt, device=dev)
    walk = bp.Walk.make(n, top_partners, seed, dev)
    sp_min = min(bins.edges[1] if nb > 1 else bins.edges[0], link_min)
    parts: dict[str, list] = {"bin": [], "top": [], "link": [], "fig": []}
    # before the block buffers exist, so its transients do not add to their peak
    sums = bp.closed_form_sums(vectors, embeddings) if has_s and transform is None else None
    i_dense = dense_i_thresholds(sp_min)  # the other App. F I thresholds are counted from the candidates
    n_d = nt if mode != "none" else 0
    buf_i = torch.zeros(b, n, dtype=dt, device=dev)
    buf_s = torch.zeros(b, n, dtype=dt, device=dev) if has_s else None
    mask = torch.zeros(b, n, dtype=torch.bool, device=dev)
    abs_sums: dict = dict.fromkeys(("s", "i", "si"), 0.0)
    block_sums = has_s and sums is None  # under |I| the OLS sums are summed block by block, over whole rows
    # column chunk width: whole rows on a GPU and under |I|, else CHUNK_COLS
    w = n if (dev.type != "cpu" or block_sums) else min(n, chunk_cols or CHUNK_COLS)
    shapes = tuple(sorted({(b, w)} | ({(b, n % w)} if n % w else set())))  # the fused pass's input shapes
    stats = BlockStats(bins, taus, mode, n, sp_min, dev.type, shapes)
    flops = 0.0
    t0 = time.perf_counter()
    first_block_s = 0.0
    for r0 in range(0, n, b):
        r1 = min(n, r0 + b)
        nr = r1 - r0
        rows = torch.arange(r0, r1, device=dev)
        if lab_rows is not None:
            lab_rows[:, :nr] = lab_all[:, r0:r1]
        st = None
        for c0 in range(0, n, w):  # column chunks: the fused pass reads each chunk while it is still in cache
            c1 = min(n, c0 + w)
            i_c = torch.mm(vectors[r0:r1], vectors[c0:c1].T, out=buf_i[:nr, c0:c1])
            s_c = torch.mm(embeddings[r0:r1], embeddings[c0:c1].T, out=buf_s[:nr, c0:c1]) if has_s else None
            if transform == "abs":
                i_c.abs_()
            if block_sums:
                bp.block_sums(abs_sums, i_c, s_c, r0)
            for m in (i_c, s_c):  # the diagonal: no bin, but "below" every threshold (subtracted below)
                if m is not None:
                    m.diagonal(offset=r0 - c0).fill_(float("-inf"))
            # the fused kernel sees all b rows (one compiled shape per chunk width); rows past nr are ignored
            part = stats(buf_i[:, c0:c1], buf_s[:, c0:c1] if has_s else None, lab_rows,
                         lab_all[:, c0:c1] if lab_all is not None else None, mask[:, c0:c1])[:nr]
            st = part if st is None else st + part
        flops += 2.0 * nr * n * (vectors.shape[1] + (embeddings.shape[1] if has_s else 0))
        i_blk = buf_i[:nr]
        s_blk = buf_s[:nr] if has_s else None
        cand = bp.candidates(i_blk, s_blk, mask[:nr], rows, bins, taus_t, cluster_labels)
        parts["top"].append(bp.top_partners(i_blk, s_blk, rows, top_partners, cand))
        with bp.single_thread():  # many small ops: OpenMP barriers cost more than they gain (worse under load)
            if n_c:
                counts[r0:r1] = bp.bin_counts(st[:, :n_d], cand, r0, nr, bins, nt).cpu()
            # App. F counts (the diagonal, -inf, is below every threshold: minus nr)
            dense_below = st[:, n_d:].sum(0, dtype=torch.long)
            sparse_below = bp.sparse_below(cand, I_THRESHOLDS[len(i_dense):], nr * n)
            below += torch.cat([dense_below[:len(i_dense)], sparse_below, dense_below[len(i_dense):]]) - nr
            parts["link"].append(bp.links(cand, link_min, link_max_semantic))
            parts["bin"].append(bp.sparse_bins(cand, top_partners, nt, nb, seed))
            first, fig = walk.first_bin(i_blk, s_blk, bins, rows, taus_t, cluster_labels, top_partners, nt,
                                        FIGURE_PAIRS_PER_ROW)
        parts["bin"].append(first)
        parts["fig"].append(fig)
        if r0 == 0:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            first_block_s = time.perf_counter() - t0
        if progress is not None:
            progress.advance(nr)
    below = below.cpu()  # the last host sync of the loop
    out = BlockedMap(n=n, counts=counts, block_rows=b, flops=flops, kernel=stats.kernel, kernel_note=stats.note,
                     first_block_s=first_block_s, seconds=time.perf_counter() - t0)
    out.i_below = below[:len(I_THRESHOLDS)]
    out.s_below = below[len(I_THRESHOLDS):] if has_s else None
    out.bin_rows, out.top_rows = bp.cat(parts["bin"]), bp.cat(parts["top"])
    out.link_rows = bp.cat(parts["link"])
    fig = bp.cat(parts["fig"])
    out.sample_i, out.sample_s = fig.get("I"), fig.get("S") if has_s else None
    if has_s:
        out.sums = sums if sums is not None else bp.finish_abs_sums(abs_sums, vectors, embeddings)
        out.sums["n"] = float(n) * (n - 1)
    return out
