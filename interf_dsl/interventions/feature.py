"""Interventions kind, feature focus (docs/method.md §5.1): steer along unit SAE decoder directions.

Input: the SAE decoder W_dec [d_sae, d], a target feature, its partners per interference bin (`partners` table),
the atlas `features` table of the hook (frequency, active) and the scale grid. Output: `Candidate`s for the
conditions self, one per bin (each partner a candidate, ranked), random_direction (Gaussian unit vectors),
random_feature (a random active feature) and matched_feature (the active feature closest in log activation
frequency and decoder norm, docs/method.md §8.3); `steer_target` runs them on the target's vocabulary sentences.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interf_dsl.errors import SpecError
from interf_dsl.interventions.sweep import Candidate, MetricConfig, Probe, sweep_sentences, unit

if TYPE_CHECKING:
    import polars as pl

CONDITIONS = ("self", "bins", "random_direction", "random_feature", "matched_feature")


def check_conditions(conditions: list[str]) -> list[str]:
    """Validate the `conditions` list of a feature/token focus block."""
    for c in conditions:
        if c not in CONDITIONS:
            raise SpecError(f"unknown intervention condition '{c}'", name=c, choices=CONDITIONS,
                            key_path="interventions[].conditions")
    return list(conditions)


def matched_feature(freq: np.ndarray, norms: np.ndarray, candidates: np.ndarray, target: int) -> int:
    """The candidate feature nearest the target in (log10 frequency, decoder norm), both standardised."""
    if candidates.size == 0:
        raise SpecError(f"no feature is left to match target {target} on frequency and norm")
    lf = np.log10(np.maximum(freq, 1e-9))
    sd_f = float(np.std(lf[candidates])) or 1.0
    sd_n = float(np.std(norms[candidates])) or 1.0
    dist = ((lf[candidates] - lf[target]) / sd_f) ** 2 + ((norms[candidates] - norms[target]) / sd_n) ** 2
    return int(candidates[int(np.argmin(dist))])


def feature_candidates(W_dec: np.ndarray, target: int, partners: list[dict], hook_features: pl.DataFrame,
                       conditions: list[str], rng: np.random.Generator, random_draws: int = 1) -> list[Candidate]:
    """Steering directions of every condition for one target feature.

    Args:
        W_dec: decoder [d_sae, d] (rows are feature directions).
        target: the target feature index.
        partners: `partners` rows of this target (bin, partner, I, S, rank).
        hook_features: the atlas `features` rows of this SAE (feature, frequency, active).
        conditions: subset of CONDITIONS.
        rng: the step's seeded generator.
        random_draws: number of random directions / random features.
    """
    out: list[Candidate] = []
    conds = check_conditions(conditions)
    if "self" in conds:
        out.append(Candidate("self", 0, unit(W_dec[target]), partner=target, I=1.0))
    if "bins" in conds:
        by_bin: dict[str, list[dict]] = {}
        for p in sorted(partners, key=lambda r: (str(r["bin"]), r.get("rank") or 0)):
            by_bin.setdefault(str(p["bin"]), []).append(p)
        for label, rows in by_bin.items():
            for k, p in enumerate(rows):
                out.append(Candidate("bin", k, unit(W_dec[int(p["partner"])]), bin=label,
                                     partner=int(p["partner"]), I=float(p["I"]), S=float(p["S"])))
    exclude = {target} | {int(p["partner"]) for p in partners}
    active = hook_features.filter(hook_features["active"]) if "active" in hook_features.columns else hook_features
    pool = np.array([f for f in active["feature"].to_list() if int(f) not in exclude], dtype=np.int64)
    if "random_direction" in conds:
        for k in range(random_draws):
            out.append(Candidate("random_direction", k, unit(rng.normal(size=W_dec.shape[1]))))
    if "random_feature" in conds:
        if pool.size == 0:
            raise SpecError(f"no active feature is left for the random_feature control of target {target}")
        for k, f in enumerate(rng.choice(pool, size=min(random_draws, pool.size), replace=False)):
            out.append(Candidate("random_feature", k, unit(W_dec[int(f)]), partner=int(f)))
    if "matched_feature" in conds:
        freq = np.zeros(W_dec.shape[0])
        feats = hook_features["feature"].to_numpy()
        if "frequency" in hook_features.columns:
            freq[feats] = hook_features["frequency"].fill_null(0.0).to_numpy()
        f = matched_feature(freq, np.linalg.norm(W_dec, axis=1), pool, target)
        out.append(Candidate("matched_feature", 0, unit(W_dec[f]), partner=f))
    return out


def steer_target(backend: Any, hook: str, candidates: list[Candidate], sentences: list[dict], probe: Probe,
                 scales: list[float], cfg: MetricConfig, *, kind: str = "add",
                 memory_budget_mb: float | None = 1024) -> list[dict]:
    """Sweep every candidate × scale on each sentence (sentences batched up to `memory_budget_mb`); rows carry
    sentence_id and split."""
    todo = [(s, seq) for s in sentences if (seq := backend.tokenize(s["text"]))]
    rows: list[dict] = []
    per_sentence = sweep_sentences(backend, [seq for _, seq in todo], hook, candidates, scales, probe, cfg,
                                   kind=kind, memory_budget_mb=memory_budget_mb)
    for (s, _), got in zip(todo, per_sentence, strict=True):
        for r in got:
            r.update(sentence_id=s["sentence_id"], split=s.get("split") or "eval", token_str=s.get("token_str"))
            rows.append(r)
    return rows
