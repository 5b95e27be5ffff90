"""The blocked map equals the dense computation; bins follow the [a, b) / closed-last convention."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interf_dsl.errors import SpecError  # noqa: E402
from interf_dsl.interference.bins import parse_bins  # noqa: E402
from interf_dsl.interference.blocked import compute_map  # noqa: E402

TAUS = (0.4, 0.3, 0.2, 0.15)


def unit(x):
    return x / x.norm(dim=1, keepdim=True)


def atol(dim: int) -> float:
    """Absolute tolerance for cosines of unit float32 vectors of `dim` computed by different kernels (blocked vs
    dense GEMM, AVX2 vs AVX-512 summation order): a dot product's rounding error is at most about dim·eps/2 times
    Σ|a_i b_i| <= 1, so 4·dim·eps is a safe margin. An absolute bound is needed because many cosines are near 0,
    where allclose's default atol (1e-8) is below one float32 rounding (2.2e-8 apart on AVX-512)."""
    import torch

    return 4 * dim * torch.finfo(torch.float32).eps


def clear_of(values, cuts, dim: int) -> None:
    """Premise of the exact-count comparisons: no value lies within rounding of a bin edge or threshold, so a kernel's
    last bit cannot move a pair across it (a seed that broke this would fail here, saying why)."""
    for cut in cuts:
        near = (values - float(cut)).abs() <= atol(dim)
        assert not bool(near.any()), f"a value lies within {atol(dim):.1e} of the cut {cut}: pick another seed"


def test_bins_edges():
    import torch

    bins = parse_bins("[0,.1) [.1,.2) [.2,.3) [.3,.4) [.4,1]")
    vals = torch.tensor([-0.01, 0.0, 0.0999, 0.1, 0.3999, 0.4, 1.0, 1.01])
    assert bins.codes(vals).tolist() == [-1, 0, 0, 1, 3, 4, 4, -1]
    assert [bins.code_of(float(v)) for v in vals] == [-1, 0, 0, 1, 3, 4, 4, -1]
    assert parse_bins([[0, 0.5], [0.5, 1]]).edges == (0.0, 0.5, 1.0)
    with pytest.raises(SpecError, match="contiguous"):
        parse_bins("[0,.1) [.2,1]")


@pytest.mark.parametrize(("transform", "chunk_cols"), [(None, None), (None, 7), ("abs", None), ("abs", 7)])
def test_blocked_equals_dense(transform, chunk_cols):
    import torch

    torch.manual_seed(0)
    n = 37
    v = unit(torch.randn(n, 4))  # few dimensions: every bin is populated
    e = unit(torch.randn(n, 3))
    bins = parse_bins(None)
    small = compute_map(v, e, bins, TAUS, top_partners=500, memory_budget_mb=0.002, transform=transform,
                        chunk_cols=chunk_cols)
    big = compute_map(v, e, bins, TAUS, top_partners=500, memory_budget_mb=100, transform=transform)
    assert small.block_rows < n and big.block_rows == n
    i_mat, s_mat = v @ v.T, e @ e.T
    if transform == "abs":
        i_mat = i_mat.abs()
    off = ~torch.eye(n, dtype=torch.bool)
    clear_of(i_mat[off], (*bins.edges, 0.2), 4)
    clear_of(s_mat[off], (*TAUS, 0.3), 3)
    codes = bins.codes(i_mat)
    for t, tau in enumerate(TAUS):
        for b in range(bins.n):
            dense = ((codes == b) & (s_mat < tau) & off).sum(1)
            assert torch.equal(small.counts[:, b, t], dense.int())
            assert torch.equal(big.counts[:, b, t], dense.int())
    # every partner kept is a true member of its bin and passes τ; with a large quota all are kept
    rows = small.bin_rows
    for t, tau in enumerate(TAUS):
        sel = (rows["tau_first"] <= t) & (t <= rows["tau_last"])
        assert int(sel.sum()) == int(((codes >= 0) & (s_mat < tau) & off).sum())
        f, p = rows["feature"][sel].long(), rows["partner"][sel].long()
        assert torch.allclose(rows["I"][sel], i_mat[f, p], atol=atol(4)) and bool((rows["S"][sel] < tau).all())
        assert torch.equal(rows["bin"][sel].long(), codes[f, p].long())
    # top partners and links
    top = small.top_rows
    assert torch.allclose(top["I"][top["feature"] == 5], torch.sort(i_mat[5][off[5]], descending=True).values,
                          atol=atol(4))
    links = (i_mat > 0.2) & (s_mat < 0.3) & off
    assert small.link_rows["feature"].numel() == int(links.sum())
    # App. F statistics: exact counts of ordered off-diagonal pairs below each threshold, for every block size
    from interf_dsl.interference.dense import I_THRESHOLDS, S_THRESHOLDS

    assert torch.equal(small.i_below, big.i_below) and torch.equal(small.s_below, big.s_below)
    for k, t in enumerate(I_THRESHOLDS):
        assert int(small.i_below[k]) == int(((i_mat < t) & off).sum())
    for k, t in enumerate(S_THRESHOLDS):
        assert int(small.s_below[k]) == int(((s_mat < t) & off).sum())
    # OLS sums (closed form without |.|, block sums with it) equal the dense sums
    for key, val in (("si", s_mat * i_mat), ("i", i_mat), ("s", s_mat), ("ii", i_mat * i_mat)):
        assert small.sums[key] == pytest.approx(float(val[off].double().sum()), abs=1e-4)
        assert big.sums[key] == pytest.approx(float(val[off].double().sum()), abs=1e-4)
    # the figure sample holds real off-diagonal (I, S) pairs
    assert small.sample_i.numel() == small.sample_s.numel() > 0
    assert float((small.sample_i[:, None] - i_mat[off][None, :]).abs().amin(1).max()) < 1e-5


