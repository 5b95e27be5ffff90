"""Weighted overlap and the absolute/relative change helpers on hand-computed values."""

import numpy as np
import pytest

from interf_dsl.errors import InternalError, SpecError
from interf_dsl.metrics import absolute_change, relative_change, relative_change_authors, weighted_overlap


def test_overlap_sums_target_mass_once_per_id():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert weighted_overlap(p, [1, 3]) == pytest.approx(0.6)
    assert weighted_overlap(p, [3, 1, 3]) == pytest.approx(0.6)
    assert weighted_overlap(p, {2}) == pytest.approx(0.3)


def test_overlap_batch():
    p = np.array([[[0.5, 0.5, 0.0]], [[0.0, 0.25, 0.75]]])
    out = weighted_overlap(p, [1, 2])
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out[:, 0], [0.5, 1.0])


def test_overlap_rejects_out_of_range_ids():
    with pytest.raises(InternalError):
        weighted_overlap(np.array([0.5, 0.5]), [2])


def test_absolute_and_relative_change():
    assert absolute_change(0.3, 0.2) == pytest.approx(0.1)
    assert relative_change(0.3, 0.2) == pytest.approx(0.5)
    assert relative_change(-0.3, -0.2) == pytest.approx(-0.5)  # divides by |base|
    # ε floor: a zero baseline gives Δ/ε, finite
    assert relative_change(1e-6, 0.0, eps=1e-4) == pytest.approx(1e-2)
    np.testing.assert_allclose(relative_change(np.array([0.2, 0.4]), np.array([0.1, 0.2])), [1.0, 1.0])


def test_relative_change_authors_is_nan_at_tiny_baseline():
    out = relative_change_authors(np.array([0.3, 0.1, 0.1]), np.array([0.2, 0.0, 1e-9]))
    assert out[0] == pytest.approx(0.5)
    assert np.isnan(out[1]) and np.isnan(out[2])
    assert relative_change_authors(0.1, -0.2) == pytest.approx(1.5)


def test_relative_change_rejects_nonpositive_eps():
    with pytest.raises(SpecError):
        relative_change(0.1, 0.0, eps=0)
