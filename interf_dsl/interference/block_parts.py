"""Interference kind, `map` step helpers: the per-block pieces of `blocked.compute_map`.

Input: one block of I (and S) rows (diagonal = -inf), the bins and the sampling settings. Output: small
dicts of tensors (compact dtypes: int32 ids, float32 values, int8 bin/τ indices) with the block's top partners,
candidate pairs above the first bin, the seeded partner samples (one row per pair: the contiguous range of τ it is
kept at and its position in the seeded order), the links, and the figure sample; plus the closed
forms of the OLS sums. No Python loop runs over rows or cells; loops run over τ (≤ a handful) only.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@contextmanager
def single_thread():
    """Run the enclosed torch ops on one intra-op thread, then restore the thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _levels(sv, feature, partner, taus_t, labels):
    """How many τ each pair passes (nested: passing τ_t implies passing every looser τ)."""
    import torch

    if labels is not None:
        lv = torch.zeros(sv.shape, dtype=torch.int32, device=sv.device)
        for lab in labels:
            lab = lab.to(sv.device)
            lv += (lab[feature] != lab[partner]).to(torch.int32)
        return lv
    return (sv[:, None] < taus_t[None, :]).sum(1, dtype=torch.int32)  # NaN (no glosses) passes nothing


def top_partners(i_blk, s_blk, rows, k, cand):
    """The k partners with the largest I per row (the diagonal holds -inf), best first.

    Rows holding at least k candidates (`cand`: every cell with I >= the candidate minimum) take them from the
    candidates, since their top k are all candidates: one sort of a few thousand entries instead of a topk over
    every cell. The other rows use a dense topk.
    """
    import torch

    kk = min(k, i_blk.shape[1] - 1)
    if kk <= 0:
        return {}
    nr = i_blk.shape[0]
    local = cand["feature"].long() - int(rows[0])
    enough = torch.bincount(local, minlength=nr) >= kk
    dense_rows = (~enough).nonzero().squeeze(1)
    sparse = _top_from_candidates(cand, local, enough, kk)
    dense = {}
    if dense_rows.numel():
        vals, cols = torch.topk(i_blk[dense_rows], kk, dim=1)
        sv = torch.gather(s_blk[dense_rows], 1, cols) if s_blk is not None else torch.full_like(vals, float("nan"))
        dense = {"feature": rows[dense_rows].int().repeat_interleave(kk), "partner": cols.reshape(-1).int(),
                 "I": vals.reshape(-1), "S": sv.reshape(-1),
                 "rank": torch.arange(kk, device=i_blk.device, dtype=torch.int16).repeat(dense_rows.numel())}
    both = cat([d for d in (sparse, dense) if d])
    order = torch.argsort(both["feature"].long() * kk + both["rank"].long())
    return {key: val[order] for key, val in both.items()}


def _top_from_candidates(cand, local, enough, kk):
    """The kk best candidates of each row flagged `enough` (rows sorted, best first within a row)."""
    import torch

    sel = enough[local].nonzero().squeeze(1)
    if sel.numel() == 0:
        return {}
    by_i = sel[torch.argsort(-cand["I"][sel], stable=True)]
    by_row = by_i[torch.argsort(local[by_i], stable=True)]
    _, counts = torch.unique_consecutive(local[by_row], return_counts=True)
    rank = torch.arange(by_row.numel(), device=by_row.device) - torch.repeat_interleave(
        torch.cumsum(counts, 0) - counts, counts)
    top = by_row[rank < kk]
    return {"feature": cand["feature"][top].int(), "partner": cand["partner"][top].int(), "I": cand["I"][top],
            "S": cand["S"][top], "rank": rank[rank < kk].to(torch.int16)}