@pytest.mark.parametrize(("spec", "link_min"), [
    ("[0,.15) [.15,.5) [.5,1]", 0.05),  # link_min below the first bin's top: first-bin cells are candidates too
    ("[-.2,.3]", 0.2),                  # one closed bin: every cell in it is a candidate
    ("[0,.1) [.1,.3)", 0.2),            # last edge below 1: cells above it belong to no bin
])
@pytest.mark.parametrize("chunk_cols", [None, 9])
def test_counts_and_thresholds_with_unusual_bins(spec, link_min, chunk_cols):
    """Per-(bin, τ) counts and App. F counts come partly from candidates: exact for any bin layout."""
    import torch

    from interf_dsl.interference.dense import I_THRESHOLDS

    torch.manual_seed(1)
    n = 41
    v, e = unit(torch.randn(n, 3)), unit(torch.randn(n, 3))
    bins = parse_bins(spec)
    out = compute_map(v, e, bins, TAUS, top_partners=500, memory_budget_mb=0.002, link_min=link_min,
                      chunk_cols=chunk_cols)
    i_mat, s_mat = v @ v.T, e @ e.T
    off = ~torch.eye(n, dtype=torch.bool)
    clear_of(i_mat[off], (*bins.edges, *I_THRESHOLDS, link_min), 3)
    clear_of(s_mat[off], TAUS, 3)
    codes = bins.codes(i_mat)
    for t, tau in enumerate(TAUS):
        for b in range(bins.n):
            assert torch.equal(out.counts[:, b, t], ((codes == b) & (s_mat < tau) & off).sum(1).int()), (b, t)
    for k, t in enumerate(I_THRESHOLDS):
        assert int(out.i_below[k]) == int(((i_mat < t) & off).sum()), t
    # top partners: rows with >= k candidates take them from the candidates, the others from a dense topk
    masked = i_mat.masked_fill(~off, float("-inf"))
    n_cand = (masked >= min(bins.edges[1] if bins.n > 1 else bins.edges[0], link_min)).sum(1)
    k = int(n_cand.float().median())
    assert bool((n_cand >= k).any()) and bool((n_cand < k).any())  # both paths run
    few = compute_map(v, e, bins, TAUS, top_partners=k, memory_budget_mb=0.002, link_min=link_min,
                      chunk_cols=chunk_cols)
    ref_vals, ref_cols = torch.topk(masked, k, dim=1)
    top = few.top_rows
    assert top["feature"].tolist() == [f for f in range(n) for _ in range(k)]
    assert top["rank"].tolist() == list(range(k)) * n
    assert torch.allclose(top["I"].view(n, k), ref_vals, atol=atol(3))
    assert torch.equal(top["partner"].view(n, k).long(), ref_cols)  # no ties in random data
    assert torch.allclose(top["S"], s_mat[top["feature"].long(), top["partner"].long()], atol=atol(3))


