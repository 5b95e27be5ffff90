"""Interventions kind, neuron focus (docs/method.md §5.4, §8.15): scale single activation coordinates.

Input: the map's `neurons` (degree per coordinate) and `clusters` tables, the atlas `features` (neuron_idx,
neuron_val, top tokens), the hook and a scale grid (< 1 masks, > 1 amplifies). Output: sampled neurons per degree
bin with their connected features (`sample_neurons`), a variance-matched random coordinate per neuron
(`matched_coordinate`), and the MLP-hidden variant's degrees from W_out alignments (`mlp_hidden_degrees`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from interf_dsl.errors import SpecError

if TYPE_CHECKING:
    import polars as pl


def _bin_label(lo: int, hi: float) -> str:
    if hi == float("inf"):
        return f"{lo}+"
    return str(lo) if hi == lo else f"{lo}-{int(hi)}"


def _bad_bin(part: object) -> SpecError:
    return SpecError(f"bad degree bin {part!r}", key_path="interventions[focus=neuron].degree_bins",
                     hint='write e.g. "1, 2-5, 6-20, 501+" (or the plan\'s [[1, 1], [2, 5], [6, null]])')


def parse_degree_bins(spec: object) -> list[tuple[str, int, float]]:
    """Degree bins → [(label, lo, hi)] with inclusive bounds (hi = inf for "N+").

    Accepts the spec text ("1, 2-5, 501+") and the resolved plan form, a list of [lo, hi] pairs with hi = None for
    an open bin ([[1, 1], [2, 5], [6, None]]); labels are the same in both forms ("1", "2-5", "6+").
    """
    if isinstance(spec, (list, tuple)):
        out = []
        for part in spec:
            if isinstance(part, str):
                out += parse_degree_bins(part)
                continue
            if not isinstance(part, (list, tuple)) or len(part) != 2:
                raise _bad_bin(part)
            try:
                lo = int(part[0])
                hi = float("inf") if part[1] is None else float(int(part[1]))
            except (TypeError, ValueError):
                raise _bad_bin(part) from None
            if hi < lo:
                raise _bad_bin(part)
            out.append((_bin_label(lo, hi), lo, hi))
        return out
    out = []
    for part in [p.strip() for p in str(spec).split(",") if p.strip()]:
        try:
            if part.endswith("+"):
                lo, hi = int(part[:-1]), float("inf")
            elif "-" in part:
                a, b = part.split("-")
                lo, hi = int(a), float(int(b))
            else:
                lo = int(part)
                hi = float(lo)
        except ValueError:
            raise _bad_bin(part) from None
        out.append((_bin_label(lo, hi), lo, hi))
    return out


def degree_bin(degree: int, bins: list[tuple[str, int, float]]) -> str | None:
    """The label of the bin holding `degree`, or None."""
    for label, lo, hi in bins:
        if lo <= degree <= hi:
            return label
    return None


def connected_features(features: pl.DataFrame, neuron: int, threshold: float) -> list[int]:
    """Features whose top decoder components include `neuron` with value > threshold."""
    out = []
    for r in features.select("feature", "neuron_idx", "neuron_val").to_dicts():
        for i, v in zip(r["neuron_idx"] or [], r["neuron_val"] or [], strict=False):
            if int(i) == neuron and float(v) > threshold:
                out.append(int(r["feature"]))
                break
    return out


def sample_neurons(neurons: pl.DataFrame, features: pl.DataFrame, clusters: pl.DataFrame | None, params: dict,
                   rng: np.random.Generator, usable: Callable[[int], bool] | None = None) -> list[dict]:
    """One random neuron per degree bin, and up to C clusters × F features connected to it.

    `usable(feature)` restricts the features drawn to those that can be measured (e.g. whose top token has
    vocabulary sentences); the neuron's degree still counts all its connected features. Returns dicts
    {neuron, degree, bin, super, features: [feature ids], connected: number of connected features}.
    """
    bins = parse_degree_bins(params.degree_bins)
    thr, n_clusters, n_feats = float(params.link_threshold), int(params.clusters_per_neuron), int(params.features_per_cluster)
    per_bin = int(params.neurons_per_bin)
    cmap: dict[int, int] = {}
    if clusters is not None and clusters.height:
        cutoff = float(params.cluster_cutoff)
        sub = clusters.filter((clusters["cutoff"] - cutoff).abs() < 1e-9)
        cmap = dict(zip(sub["feature"].to_list(), sub["cluster"].to_list(), strict=True))
    rows = neurons.filter(neurons["degree"] > 0).to_dicts()
    out = []
    for label, lo, hi in bins:
        cands = [r for r in rows if lo <= int(r["degree"]) <= hi]
        if not cands:
            continue
        for i in rng.choice(len(cands), size=min(per_bin, len(cands)), replace=False):
            r = cands[int(i)]
            connected = connected_features(features, int(r["neuron"]), thr)
            feats = [f for f in connected if usable is None or usable(f)]
            groups: dict[int, list[int]] = {}
            for f in feats:
                groups.setdefault(cmap.get(f, -1 - f), []).append(f)
            keys = list(groups)
            chosen = [keys[int(k)] for k in rng.choice(len(keys), size=min(n_clusters, len(keys)), replace=False)]
            picked = []
            for k in chosen:
                g = groups[k]
                picked += [g[int(j)] for j in rng.choice(len(g), size=min(n_feats, len(g)), replace=False)]
            out.append({"neuron": int(r["neuron"]), "degree": int(r["degree"]), "bin": label,
                        "super": bool(r.get("super", False)), "features": picked, "connected": len(connected)})
    return out


def matched_coordinate(variances: np.ndarray, neuron: int, rng: np.random.Generator, k: int = 5) -> int:
    """A random coordinate among the k whose activation variance is closest to the neuron's (§8.15)."""
    others = np.array([i for i in range(variances.size) if i != neuron])
    if others.size == 0:
        raise SpecError("the random-coordinate control needs a hook with more than one coordinate")
    near = others[np.argsort(np.abs(variances[others] - variances[neuron]))[:k]]
    return int(rng.choice(near))


def mlp_hidden_degrees(W_out: np.ndarray, W_dec: np.ndarray, cluster_of: dict[int, int], features: list[int],
                       threshold: float, top: int = 3) -> tuple[dict[int, int], dict[int, list[int]]]:
    """Degrees of MLP hidden neurons: a feature links to its top-`top` hidden neurons by cos(W_out[n], d̂_f) > thr.

    Returns (degree per hidden neuron, connected features per hidden neuron).
    """
    wo = W_out / np.maximum(np.linalg.norm(W_out, axis=1, keepdims=True), 1e-12)
    links: dict[int, list[int]] = {}
    for f in features:
        d = W_dec[f] / max(float(np.linalg.norm(W_dec[f])), 1e-12)
        cos = wo @ d
        for n in np.argsort(-cos)[:top]:
            if cos[n] > threshold:
                links.setdefault(int(n), []).append(int(f))
    degrees = {n: len({cluster_of.get(f, -1 - f) for f in fs}) for n, fs in links.items()}
    return degrees, links
