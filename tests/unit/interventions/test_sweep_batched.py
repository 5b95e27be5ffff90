"""Sentences batched per forward and per scoring pass (`sweep_sentences`, up to `execute.memory_budget_mb`) give the
per-sentence sweep's rows and numbers (≤ 1e-5 on every metric), on a real (tiny, random) HookedTransformer; the
budget sets how many sentences share a batch."""

from __future__ import annotations

import numpy as np
import pytest

from interf_dsl.interventions.sweep import (
    METRIC_COLUMNS,
    Candidate,
    MetricConfig,
    Probe,
    rows_in_budget,
    sweep_sentence,
    sweep_sentences,
    unit,
)
from interf_dsl.metrics import nearest_target_cosine

HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def backend():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from interf_dsl.backends.hooked import HookedBackend

    cfg = HookedTransformerConfig(n_layers=3, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=60, n_ctx=32,
                                  act_fn="gelu", normalization_type="LN", positional_embedding_type="rotary",
                                  rotary_dim=8, seed=3)
    return HookedBackend(HookedTransformer(cfg), name="tiny")


def _case(backend, kind: str, top_k: int | None):
    rng = np.random.default_rng(1)
    if kind == "add":
        cands = [Candidate("self", 0, unit(rng.normal(size=16)), partner=0, I=1.0),
                 Candidate("bin", 0, unit(rng.normal(size=16)), bin="b0", partner=3, I=0.1, S=0.2),
                 Candidate("random_direction", 0, unit(rng.normal(size=16)))]
        hook = HOOK
    else:
        cands = [Candidate("neuron", 0, coordinate=5, bin="d0"), Candidate("random_coordinate", 0, coordinate=9)]
        hook = "blocks.1.mlp.hook_post"
    ids = [4, 17, 33]
    probe = Probe(ids, nearest_target_cosine(backend.embedding(), ids))
    seqs = [rng.integers(0, 60, n).tolist() for n in (7, 3, 11, 1, 5)]  # ragged: padding matters
    return hook, cands, probe, MetricConfig(top_k=top_k), seqs


@pytest.mark.parametrize(("kind", "top_k", "budget"), [("add", None, 1024), ("add", 7, 1024), ("scale", None, 1024),
                                                       ("add", None, 0.05), ("add", None, None)])
def test_batched_equals_per_sentence(backend, kind, top_k, budget) -> None:
    hook, cands, probe, cfg, seqs = _case(backend, kind, top_k)
    scales = [-4.0, 0.0, 0.5, 8.0]
    batched = sweep_sentences(backend, seqs, hook, cands, scales, probe, cfg, kind=kind, memory_budget_mb=budget)
    assert len(batched) == len(seqs)
    for seq, rows in zip(seqs, batched, strict=True):
        ref = sweep_sentence(backend, seq, hook, cands, scales, probe, cfg, kind=kind)
        naive = sweep_sentence(backend, seq, hook, cands, scales, probe, cfg, kind=kind, naive=True)
        assert [(r["condition"], r["alpha"], r["coordinate"]) for r in rows] == \
            [(r["condition"], r["alpha"], r["coordinate"]) for r in ref]
        got = np.array([[r[c] for c in METRIC_COLUMNS] for r in rows])
        for other in (ref, naive):
            want = np.array([[r[c] for c in METRIC_COLUMNS] for r in other])
            assert np.nanmax(np.abs(got - want)) <= 1e-5
        assert np.ptp(got[:, METRIC_COLUMNS.index("kl")]) > 0  # the edits did something


def test_budget_sets_sentences_per_batch(backend, monkeypatch) -> None:
    hook, cands, probe, cfg, seqs = _case(backend, "add", None)
    calls: list[int] = []
    orig = backend.edited_logits_many

    def spy(chunk, *a, **kw):
        calls.append(len(chunk))
        return orig(chunk, *a, **kw)

    monkeypatch.setattr(backend, "edited_logits_many", spy)
    n_rows = len(cands) * 2
    one = rows_in_budget(1, backend.d_vocab, 11, 16)
    budget = 2 * n_rows / one  # MB holding exactly two sentences' rows
    sweep_sentences(backend, seqs, hook, cands, [1.0, 2.0], probe, cfg, memory_budget_mb=budget)
    assert calls == [2, 2, 1]
    calls.clear()
    sweep_sentences(backend, seqs, hook, cands, [1.0, 2.0], probe, cfg, memory_budget_mb=1024)
    assert calls == [5]


def test_rows_in_budget_counts_logits_metrics_and_activations() -> None:
    per_row = 50304 * (8 * 5 + 4) + 64 * 512 * 4 * 12
    assert rows_in_budget(1024, 50304, 64, 512) == 1024 * 2**20 // per_row
    assert rows_in_budget(0.001, 50304, 64, 512) == 1  # never zero