@pytest.mark.parametrize("chunk_cols", [None, 8])
def test_cluster_exclusion_blocked_equals_dense(chunk_cols):
    import torch

    torch.manual_seed(3)
    n = 41
    v, e = unit(torch.randn(n, 4)), unit(torch.randn(n, 3))
    # nested labels, loosest τ (finest clusters) first: coarser labels merge finer clusters
    fine = torch.randint(0, 12, (n,))
    labels = [fine, fine // 2, fine // 4, fine // 8]
    bins = parse_bins(None)
    small = compute_map(v, e, bins, TAUS, top_partners=500, memory_budget_mb=0.002, cluster_labels=labels,
                        chunk_cols=chunk_cols)
    i_mat = v @ v.T
    codes, off = bins.codes(i_mat), ~torch.eye(n, dtype=torch.bool)
    clear_of(i_mat[off], bins.edges, 4)
    for t, lab in enumerate(labels):
        other = lab[:, None] != lab[None, :]
        for b in range(bins.n):
            assert torch.equal(small.counts[:, b, t], ((codes == b) & other & off).sum(1).int())
        sel = (small.bin_rows["tau_first"] <= t) & (t <= small.bin_rows["tau_last"])
        f, p = small.bin_rows["feature"][sel].long(), small.bin_rows["partner"][sel].long()
        assert int(sel.sum()) == int(((codes >= 0) & other & off).sum()) and bool(other[f, p].all())


def test_first_bin_sampled_in_random_order():
    import torch

    torch.manual_seed(1)
    v = unit(torch.randn(300, 64))  # nearly orthogonal: most pairs in [0, .1)
    out = compute_map(v, None, parse_bins(None), (0.4,), top_partners=5, memory_budget_mb=1)
    # no embeddings: no pair passes τ, but the exact counts still exist per bin
    assert out.counts.sum() == 0 and out.bin_rows["feature"].numel() == 0
    e = unit(torch.randn(300, 8))
    out = compute_map(v, e, parse_bins(None), (0.4,), top_partners=5, memory_budget_mb=1)
    first = out.bin_rows["bin"] == 0
    per_row = torch.bincount(out.bin_rows["feature"][first].long(), minlength=300)
    assert int(per_row.max()) == 5 and int(per_row.min()) == 5


def test_compiled_kernel_equals_eager(monkeypatch):
    """The torch.compile'd fused pass (where compiling pays back) gives the eager pass's exact counts."""
    import torch

    from interf_dsl.interference import dense

    torch.manual_seed(4)
    n = 150
    v, e = unit(torch.randn(n, 5)), unit(torch.randn(n, 4))
    bins = parse_bins(None)
    off = ~torch.eye(n, dtype=torch.bool)
    clear_of((v @ v.T)[off], (*bins.edges, *dense.I_THRESHOLDS, 0.2), 5)
    clear_of((e @ e.T)[off], (*TAUS, *dense.S_THRESHOLDS, 0.3), 4)
    kw = {"top_partners": 6, "memory_budget_mb": 0.05, "chunk_cols": 64}
    eager = compute_map(v, e, bins, TAUS, **kw)
    assert eager.kernel == "eager" and "would not pay back" in eager.kernel_note
    monkeypatch.setattr(dense, "FORCE", "compiled")
    compiled = compute_map(v, e, bins, TAUS, **kw)
    assert compiled.kernel == "compiled", compiled.kernel_note
    assert torch.equal(eager.counts, compiled.counts) and eager.counts.sum() > 0
    assert torch.equal(eager.i_below, compiled.i_below) and torch.equal(eager.s_below, compiled.s_below)
    for key in ("feature", "partner", "tau_first", "tau_last", "pos"):
        assert torch.equal(eager.bin_rows[key], compiled.bin_rows[key])


@pytest.mark.parametrize("budget", [0.05, 100])
def test_first_bin_offers_every_available_partner_up_to_the_quota(budget):
    """Bin 0 is walked from a short column sample; rows whose sample holds fewer than k passing partners walk the
    whole row, so each (row, τ) keeps exactly min(k, exact count) partners: the counts that qualify a target."""
    import torch

    torch.manual_seed(3)
    n, d, k = 300, 32, 5
    common = unit(torch.randn(1, d))
    v = unit(common + 0.25 * torch.randn(n, d))  # most pairs overlap strongly: bin [0, .1) is rare
    orth = torch.randn(12, d)
    v[:12] = unit(orth - (orth @ common.T) * common)  # 12 directions orthogonal to the common one
    e = unit(torch.randn(n, 8))
    taus = (0.4, 0.2)
    out = compute_map(v, e, parse_bins(None), taus, top_partners=k, memory_budget_mb=budget)
    rows = out.bin_rows
    first = rows["bin"] == 0
    for t in range(len(taus)):
        at = first & (rows["tau_first"] <= t) & (t <= rows["tau_last"])
        kept = torch.bincount(rows["feature"][at].long(), minlength=n)
        want = out.counts[:, 0, t].clamp(max=k).long()
        assert 0 < int(want.sum()) and int((want < k).sum()) > 0  # scarce rows exist: the case under test
        assert torch.equal(kept, want), t


@pytest.mark.parametrize("transform", [None, "abs"])
def test_ols_slope_se_is_dyadic_robust(transform):
    """The map's slope of I on S over unordered pairs, with the SE that sums each feature's score (pairs sharing a
    feature are dependent), equals the direct computation on the explicit matrices; the pair-level SE is smaller."""
    import math

    import torch

    from interf_dsl.interference.tables import ols_slope

    torch.manual_seed(5)
    n = 60
    v = unit(torch.randn(n, 6)).double().float()
    e = unit(torch.randn(n, 4) + 0.8 * v[:, :4])  # I and S related, feature-level heterogeneity
    out = compute_map(v, e, parse_bins(None), (0.4,), top_partners=3, memory_budget_mb=0.01, transform=transform)
    got = ols_slope(out.sums)
    i_mat, s_mat = (v @ v.T).double(), (e @ e.T).double()
    if transform == "abs":
        i_mat = i_mat.abs()
    iu = torch.triu_indices(n, n, 1)
    x, y = s_mat[iu[0], iu[1]], i_mat[iu[0], iu[1]]
    b = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
    a = float(y.mean() - b * x.mean())
    score = (s_mat - x.mean()) * (i_mat - a - b * s_mat)
    score.fill_diagonal_(0)
    sxx = float(((x - x.mean()) ** 2).sum())
    se = math.sqrt(float((score.sum(1) ** 2).sum())) / sxx
    resid = y - a - b * x
    se_pairs = math.sqrt(float((resid ** 2).sum()) / (x.numel() - 2) / sxx)
    assert got["ols_slope"] == pytest.approx(b, rel=1e-4)
    assert got["ols_se"] == pytest.approx(se, rel=1e-3)
    assert got["ols_se_pairs"] == pytest.approx(se_pairs, rel=1e-3)
    assert got["ols_se"] > got["ols_se_pairs"]


def test_compiling_is_chosen_where_it_pays_back(tmp_path, monkeypatch):
    """Small maps run eagerly; large ones compile; a shape compiled before (marker in inductor's cache) is priced
    warm, so the threshold drops; each extra kernel shape (a partial last column chunk) is one more compile."""
    from interf_dsl.interference import dense

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    shape = ((256, 2048),)

    def pick(n, device="cpu", shapes=shape, threads=2):
        return dense.choose_kernel(n, device, shapes, "sig", threads)

    assert not pick(8192).compiled and pick(65536).compiled  # 2 cores: 8k eager (measured 2.2 s vs 13.2 s cold)
    assert not pick(1 << 17, "cuda").compiled and pick(1 << 19, "cuda").compiled
    assert not pick(1 << 20, "mps").compiled  # no rule: eager
    cold = pick(24576)
    assert not cold.compiled and "cold cache" in cold.reason
    cold.marker.parent.mkdir(parents=True)
    cold.marker.write_text("compiled\n")
    warm = pick(24576)
    assert warm.compiled and "warm cache" in warm.reason
    two = pick(32768, shapes=((256, 2048), (256, 1000)))  # other shapes: another kernel, not in the cache
    assert not two.compiled and "cold cache, 2 shape(s)" in two.reason and not two.marker.exists()
    assert not pick(24576, threads=16).compiled  # 16 threads: eager is 8x faster, the compile is not
    monkeypatch.setattr(dense, "FORCE", "eager")
    assert not pick(1 << 20).compiled


def test_a_compiled_map_marks_its_shapes_warm(tmp_path, monkeypatch):
    import torch

    from interf_dsl.interference import dense

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(dense, "FORCE", "compiled")
    torch.manual_seed(0)
    v, e = unit(torch.randn(40, 5)), unit(torch.randn(40, 4))
    out = compute_map(v, e, parse_bins(None), TAUS, top_partners=3, memory_budget_mb=0.01, chunk_cols=16)
    assert out.kernel == "compiled", out.kernel_note
    markers = list((tmp_path / "interf_map").iterdir())
    assert len(markers) == 1 and "forced compiled" in markers[0].read_text()
    assert 0 < out.first_block_s <= out.seconds


def test_gpu_blocks_are_sized_from_free_device_memory(monkeypatch):
    import torch

    from interf_dsl.interference.blocked import block_budget_mb, block_rows_for

    assert block_budget_mb(1024, "cpu") == 1024
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (120 * 2**30, 139 * 2**30))
    assert block_budget_mb(1024, "cuda") == 16384  # a quarter of 120 GiB, capped at 16 GiB
    assert block_rows_for(262144, block_budget_mb(1024, "cuda")) == 4096  # 64 blocks, not 8,192 of 32 rows
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (2 * 2**30, 139 * 2**30))
    assert block_budget_mb(1024, "cuda") == 512

