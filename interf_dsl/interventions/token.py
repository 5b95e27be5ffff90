"""Interventions kind, token focus (docs/method.md §5.2): steer along token-gradient directions.

Input: the atlas `contexts` of a feature (token_ids, acts), the SAE (for the encoder/decoder probes) and a hook.
Output: `Candidate`s whose vectors are ĝ = g/‖g‖ with g = Σ_i ∂⟨a_hook[i], v⟩/∂e_i over the positions i of a
top-activating context whose activation is ≥ position_ratio × the context's max; v = all-ones (paper), the
feature's encoder row or its decoder row (§8.11). One vector per context (the first `contexts_per_feature` by rank).
Conditions as in the feature focus; with `equal_candidates` every condition gets the same number of vectors (§8.4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from interf_dsl.errors import BackendError, SpecError
from interf_dsl.interventions.feature import check_conditions, matched_feature
from interf_dsl.interventions.sweep import Candidate, unit

if TYPE_CHECKING:
    import polars as pl

PROBES = ("ones", "encoder", "decoder")


TOKEN_CONDITIONS = ("self", "bins", "random_direction")
"""The token focus's levels: the target's own gradients, each bin's partners', random directions (docs/method.md §5.2)."""

def probe_vector(kind: str, feature: int, W_enc: np.ndarray | None, W_dec: np.ndarray | None, dim: int) -> np.ndarray:
    """The probe v of L = ⟨a, v⟩ (docs/method.md §8.11)."""
    if kind == "ones":
        return np.ones(dim, np.float32)
    if kind == "encoder" and W_enc is not None:
        return np.asarray(W_enc[:, feature], np.float32)
    if kind == "decoder" and W_dec is not None:
        return np.asarray(W_dec[feature], np.float32)
    raise SpecError(f"unknown token-focus probe '{kind}'", name=kind, choices=PROBES,
                    key_path="interventions[focus=token].probe")


def top_positions(acts: list[float], ratio: float) -> list[int]:
    """Positions whose activation is ≥ ratio × the context's max (at least the argmax)."""
    a = np.asarray(acts, np.float64)
    if a.size == 0:
        return []
    top = float(a.max())
    if top <= 0:
        return [int(a.argmax())]
    return [int(i) for i in np.flatnonzero(a >= ratio * top)]


DEGENERATE_GRADIENT = 1e-4
"""A gradient shorter than this times the probe's norm is numerical noise, not a direction: on a zoo model whose
weights were processed like a hub model's (fold_ln, center_writing_weights) the `ones` probe's gradient at attn_out
fell from 18.3 to 9.4e-6 (8e-7 of ‖v‖), and normalising it would steer along float noise."""


def gradient_vectors(backend: Any, hook: str, feature: int, contexts: pl.DataFrame, probe: np.ndarray,
                     ratio: float, n: int, probe_kind: str = "ones") -> list[np.ndarray]:
    """Unit gradient vectors of the first `n` contexts (by rank) of one feature.

    Raises:
        BackendError: a gradient is numerically zero (`DEGENERATE_GRADIENT`): the probe cannot see this hook.
    """
    import polars as pl

    rows = contexts.filter(pl.col("feature") == feature).sort("rank").head(n).to_dicts()
    out = []
    scale = float(np.linalg.norm(probe))
    for r in rows:
        pos = top_positions(r["acts"], ratio)
        if not pos:
            continue
        g = backend.embed_gradient(list(r["token_ids"]), hook, pos, probe)
        norm = float(np.linalg.norm(g))
        if not norm > DEGENERATE_GRADIENT * scale * len(pos):
            raise BackendError(
                f"the token focus's '{probe_kind}' probe has a numerically zero gradient at {hook} (feature {feature}: "
                f"‖g‖ = {norm:.2g}, ‖v‖ = {scale:.3g}): the probe does not see this hook. With weights processed like "
                "a hub model's (fold_ln, "
                "center_writing_weights) attn_out, mlp_out and the residual stream are zero-mean across coordinates, "
                "so ⟨a, 1⟩ is constant",
                hint="use `probe: encoder` or `probe: decoder` in the token focus block, or load the model with the "
                     "weight processing its SAEs were trained with")
        out.append(unit(g))
    return out


def token_candidates(backend: Any, hook: str, target: int, partners: list[dict], contexts: pl.DataFrame,
                     hook_features: pl.DataFrame, params: Any, W_enc: np.ndarray | None, W_dec: np.ndarray | None,
                     rng: np.random.Generator) -> list[Candidate]:
    """Gradient candidates of every condition for one target feature (`params`: the token focus block)."""
    conds = check_conditions(list(TOKEN_CONDITIONS))
    ratio, n_ctx, kind = float(params.position_ratio), int(params.contexts_per_feature), params.probe
    dim = backend.hook_dim(hook)

    def grads(f: int) -> list[np.ndarray]:
        return gradient_vectors(backend, hook, f, contexts, probe_vector(kind, f, W_enc, W_dec, dim), ratio, n_ctx,
                                probe_kind=kind)

    out: list[Candidate] = []
    if "self" in conds:
        out += [Candidate("self", k, v, partner=target, I=1.0) for k, v in enumerate(grads(target))]
    bins: dict[str, list[Candidate]] = {}
    if "bins" in conds:
        for p in sorted(partners, key=lambda r: (str(r["bin"]), r.get("rank") or 0)):
            for v in grads(int(p["partner"])):
                lst = bins.setdefault(str(p["bin"]), [])
                lst.append(Candidate("bin", len(lst), v, bin=str(p["bin"]), partner=int(p["partner"]),
                                     I=float(p["I"]), S=float(p["S"])))
    n_self = sum(c.condition == "self" for c in out)
    equal = bool(params.equal_candidates)
    budget = max(1, n_self) if equal else None
    for lst in bins.values():
        if budget is not None and len(lst) > budget:
            keep = sorted(rng.choice(len(lst), size=budget, replace=False))
            lst = [lst[i] for i in keep]
            for k, c in enumerate(lst):
                c.candidate = k
        out += lst
    draws = budget if budget is not None else int(params.random_draws)
    if "random_direction" in conds:
        out += [Candidate("random_direction", k, unit(rng.normal(size=dim))) for k in range(draws)]
    exclude = {target} | {int(p["partner"]) for p in partners}
    with_ctx = set(contexts["feature"].unique().to_list())
    pool = np.array(sorted(f for f in hook_features["feature"].to_list() if f in with_ctx and f not in exclude))
    for cond in ("random_feature", "matched_feature"):
        if cond not in conds or pool.size == 0:
            continue
        if cond == "random_feature":
            f = int(rng.choice(pool))
        else:
            freq = np.zeros(int(max(hook_features["feature"].max(), target)) + 1)
            freq[hook_features["feature"].to_numpy()] = hook_features["frequency"].fill_null(0).to_numpy()
            norms = np.ones_like(freq) if W_dec is None else np.linalg.norm(W_dec, axis=1)[: freq.size]
            f = matched_feature(freq, norms, pool, target)
        vs = grads(f)[: draws if budget is not None else None]
        out += [Candidate(cond, k, v, partner=f) for k, v in enumerate(vs)]
    return out
