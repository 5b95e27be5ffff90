"""Interventions kind: the fast batched sweep shared by the feature, token and neuron foci.

Input: a backend, one sentence (token ids), a hook, candidate edits (steering vectors or coordinates) and a scale
grid. Output: one row per candidate × scale with baseline and intervened metrics (`score_rows`).

All candidates and scales of a sentence go through the model as one batch: the backend runs the blocks before the
hook once and continues from there (`start_at_layer`), and unembeds only the last position. `sweep_sentences`
batches several sentences (right-padded) per forward and per scoring pass, as many as fit `execute.memory_budget_mb`. `naive=True` gives the
authors' way (one full forward per row) for the equivalence test and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from interf_dsl.lang.sections import Metrics
from interf_dsl.metrics import (
    absolute_change,
    entropy_change,
    kl_divergence,
    relative_change,
    total_variation,
    weighted_cosine_from_similarity,
    weighted_overlap,
)
from interf_dsl.metrics.device import SCORE_COLUMNS, TargetProbe, score_logits

METRIC_COLUMNS = ("wc_base", "wc", "wc_delta", "wc_rel", "wo_base", "wo", "wo_delta", "wo_rel", "kl", "tv",
                  "entropy_change")


@dataclass
class Candidate:
    """One edit direction (or coordinate) of one condition."""

    condition: str
    candidate: int = 0
    vector: np.ndarray | None = None
    coordinate: int | None = None
    bin: str | None = None
    partner: int | None = None
    I: float | None = None  # noqa: E741 - the paper's symbol for interference
    S: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Probe:
    """What a case is scored against: T_f ids and m[t] = max cos(E_t, E_T_f) (docs/method.md §3.2)."""

    target_ids: list[int]
    similarity: np.ndarray
    _on: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def on(self, device: Any) -> TargetProbe:
        """This probe's tensors on `device`, moved once per device and reused by every sentence."""
        key = str(device)
        if key not in self._on:
            self._on[key] = TargetProbe(self.target_ids, self.similarity, device)
        return self._on[key]


@dataclass
class MetricConfig:
    """The `metrics` section fields the sweep needs."""

    top_k: int | None = None
    """Vocabulary restricted to the baseline's top k (None: the full vocabulary)."""
    epsilon: float = Metrics.model_fields["epsilon"].default


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def score_rows(base_logits: np.ndarray, logits: np.ndarray, probe: Probe, cfg: MetricConfig) -> dict[str, np.ndarray]:
    """Baseline and intervened metrics for each row of `logits` against one baseline distribution."""
    p = softmax(base_logits[None, :])
    q = softmax(logits)
    n = q.shape[0]
    wc0 = float(weighted_cosine_from_similarity(p, probe.similarity, cfg.top_k)[0])
    wc = np.atleast_1d(weighted_cosine_from_similarity(q, probe.similarity, cfg.top_k))
    wo0 = float(weighted_overlap(p, probe.target_ids)[0])
    wo = np.atleast_1d(weighted_overlap(q, probe.target_ids))
    pp = np.repeat(p, n, axis=0)
    return {
        "wc_base": np.full(n, wc0), "wc": wc, "wc_delta": np.atleast_1d(absolute_change(wc, wc0)),
        "wc_rel": np.atleast_1d(relative_change(wc, wc0, cfg.epsilon)),
        "wo_base": np.full(n, wo0), "wo": wo, "wo_delta": np.atleast_1d(absolute_change(wo, wo0)),
        "wo_rel": np.atleast_1d(relative_change(wo, wo0, cfg.epsilon)),
        "kl": np.atleast_1d(kl_divergence(pp, q)), "tv": np.atleast_1d(total_variation(pp, q)),
        "entropy_change": np.atleast_1d(entropy_change(pp, q)),
    }


def build_edits(candidates: list[Candidate], scales: list[float], dim: int,
                kind: str) -> tuple[np.ndarray | None, np.ndarray | None, list[tuple[int, float]]]:
    """Edit matrices for every candidate × scale: `add` rows α·v (kind "add") or `mult` rows (kind "scale").

    Returns (mult, add, index) where index[r] = (candidate position, scale) of row r.
    """
    index = [(ci, float(a)) for ci in range(len(candidates)) for a in scales]
    if kind == "add":
        vecs = np.stack([np.asarray(c.vector, np.float32) for c in candidates])
        add = np.stack([float(a) * vecs[ci] for ci, a in index]).astype(np.float32)
        return None, add, index
    mult = np.ones((len(index), dim), np.float32)
    for r, (ci, a) in enumerate(index):
        mult[r, candidates[ci].coordinate] = a
    return mult, None, index


