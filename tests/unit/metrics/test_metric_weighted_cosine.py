"""Weighted cosine c(O, T_f) on hand-built embeddings whose cosines are known exactly."""

import math
import os

import numpy as np
import pytest

from interf_dsl.errors import InternalError, SpecError
from interf_dsl.metrics import nearest_target_cosine, weighted_cosine, weighted_cosine_from_similarity

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# cos with token 0: [1, 0, 1/√2, -1]; with token 1: [0, 1, 1/√2, 0]
E = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
P = np.array([0.1, 0.2, 0.3, 0.4])
R = 1 / math.sqrt(2)


def test_full_vocab_single_target():
    assert weighted_cosine(P, [0], E) == pytest.approx(0.1 + 0.3 * R - 0.4, abs=1e-12)


def test_full_vocab_two_targets_takes_max_per_token():
    # max over T = {0, 1}: [1, 1, 1/√2, 0]
    assert weighted_cosine(P, [0, 1], E) == pytest.approx(0.1 + 0.2 + 0.3 * R, abs=1e-12)


def test_top_k_sums_only_top_predictions_unrenormalised():
    # top-2 by probability: token 3 (0.4, cos -1) and token 2 (0.3, cos 1/√2); no renormalisation by 0.7
    assert weighted_cosine(P, [0], E, top_k=2) == pytest.approx(-0.4 + 0.3 * R, abs=1e-12)
    assert weighted_cosine(P, [0], E, top_k=1) == pytest.approx(-0.4, abs=1e-12)


def test_top_k_at_least_vocab_equals_full():
    assert weighted_cosine(P, [0, 1], E, top_k=4) == pytest.approx(weighted_cosine(P, [0, 1], E))
    assert weighted_cosine(P, [0, 1], E, top_k=99) == pytest.approx(weighted_cosine(P, [0, 1], E))


def test_top_k_ties_broken_by_lower_id():
    p = np.array([0.25, 0.25, 0.25, 0.25])
    # top-1 under a tie is token 0 (cos 1 with itself), not token 3 (cos -1)
    assert weighted_cosine(p, [0], E, top_k=1) == pytest.approx(0.25)


def test_all_tokens_targets_gives_total_mass():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 8))
    p = rng.dirichlet(np.ones(50))
    assert weighted_cosine(p, range(50), emb) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_embedding_row_scale_and_duplicate_targets():
    scaled = E * np.array([[3.0], [0.5], [7.0], [2.0]])
    assert weighted_cosine(P, [0, 0, 1], scaled) == pytest.approx(weighted_cosine(P, [0, 1], E), abs=1e-12)


def test_zero_embedding_row_has_cosine_zero():
    emb = np.vstack([E, np.zeros(2)])
    p = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    assert weighted_cosine(p, [0], emb) == 0.0


def test_batch_shape_matches_per_row_values():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(30, 6))
    probs = rng.dirichlet(np.ones(30), size=(2, 3))
    out = weighted_cosine(probs, [4, 7], emb, top_k=5)
    assert out.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert out[i, j] == pytest.approx(weighted_cosine(probs[i, j], [4, 7], emb, top_k=5), abs=1e-12)


def test_precomputed_similarity_path_matches():
    m = nearest_target_cosine(E, [0])
    np.testing.assert_allclose(m, [1.0, 0.0, R, -1.0], atol=1e-12)
    assert weighted_cosine_from_similarity(P, m, top_k=2) == pytest.approx(weighted_cosine(P, [0], E, top_k=2))


def test_torch_inputs():
    torch = pytest.importorskip("torch")
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float32)
    out = weighted_cosine(probs, torch.tensor([0]), torch.tensor(E, dtype=torch.float32))
    assert out.shape == (1,)
    assert out[0] == pytest.approx(0.1 + 0.3 * R - 0.4, abs=1e-6)


@pytest.mark.parametrize("kwargs, err", [
    ({"target_ids": []}, InternalError),
    ({"target_ids": [4]}, InternalError),
    ({"target_ids": [0], "top_k": 0}, SpecError),
    ({"target_ids": [0], "embed": np.ones((3, 2))}, InternalError),
    ({"target_ids": [0], "probs": np.array([0.5, -0.1, 0.3, 0.3])}, InternalError),
])
def test_bad_inputs_raise(kwargs, err):
    args = {"probs": P, "embed": E, **kwargs}
    with pytest.raises(err):
        weighted_cosine(**args)
