"""Interference kind, `select` step: the Table-1 token sets per source and token type (docs/method.md §6.2, §8.8).

Input: per source, for every SAE the features' top token ids and the map's high-interference links (I, S), the
vocabulary (token_id, token_str, corpus count) and token-type labels {token_id: type}. Output: rows
(source, type, level, token_id, token_str) with level ∈ {target, high, medium, random, random_matched}; the
cross-source rows (source "union" / "intersection") key on token strings (token_id null).

Rules: target features carry ≥ 1 T-labelled token among their top tokens; an interference feature g has
I(target, g) > interference_min, S < semantic_max and no T-labelled top token; I_max(g) ≥ high → HIGH, else
≥ medium → MEDIUM, adding g's first `tokens_per_feature` top tokens. TARGET = all T-labelled vocabulary; RANDOM =
non-blank vocabulary outside TARGET ∪ HIGH ∪ MEDIUM (before dedup); then HIGH ∩ MEDIUM leaves both. RANDOM_MATCHED
draws one RANDOM token per HIGH token from the same (log2 corpus frequency, length) cell (seeded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

LEVELS = ("target", "high", "medium", "random", "random_matched")


@dataclass(frozen=True)
class TokenSetParams:
    """Thresholds of docs/method.md §6.2 (paper values as defaults)."""

    high_threshold: float = 0.5
    medium_threshold: float = 0.2
    interference_min: float = 0.2
    semantic_max: float = 0.3
    tokens_per_feature: int = 10
    max_top_tokens: int = 100
    types: tuple[str, ...] = ()


@dataclass
class SourceTokens:
    """One source: per-SAE (feature_tokens, links) and its vocabulary and labels."""

    source: str
    saes: list[tuple[pl.DataFrame, pl.DataFrame]]  # (feature, top_token_ids), (feature, partner, I, S)
    vocab: pl.DataFrame  # token_id, token_str, count
    labels: dict[int, str]
    high_threshold: float | None = None  # per-source override (authors' GPT-2 small rows: 0.3)
    extra: dict = field(default_factory=dict)


def _interference_sets(src: SourceTokens, typ: str, type_ids: set[int], p: TokenSetParams):
    import polars as pl

    high_thr = src.high_threshold if src.high_threshold is not None else p.high_threshold
    high, medium = set(), set()
    for feats, links in src.saes:
        tops = dict(zip(feats["feature"].to_list(),
                        [list(t or [])[: p.max_top_tokens] for t in feats["top_token_ids"].to_list()], strict=True))
        has_t = {f for f, toks in tops.items() if type_ids.intersection(toks)}
        imax = (links.filter(pl.col("feature").is_in(list(has_t)) & ~pl.col("partner").is_in(list(has_t))
                             & (pl.col("I") > p.interference_min) & (pl.col("S") < p.semantic_max))
                .group_by("partner").agg(pl.col("I").max().alias("imax")))
        for g, i_max in imax.iter_rows():
            toks = tops.get(g, [])[: p.tokens_per_feature]
            if i_max >= high_thr:
                high.update(toks)
            elif i_max >= p.medium_threshold:
                medium.update(toks)
    return high, medium


def _matched(high: set[int], pool: set[int], vocab: dict[int, tuple[str, int]], rng: np.random.Generator):
    """One pool token per HIGH token from the same (log2 frequency, length) cell, without replacement."""
    def cell(t):
        s, c = vocab.get(t, ("", 0))
        return (int(math.log2(c + 1)), min(len(s.strip()), 12))

    cells: dict[tuple[int, int], list[int]] = {}
    for t in sorted(pool):
        cells.setdefault(cell(t), []).append(t)
    for v in cells.values():
        rng.shuffle(v)
    out = []
    for t in sorted(high):
        c = cell(t)
        # widen to the nearest cell that still has tokens (frequency first, then length)
        options = sorted((k for k, v in cells.items() if v), key=lambda k: (abs(k[0] - c[0]), abs(k[1] - c[1]), k))
        if options:
            out.append(cells[options[0]].pop())
    return set(out)


def source_token_sets(src: SourceTokens, params: TokenSetParams, rng: np.random.Generator) -> pl.DataFrame:
    """All levels for every type of one source."""
    import polars as pl

    vocab = {int(i): (s, int(c)) for i, s, c in src.vocab.select("token_id", "token_str", "count").iter_rows()}
    types = params.types or tuple(sorted(set(src.labels.values())))
    rows = []
    for typ in types:
        type_ids = {t for t, lab in src.labels.items() if lab == typ}
        high, medium = _interference_sets(src, typ, type_ids, params)
        random = {t for t, (s, _) in vocab.items() if s.strip()} - type_ids - high - medium
        both = high & medium
        high, medium = high - both, medium - both
        matched = _matched(high, random, vocab, rng)
        for level, ids in zip(LEVELS, (type_ids, high, medium, random, matched), strict=True):
            rows.extend((src.source, typ, level, t, vocab.get(t, ("", 0))[0]) for t in sorted(ids))
    return pl.DataFrame(rows, schema={"source": pl.Utf8, "type": pl.Utf8, "level": pl.Utf8, "token_id": pl.Int64,
                                      "token_str": pl.Utf8}, orient="row")


def combine_sources(per_source: pl.DataFrame) -> pl.DataFrame:
    """Union and intersection across sources, keyed on token strings (vocabularies differ between models)."""
    import polars as pl

    n_sources = per_source["source"].n_unique()
    by = per_source.group_by("type", "level", "token_str").agg(pl.col("source").n_unique().alias("k"))
    union = by.with_columns(pl.lit("union").alias("source"))
    inter = by.filter(pl.col("k") == n_sources).with_columns(pl.lit("intersection").alias("source"))
    cols = [pl.col("source"), "type", "level", pl.lit(None, dtype=pl.Int64).alias("token_id"), "token_str"]
    return pl.concat([union.select(cols), inter.select(cols)]).sort("source", "type", "level", "token_str")


MIN_TARGET_TOKENS = 5
"""Fewer scorable TARGET tokens than this and a type gets a coverage warning: type_success counts TARGET tokens in
a top-k, and with a handful of them the counts are mostly zero."""


def external_token_sets(source: str, sets: dict[str, dict[str, list[str]]], vocab: pl.DataFrame,
                        types: tuple[str, ...] = ()) -> pl.DataFrame:
    """One source's rows from external sets (`transfer.sets`): every string of every level, with each vocabulary id
    whose token string it is (null for a string that is not a single token of this model: injected as text, but
    never scored as a TARGET token)."""
    import polars as pl

    ids: dict[str, list[int]] = {}
    for i, s in vocab.select("token_id", "token_str").iter_rows():
        ids.setdefault(s, []).append(int(i))
    rows = []
    for typ in types or tuple(sorted(sets)):
        for level in LEVELS:
            for s in sets.get(typ, {}).get(level, ()):
                rows.extend((source, typ, level, i, s) for i in ids.get(s, [None]))
    return pl.DataFrame(rows, schema={"source": pl.Utf8, "type": pl.Utf8, "level": pl.Utf8, "token_id": pl.Int64,
                                      "token_str": pl.Utf8}, orient="row")


COVERAGE_COLUMNS = ("source", "type", "origin", "labels", "labels_in_vocab", "target", "target_scorable", "high",
                    "medium", "random", "random_matched", "not_in_vocab", "warning")
"""The `token_set_coverage` table (one row per source, or union/intersection, and type; docs/data-formats.md)."""


def coverage_table(token_sets: pl.DataFrame, labels: dict[str, dict[str, dict[str, int]]],
                   origin: dict[str, str], types: tuple[str, ...] = ()) -> pl.DataFrame:
    """What each type's sets hold, per source: label strings and those that are single tokens of the model
    (`labels`: source -> type -> {labels, in_vocab}; absent for external sets), distinct strings per level,
    TARGET tokens the source can score (with a vocabulary id), strings that are no single token of the model, and a
    warning for a type with fewer than `MIN_TARGET_TOKENS` scorable TARGET tokens or an empty level. Every source
    has a row for each of `types`, with or without sets."""
    import polars as pl

    parts = dict(token_sets.group_by("source", "type"))
    for source in token_sets["source"].unique().to_list():
        for typ in types:
            parts.setdefault((source, typ), token_sets.clear())
    rows = []
    for (source, typ), part in sorted(parts.items()):
        counts = {lv: part.filter(pl.col("level") == lv)["token_str"].n_unique() for lv in LEVELS}
        per_source = source not in ("union", "intersection")
        scorable = part.filter((pl.col("level") == "target") & pl.col("token_id").is_not_null())["token_str"]
        missing = part.filter(pl.col("token_id").is_null())["token_str"].n_unique() if per_source else None
        lab = labels.get(source, {}).get(typ, {})
        notes = []
        if per_source and scorable.n_unique() < MIN_TARGET_TOKENS:
            notes.append(f"only {scorable.n_unique()} scorable TARGET token(s) (< {MIN_TARGET_TOKENS}): "
                         "type_success has little to count")
        empty = [lv for lv in ("target", "high", "medium", "random") if not counts[lv]]
        if empty:
            notes.append(f"empty level(s) {', '.join(empty)}: left out of the conditions")
        rows.append({"source": source, "type": typ, "origin": origin.get(source, "sources"),
                     "labels": lab.get("labels"), "labels_in_vocab": lab.get("in_vocab"), **counts,
                     "target_scorable": scorable.n_unique() if per_source else None, "not_in_vocab": missing,
                     "warning": "; ".join(notes) or None})
    schema = {c: pl.Utf8 if c in ("source", "type", "origin", "warning") else pl.Int64 for c in COVERAGE_COLUMNS}
    return pl.DataFrame(rows, schema=schema).select(COVERAGE_COLUMNS)
