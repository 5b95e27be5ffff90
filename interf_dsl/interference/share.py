"""Interference kind, `select` step: pairs shared across source models (docs/method.md §2.5, item 2).

Input: per SAE the high-interference, low-similarity pairs (I > 0.4, S < 0.2, from the map's `links` table) and the
gloss embeddings of the features in them. Output: the `shared` table: a pair (i, j) of one source and a pair (k, l)
of another source are shared when S(i, k) > `share_similarity` and S(j, l) > `share_similarity` (each feature of
one pair matches the corresponding feature of the other pair by gloss embedding cosine; docs/method.md marks this rule
[INFER]). Pairs are unordered: (k, l) is also tried as (l, k).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

SHARED_SCHEMA = {"source_a": "Utf8", "hook_a": "Utf8", "feature_a": "Int64", "partner_a": "Int64", "I_a": "Float64",
                 "source_b": "Utf8", "hook_b": "Utf8", "feature_b": "Int64", "partner_b": "Int64", "I_b": "Float64",
                 "sim_feature": "Float64", "sim_partner": "Float64"}


@dataclass
class PairSet:
    """High-interference pairs of one SAE and the unit gloss embeddings of their features."""

    source: str
    hook: str
    pairs: pl.DataFrame  # feature, partner, I, S
    vectors: dict[int, np.ndarray]


def _matrix(ids: list[int], vectors: dict[int, np.ndarray]):
    import numpy as np

    return np.stack([vectors[i] for i in ids]).astype(np.float32) if ids else np.zeros((0, 1), np.float32)


def shared_pairs(a: PairSet, b: PairSet, *, share_similarity: float = 0.5) -> pl.DataFrame:
    """Pairs of `a` matched to pairs of `b` by gloss similarity of both members."""
    import numpy as np
    import polars as pl

    rows = []
    pa = a.pairs.filter(pl.col("feature") < pl.col("partner"))
    pb = b.pairs.filter(pl.col("feature") < pl.col("partner"))
    if pa.height and pb.height:
        ids_a = sorted(set(pa["feature"]) | set(pa["partner"]))
        ids_b = sorted(set(pb["feature"]) | set(pb["partner"]))
        sim = _matrix(ids_a, a.vectors) @ _matrix(ids_b, b.vectors).T
        ia = {f: k for k, f in enumerate(ids_a)}
        ib = {f: k for k, f in enumerate(ids_b)}
        fb, lb = np.array([ib[f] for f in pb["feature"]]), np.array([ib[f] for f in pb["partner"]])
        for i, j, i_val in pa.select("feature", "partner", "I").iter_rows():
            si, sj = sim[ia[i]], sim[ia[j]]
            for first, second in ((fb, lb), (lb, fb)):  # (k, l) and (l, k)
                s1, s2 = si[first], sj[second]
                for h in np.nonzero((s1 > share_similarity) & (s2 > share_similarity))[0]:
                    rows.append((a.source, a.hook, i, j, i_val, b.source, b.hook, int(ids_b[first[h]]),
                                 int(ids_b[second[h]]), float(pb["I"][int(h)]), float(s1[h]), float(s2[h])))
    schema = {k: getattr(pl, v) for k, v in SHARED_SCHEMA.items()}
    return pl.DataFrame(rows, schema=schema, orient="row").unique(maintain_order=True)