def candidates(i_blk, s_blk, mask, rows, bins, taus_t, labels):
    """Every cell of `mask` (I >= the sparse minimum: bins above the first, and links), with bin and τ level."""
    import torch

    n = i_blk.shape[1]
    flat = mask.reshape(-1).nonzero().squeeze(1)  # dense: all threads
    with single_thread():  # the rest touches only the few candidates
        iv = i_blk.view(-1).index_select(0, flat)
        sv = s_blk.view(-1).index_select(0, flat) if s_blk is not None else torch.full_like(iv, float("nan"))
        feature, partner = rows[flat // n], flat % n
        return {"feature": feature, "partner": partner, "I": iv, "S": sv, "bin": bins.codes(iv).long(),
                "level": _levels(sv, feature, partner, taus_t, labels)}


def bin_counts(dense_above, cand, r0, nr, bins, nt):
    """Exact partners per (row, bin, τ) of a block: [nr, n_bins, nt] int32.

    Bins above the first are counted from the candidates (every cell there is one). The first bin is the dense
    count of cells with I >= its lower edge passing τ (`dense_above`, [nr, nt] from the fused pass) minus the
    candidates above its upper edge passing τ. Passing is nested (a cell passes τ_t iff its level > t), so one
    histogram over (row, bin, level) and a reverse cumulative sum give every τ at once.
    """
    import torch

    nb = bins.n
    row = cand["feature"].long() - r0
    level = cand["level"].long().clamp(0, nt)

    def passing(group, lv, groups):  # [groups, nt]: entries per group with level >= t + 1
        h = torch.bincount(group * (nt + 1) + lv, minlength=groups * (nt + 1)).view(groups, nt + 1)
        return h.flip(1).cumsum(1).flip(1)[:, 1:]

    per_bin = passing(row * (nb + 1) + cand["bin"].long() + 1, level, nr * (nb + 1)).view(nr, nb + 1, nt)[:, 1:]
    iv, e1 = cand["I"], bins.edges[1]
    high = ((iv > e1) if (nb == 1 and bins.last_closed) else (iv >= e1)).nonzero().squeeze(1)
    out = per_bin.to(torch.int32)
    out[:, 0] = dense_above - passing(row[high], level[high], nr).to(torch.int32)
    return out


def sparse_below(cand, thresholds, n_cells):
    """Cells with I < t for thresholds t at or above the candidate minimum: n_cells minus the candidates >= t."""
    import torch

    if not thresholds:
        return torch.zeros(0, dtype=torch.long, device=cand["I"].device)
    thr = torch.tensor(thresholds, dtype=cand["I"].dtype, device=cand["I"].device)
    return n_cells - (cand["I"][:, None] >= thr[None, :]).sum(0, dtype=torch.long)


def links(cand, link_min, link_max_semantic):
    hit = ((cand["I"] > link_min) & (cand["S"] < link_max_semantic)).nonzero().squeeze(1)  # NaN S: no links
    return {"feature": cand["feature"][hit].int(), "partner": cand["partner"][hit].int(), "I": cand["I"][hit],
            "S": cand["S"][hit]}


def pair_keys(rows, cols, seed: int):
    """A deterministic pseudo-random key per (row, col) pair: the order in which partners are kept."""
    x = rows.long() * 2654435761 + cols.long() * 40503 + seed * 97
    x = (x ^ (x >> 13)) * 1274126177
    return (x ^ (x >> 16)) & 0x7FFFFFFF


def _take(cand, idx, first, last, pos):
    """Output rows for candidate indices `idx`: one row per kept pair (one gather per field)."""
    import torch

    return {"feature": cand["feature"][idx].int(), "partner": cand["partner"][idx].int(), "I": cand["I"][idx],
            "S": cand["S"][idx], "bin": cand["bin"][idx].to(torch.int8), "tau_first": first.to(torch.int8),
            "tau_last": last.to(torch.int8), "pos": pos.to(torch.int32)}


def _kept(level, rank_of, k, nt):
    """Entries kept at some τ (passing τ_t with rank < k; `rank_of(ok)` ranks them): (flat indices, first τ index,
    last τ index kept at).

    The τ at which an entry is kept are contiguous, first..last: passing is nested (τ_t is passed iff level > t,
    τ loosest first) and the rank (passing entries before it in the fixed order) can only fall as τ tightens, so an
    entry kept at τ_t stays kept at every tighter τ it passes. tests/unit/interference/test_pairs_v3.py checks
    the per-τ lists re-derived from (first, last, order) against a per-τ reference.
    """
    import torch

    first = torch.full(level.shape, nt, dtype=torch.int8, device=level.device)
    last = torch.full(level.shape, -1, dtype=torch.int8, device=level.device)
    for t in range(nt):
        ok = level >= t + 1
        kept = ok & (rank_of(ok) < k)
        first.masked_fill_(kept & (first == nt), t)
        last.masked_fill_(kept, t)
    sel = (last >= 0).view(-1).nonzero().squeeze(1)
    return sel, first.view(-1)[sel], last.view(-1)[sel]


def sparse_bins(cand, k, nt, nb, seed):
    """Up to k candidates per (feature, bin ≥ 1, τ), in a seeded pseudo-random order: ONE sort for every τ.

    One row per kept pair, with the range of τ indices it is kept at and its position in the group's order.
    """
    import torch

    keep = (cand["bin"] >= 1).nonzero().squeeze(1)  # the first bin is sampled by `Walk.first_bin`
    if keep.numel() == 0:
        return {}
    groups = cand["feature"][keep].long() * nb + cand["bin"][keep]
    order = keep[torch.argsort(groups * 2**31 + pair_keys(cand["feature"][keep], cand["partner"][keep], seed))]
    _, counts = torch.unique_consecutive(cand["feature"][order].long() * nb + cand["bin"][order],
                                         return_counts=True)
    start = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)

    def rank_of(ok):
        before = torch.cumsum(ok, 0) - ok.long()  # passing entries before this one (exclusive prefix)
        return before - before[start]

    idx, first, last = _kept(cand["level"][order], rank_of, k, nt)
    pos = idx - start[idx]  # position in the group's seeded order
    return _take(cand, order[idx], first, last, pos)


