"""The batched device metrics equal the numpy reference metrics (CPU here; CUDA too where present)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interf_dsl.interventions.sweep import MetricConfig, Probe, score_rows
from interf_dsl.metrics.device import SCORE_COLUMNS, score_logits

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("top_k", [None, 1, 7, 500])
def test_device_scores_match_the_numpy_reference(device, top_k) -> None:
    rng = np.random.default_rng(3)
    vocab = 500
    base = rng.normal(0, 3, vocab).astype(np.float32)
    logits = (base + rng.normal(0, 2, (37, vocab))).astype(np.float32)
    logits[0] = base  # an unchanged row: every change is 0
    logits[1, :] = 0.0  # a flat distribution, with ties everywhere for the top-k order
    probe = Probe([3, 17, 3, 250], rng.uniform(-0.2, 1.0, vocab))
    cfg = MetricConfig(top_k=top_k, epsilon=1e-8)
    want = score_rows(base, logits, probe, cfg)
    got = score_logits(torch.as_tensor(base, device=device), torch.as_tensor(logits, device=device),
                       probe.on(device), top_k, 1e-8)
    assert got.device.type == device and got.dtype == torch.float64 and got.shape == (37, len(SCORE_COLUMNS))
    table = got.cpu().numpy()
    for j, col in enumerate(SCORE_COLUMNS):
        np.testing.assert_allclose(table[:, j], want[col], rtol=1e-9, atol=1e-9, err_msg=col)
    assert np.allclose(table[0, [2, 3, 6, 7, 8, 9, 10]], 0.0, atol=1e-12)


def test_probe_moves_to_a_device_once() -> None:
    probe = Probe([1, 2], np.zeros(5))
    assert probe.on("cpu") is probe.on("cpu")