def sweep_sentence(backend: Any, seq: list[int], hook: str, candidates: list[Candidate], scales: list[float],
                   probe: Probe, cfg: MetricConfig, *, kind: str = "add", naive: bool = False,
                   base_logits: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Run every candidate × scale on one sentence and score them; one dict per row."""
    if not candidates:
        return []
    dim = backend.hook_dim(hook) if kind == "scale" else len(candidates[0].vector)
    mult, add, index = build_edits(candidates, scales, dim, kind)
    if base_logits is None:
        base_logits = backend.last_logits([seq])[0]
    if naive:  # the reference: one forward per row, numpy metrics
        scores = score_rows(base_logits, backend.edited_logits(seq, hook, mult, add, naive=True), probe, cfg)
    else:  # batched forwards, every metric on the model's device, one host transfer
        logits = backend.edited_logits(seq, hook, mult, add, on_device=True)
        table = score_logits(base_logits, logits, probe.on(getattr(logits, "device", "cpu")), cfg.top_k,
                             cfg.epsilon).cpu().numpy()
        scores = dict(zip(SCORE_COLUMNS, table.T, strict=True))
    return _rows(candidates, index, scores)


def _rows(candidates: list[Candidate], index: list[tuple[int, float]], scores: dict[str, np.ndarray]
          ) -> list[dict[str, Any]]:
    rows = []
    for r, (ci, a) in enumerate(index):
        c = candidates[ci]
        row = {"condition": c.condition, "candidate": c.candidate, "bin": c.bin, "partner": c.partner,
               "I": c.I, "S": c.S, "coordinate": c.coordinate, "alpha": a}
        row.update({k: float(v[r]) for k, v in scores.items()})
        rows.append(row)
    return rows


METRIC_TEMPORARIES = 5
"""[rows, V] float64 tensors alive at once while scoring (logits, log q, q, two products)."""
ACTIVATION_WIDTHS = 12
"""Activation floats per row, token and model dimension alive in a forward (residual, attention, MLP at 4×, ...)."""


def rows_in_budget(memory_budget_mb: float, d_vocab: int, seq_len: int, d_model: int) -> int:
    """(sentence, edit) rows whose logits, float64 metrics and activations fit `memory_budget_mb` (at least 1):
    each row costs d_vocab × 8 × `METRIC_TEMPORARIES` + d_vocab × 4 (its float32 logits) bytes, plus
    seq_len × d_model × 4 × `ACTIVATION_WIDTHS` in the forward."""
    per_row = d_vocab * (8 * METRIC_TEMPORARIES + 4) + seq_len * d_model * 4 * ACTIVATION_WIDTHS
    return max(1, int(memory_budget_mb * 2**20) // per_row)


def sweep_sentences(backend: Any, seqs: list[list[int]], hook: str, candidates: list[Candidate],
                    scales: list[float], probe: Probe, cfg: MetricConfig, *, kind: str = "add",
                    memory_budget_mb: float | None = 1024) -> list[list[dict[str, Any]]]:
    """`sweep_sentence` on every sentence, batching as many sentences per forward and per scoring pass as fit
    `memory_budget_mb` (`rows_in_budget`); same rows, same numbers (right padding is exact). One list per sentence.
    `memory_budget_mb=None`: one sentence at a time (`sweep_sentence`), what the loops use on a CPU, where batching
    measured 0.6x the per-sentence path (bench_sweep.py --batched)."""
    if not candidates or not seqs:
        return [[] for _ in seqs]
    if memory_budget_mb is None:
        return [sweep_sentence(backend, seq, hook, candidates, scales, probe, cfg, kind=kind) for seq in seqs]
    dim = backend.hook_dim(hook) if kind == "scale" else len(candidates[0].vector)
    mult, add, index = build_edits(candidates, scales, dim, kind)
    n_rows = len(index)
    fit = rows_in_budget(memory_budget_mb, int(backend.d_vocab), max(len(s) for s in seqs), dim)
    per_batch = max(1, fit // n_rows)
    base = backend.last_logits(seqs)
    out: list[list[dict[str, Any]]] = []
    for i in range(0, len(seqs), per_batch):
        chunk = seqs[i : i + per_batch]
        logits = backend.edited_logits_many(chunk, hook, mult, add, rows_per_forward=fit)
        dev = getattr(logits, "device", "cpu")
        table = score_logits(base[i : i + len(chunk)], logits, probe.on(dev), cfg.top_k,
                             cfg.epsilon).cpu().numpy()  # one host transfer per batch
        for k in range(len(chunk)):
            part = table[k * n_rows : (k + 1) * n_rows]
            out.append(_rows(candidates, index, dict(zip(SCORE_COLUMNS, part.T, strict=True))))
    return out


def unit(v: np.ndarray) -> np.ndarray:
    """v / ‖v‖ (float32); a zero vector stays zero."""
    v = np.asarray(v, np.float64)
    n = np.linalg.norm(v)
    return (v / n if n > 0 else v).astype(np.float32)