@dataclass
class Walk:
    """A seeded column order per row: the first (dense) bin is sampled from its first m columns."""

    perm: torch.Tensor
    m: int

    @classmethod
    def make(cls, n: int, top_partners: int, seed: int, dev) -> Walk:
        import torch

        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(dev)
        return cls(perm, min(n, max(4 * top_partners, 64)))

    def first_bin(self, i_blk, s_blk, bins, rows, taus_t, labels, k, nt, n_fig):
        """(partner sample of bin 0 per τ, uniform figure sample of (I, S) pairs) for this block.

        Each row walks its first m columns; a row that finds fewer than k passing partners at some τ walks all n
        columns (the same order, so its first m stay as they were): bin 0 then offers exactly min(k, available)
        partners, as the exact counts that qualify targets promise.
        """
        import torch

        nrow, n = i_blk.shape
        cand, lv, fig = self._walk(i_blk, s_blk, bins, rows, torch.arange(nrow, device=i_blk.device), self.m, taus_t,
                                   labels, n_fig)
        short = torch.stack([(lv >= t + 1).sum(1) for t in range(nt)], 1).lt(k).any(1).nonzero().squeeze(1)
        parts = [self._kept_rows(cand, lv, torch.ones(nrow, dtype=torch.bool, device=lv.device).index_fill_(
            0, short, False) if self.m < n else None, k, nt)]
        if self.m < n and short.numel():
            per = max(1, (1 << 24) // n)  # rows walked in full at a time (≈ 16 M cells)
            for c0 in range(0, short.numel(), per):
                sub = short[c0:c0 + per]
                full, flv, _ = self._walk(i_blk, s_blk, bins, rows, sub, n, taus_t, labels, 0)
                parts.append(self._kept_rows(full, flv, None, k, nt))
        return (parts[0] if len(parts) == 1 else {key: torch.cat([p[key] for p in parts]) for key in parts[0]}), fig

    def _walk(self, i_blk, s_blk, bins, rows, local, steps, taus_t, labels, n_fig):
        """Candidates of the rows `local` (indices into the block) along their first `steps` walk columns, their
        τ levels (0 outside bin 0), and the figure sample of the first n_fig columns."""
        import torch

        n = i_blk.shape[1]
        step = torch.arange(steps, device=i_blk.device)
        r = rows[local]
        cols = self.perm[(r[:, None] * 7919 + step[None, :]) % n]
        iv = torch.gather(i_blk[local], 1, cols)
        sv = torch.gather(s_blk[local], 1, cols) if s_blk is not None else torch.full_like(iv, float("nan"))
        fig_ok = torch.isfinite(iv[:, :n_fig])  # the diagonal (-inf) is no pair
        fig = {"I": iv[:, :n_fig][fig_ok], "S": sv[:, :n_fig][fig_ok]}
        feature = r[:, None].expand_as(cols)
        lv = _levels(sv.reshape(-1), feature.reshape(-1), cols.reshape(-1), taus_t, labels).view(len(local), steps)
        lv.masked_fill_(bins.codes(iv) != 0, 0)  # outside the first bin: kept at no τ
        cand = {"feature": feature.reshape(-1), "partner": cols.reshape(-1), "I": iv.reshape(-1),
                "S": sv.reshape(-1), "bin": torch.zeros(1, dtype=torch.long, device=iv.device).expand(iv.numel())}
        return cand, lv, fig

    @staticmethod
    def _kept_rows(cand, lv, rows_ok, k, nt):
        """Kept pairs of a walk (rank = running count along the row; position = the column's step), of the rows
        where `rows_ok` (None: all)."""
        if rows_ok is not None:
            lv = lv.masked_fill(~rows_ok[:, None], 0)
        steps = lv.shape[1]
        idx, first, last = _kept(lv, _row_rank, k, nt)
        return _take(cand, idx, first, last, idx % steps)


def _row_rank(ok):
    """Rank of each passing entry along its row: the passing entries before it."""
    import torch

    return torch.cumsum(ok, 1) - 1


def closed_form_sums(v, e, chunk: int = 1024) -> dict[str, float]:
    """Σ over ordered off-diagonal pairs of I, S, I², S², I·S with I = V Vᵀ, S = E Eᵀ, without the matrices, and
    `rows`: each row's Σ_j≠i of I, S, S², I·S (float64 tensors).

    Σ_ij I_ij = ‖Σ_i v_i‖², Σ_ij I_ij² = ‖VᵀV‖²_F, Σ_ij I_ij S_ij = ‖VᵀE‖²_F (and the same for S); the diagonal
    terms (‖v_i‖², ‖v_i‖⁴, ‖v_i‖²‖e_i‖²) are subtracted. Gram matrices in float64, row chunks in float32.
    """
    import torch

    f64 = torch.float64
    d, k = v.shape[1], e.shape[1]
    gv, ge, gve = (torch.zeros(a, b, dtype=f64, device=v.device) for a, b in ((d, d), (k, k), (d, k)))
    sv, se = torch.zeros(d, dtype=f64, device=v.device), torch.zeros(k, dtype=f64, device=v.device)
    di, ds = torch.empty(v.shape[0], dtype=f64, device=v.device), torch.empty(v.shape[0], dtype=f64,
                                                                             device=v.device)
    for r0 in range(0, v.shape[0], chunk):
        vc, ec = v[r0:r0 + chunk], e[r0:r0 + chunk]
        gv += vc.T @ vc
        ge += ec.T @ ec
        gve += vc.T @ ec
        sv += vc.sum(0, dtype=f64)
        se += ec.sum(0, dtype=f64)
        di[r0:r0 + chunk] = torch.linalg.vecdot(vc, vc)
        ds[r0:r0 + chunk] = torch.linalg.vecdot(ec, ec)
    # per-row sums over j != i (the dyadic-robust SE of the slope needs each feature's own sums)
    rows = {key: torch.empty(v.shape[0], dtype=f64, device=v.device) for key in ("i", "s", "ss", "si")}
    gv32, ge32, gve32 = gv.to(v.dtype), ge.to(v.dtype), gve.to(v.dtype)
    for r0 in range(0, v.shape[0], chunk):
        vc, ec = v[r0:r0 + chunk], e[r0:r0 + chunk]
        dvi, dsi = di[r0:r0 + chunk], ds[r0:r0 + chunk]
        rows["i"][r0:r0 + chunk] = (vc.double() @ sv) - dvi
        rows["s"][r0:r0 + chunk] = (ec.double() @ se) - dsi
        rows["ss"][r0:r0 + chunk] = torch.linalg.vecdot(ec @ ge32, ec).double() - dsi * dsi
        rows["si"][r0:r0 + chunk] = torch.linalg.vecdot(vc @ gve32, ec).double() - dvi * dsi
    del gv32, ge32, gve32
    return {"i": float(sv @ sv - di.sum()), "s": float(se @ se - ds.sum()),
            "ii": float((gv * gv).sum() - (di * di).sum()), "ss": float((ge * ge).sum() - (ds * ds).sum()),
            "si": float((gve * gve).sum() - (di * ds).sum()), "rows": rows}


def block_sums(acc: dict[str, float], i_blk, s_blk, r0: int) -> None:
    """Running Σ I, Σ S, Σ I·S of one block without its diagonal (the |I| transform has no closed form)."""
    import torch

    f64 = torch.float64
    di, ds = i_blk.diagonal(offset=r0).double(), s_blk.diagonal(offset=r0).double()
    row_i = i_blk.sum(1, dtype=f64) - di
    row_si = torch.linalg.vecdot(i_blk, s_blk).double() - di * ds
    acc["i"] += float(row_i.sum())
    acc["s"] += float(s_blk.sum(dtype=f64) - ds.sum())
    acc["si"] += float(row_si.sum())
    acc.setdefault("rows_i", []).append(row_i)
    acc.setdefault("rows_si", []).append(row_si)


def finish_abs_sums(acc: dict, v, e) -> dict:
    import torch

    out = closed_form_sums(v, e)  # Σ I² and Σ S², and the rows' S sums, are the same under |·|
    out.update(i=acc["i"], si=acc["si"])
    out["rows"].update(i=torch.cat(acc["rows_i"]), si=torch.cat(acc["rows_si"]))
    return out


def cat(parts: list[dict]) -> dict:
    """Concatenate per-block dicts of tensors key by key, freeing each key's parts as it goes (peak ≈ 1 key)."""
    import torch

    parts = [p for p in parts if p]
    if not parts:
        return {}
    out = {}
    for key in list(parts[0]):
        out[key] = torch.cat([p.pop(key) for p in parts]).cpu()
    return out
