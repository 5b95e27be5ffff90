"""Property checks of the metrics on random distributions, and agreement with the resolver's metric catalog."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from interf_dsl.metrics import (
    entropy_change,
    kl_divergence,
    total_variation,
    weighted_cosine,
    weighted_overlap,
)


def _dist(seed: int, v: int, zeros: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(v, 0.3))
    if zeros:
        p[rng.random(v) < 0.3] = 0.0
        p = p / p.sum() if p.sum() > 0 else np.full(v, 1.0 / v)
    return p


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), v=st.integers(2, 40), zeros=st.booleans(), k=st.integers(1, 50))
def test_metric_bounds(seed, v, zeros, k):
    p, q = _dist(seed, v, zeros), _dist(seed + 1, v, False)
    emb = np.random.default_rng(seed).normal(size=(v, 5))
    targets = [0, v - 1]
    assert -1 - 1e-12 <= weighted_cosine(p, targets, emb) <= 1 + 1e-12
    # the top-k sum is a partial sum of the full one: |c_k| ≤ Σ_{top-k} p ≤ 1 and equal at k ≥ V
    ck = weighted_cosine(p, targets, emb, top_k=k)
    assert abs(ck) <= 1 + 1e-12
    if k >= v:
        assert np.isclose(ck, weighted_cosine(p, targets, emb))
    assert 0 <= weighted_overlap(p, targets) <= 1 + 1e-12
    assert 0 <= total_variation(p, q) <= 1 + 1e-12
    assert kl_divergence(p, q) >= 0  # q has full support here
    assert np.isclose(kl_divergence(p, p), 0.0, atol=1e-12)
    assert np.isclose(entropy_change(p, q), -entropy_change(q, p))
    # Pinsker: TV ≤ sqrt(KL / 2)
    assert total_variation(p, q) <= np.sqrt(kl_divergence(p, q) / 2) + 1e-12


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), v=st.integers(1, 30), k=st.integers(1, 35), levels=st.integers(1, 5))
def test_top_k_ids_equals_stable_sort_even_with_ties(seed, v, k, levels):
    from interf_dsl.metrics import top_k_ids

    rng = np.random.default_rng(seed)
    probs = rng.integers(0, levels, size=(3, v)).astype(float) + 1.0  # few distinct values → many ties
    probs /= probs.sum(axis=-1, keepdims=True)
    expected = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    np.testing.assert_array_equal(top_k_ids(probs, k), expected)
