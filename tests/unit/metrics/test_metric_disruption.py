"""KL(O‖Õ), total variation and entropy change on distributions with closed-form values."""

import math

import numpy as np
import pytest

from interf_dsl.errors import InternalError
from interf_dsl.metrics import entropy, entropy_change, kl_divergence, total_variation

P = np.array([0.5, 0.5])
Q = np.array([0.9, 0.1])


def test_kl_hand_value_and_direction():
    assert kl_divergence(P, Q) == pytest.approx(0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1), abs=1e-12)
    assert kl_divergence(Q, P) == pytest.approx(0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5), abs=1e-12)
    assert kl_divergence(P, P) == 0.0


def test_kl_zero_conventions():
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))  # 0·log 0 = 0
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf  # p > 0 where q = 0


def test_total_variation():
    assert total_variation(P, Q) == pytest.approx(0.4)
    assert total_variation([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)


def test_entropy_change_sign_and_value():
    h_q = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert entropy(P) == pytest.approx(math.log(2))
    assert entropy_change(P, Q) == pytest.approx(h_q - math.log(2), abs=1e-12)  # sharper → negative
    assert entropy_change(Q, P) == pytest.approx(math.log(2) - h_q, abs=1e-12)


def test_batched_rows():
    p = np.stack([P, Q, P])
    q = np.stack([Q, Q, P])
    np.testing.assert_allclose(total_variation(p, q), [0.4, 0.0, 0.0], atol=1e-12)
    kl = kl_divergence(p, q)
    assert kl.shape == (3,) and kl[1] == 0.0 and kl[0] > 0


def test_torch_inputs():
    torch = pytest.importorskip("torch")
    assert kl_divergence(torch.tensor(P), torch.tensor(Q)) == pytest.approx(kl_divergence(P, Q))


def test_vocab_mismatch_raises():
    with pytest.raises(InternalError):
        kl_divergence(P, np.array([0.2, 0.3, 0.5]))
