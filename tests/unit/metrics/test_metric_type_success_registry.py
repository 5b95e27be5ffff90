"""Top-k type counts, strict success, and the METRICS registry's names and directions."""

import numpy as np
import pytest

from interf_dsl.errors import SpecError
from interf_dsl.metrics import METRICS, top_k_ids, type_count, type_success


def test_top_k_ids_order():
    probs = np.array([[0.1, 0.4, 0.2, 0.3], [0.25, 0.25, 0.4, 0.1]])
    np.testing.assert_array_equal(top_k_ids(probs, 3), [[1, 3, 2], [2, 0, 1]])


def test_type_count_counts_members():
    top = np.array([[1, 2, 3], [4, 5, 6]])
    out = type_count(top, [2, 3, 9])
    np.testing.assert_array_equal(out, [2, 0])
    assert out.dtype == np.int64


def test_type_success_is_strict():
    np.testing.assert_array_equal(type_success(np.array([3, 2, 1]), np.array([2, 2, 2])), [True, False, False])
    assert bool(type_success(1, 0)) is True


def test_pipeline_from_probs():
    probs = np.array([0.05, 0.3, 0.05, 0.4, 0.2])
    base = np.array([0.4, 0.05, 0.3, 0.05, 0.2])
    types = [1, 3]
    inj, orig = type_count(top_k_ids(probs, 2), types), type_count(top_k_ids(base, 2), types)
    assert (int(inj), int(orig)) == (2, 0)
    assert type_success(inj, orig)


def test_registry_names_and_directions():
    assert set(METRICS.names()) == {"weighted_cosine", "weighted_overlap", "kl", "total_variation",
                                    "entropy_change", "type_success"}
    toward = {e.name for e in METRICS if e.extra["direction"] == "higher_is_toward_target"}
    disruption = {e.name for e in METRICS if e.extra["direction"] == "disruption"}
    assert toward == {"weighted_cosine", "weighted_overlap", "type_success"}
    assert disruption == {"kl", "total_variation", "entropy_change"}
    assert all(e.summary for e in METRICS)
    p = np.array([0.5, 0.5])
    assert METRICS.get("total_variation")(p, np.array([1.0, 0.0])) == pytest.approx(0.5)


def test_registry_unknown_name_suggests():
    with pytest.raises(SpecError) as exc:
        METRICS.get("weighted_cosin")
    assert "weighted_cosine" in (exc.value.items[0].full_hint() or "")
