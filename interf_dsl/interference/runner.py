"""Interference kind: step runners `map` (one SAE) and `select` (every map), registered in STEP_RUNNERS.

`map` params: source, sae, hook_name, map (section); inputs: atlas, embed, sae → tables `pairs`, `map_stats`,
`partner_counts`, `links`, `neurons`, `clusters`, plus pass-throughs `feature_tokens`, `vocab`, `link_vectors` that
`select` needs; figures as files. `select` params: map (section), seeds {source: seed}, optional token_sets
{types, high_threshold (number or {source: number}), medium_threshold, interference_min, semantic_max,
tokens_per_feature, labels {source: path}, sets (external token sets every source takes instead of its own),
sets_fingerprint, union_high_threshold (the union/intersection members' HIGH threshold when it differs per
source)}, optional targets [{source, hook_name, features}] (map.targets: the listed features that qualify
are the targets, no sampling; misses go to meta `target_warnings`) → `targets`, `partners`, `token_sets`,
`token_set_coverage` (per source and type: labels usable in the vocabulary, level sizes, scorable TARGET tokens,
warnings), `shared`; meta `token_sets_origin` (sources' own sets or external, with the file's fingerprint) and
`coverage_warnings`, `bin_labels` (the interference range of each bin index, for figures).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interf_dsl.atlas.runner import only_input
from interf_dsl.errors import ExecuteError, SpecError
from interf_dsl.interference.bins import bins_of, parse_thresholds
from interf_dsl.interference.blocked import block_budget_mb, compute_map
from interf_dsl.interference.clusters import cluster_features
from interf_dsl.interference.figures import map_figures
from interf_dsl.interference.labels import label_coverage, read_labels
from interf_dsl.interference.metrics import INTERFERENCE_METRICS, MetricInputs
from interf_dsl.interference.neurons import neuron_table
from interf_dsl.interference.select import qualifying_targets, select_sae
from interf_dsl.interference.sets_file import read_token_sets
from interf_dsl.interference.share import PairSet, shared_pairs
from interf_dsl.interference.tables import map_tables
from interf_dsl.interference.token_sets import (
    SourceTokens,
    TokenSetParams,
    combine_sources,
    coverage_table,
    external_token_sets,
    source_token_sets,
)
from interf_dsl.lang.params import SelectTokenSets, params_of
from interf_dsl.steps import StepResult, step_runner
from interf_dsl.zoo.catalog import read_token_types

if TYPE_CHECKING:
    import polars as pl

    from interf_dsl.steps import StepContext

NEURON_CUTOFF = 0.4
SELECTIONS = ("pairwise", "cluster_exclusion")


def _metric_inputs(ctx: StepContext, atlas, feats: pl.DataFrame, ids: list[int], metrics: list[str]):
    import torch
    from safetensors.torch import load_file


    p = params_of("map", ctx.params)
    sae = ctx.sae(p.source, p.hook_name)
    dev = sae.W_dec.device  # the run's device (execute.device): every metric input goes there
    idx = torch.tensor(ids, dtype=torch.long, device=dev)
    vec = {k: v.to(dev) for k, v in load_file(str(atlas.files["atlas_vectors"])).items()} \
        if "atlas_vectors" in atlas.files else {}
    w_u = ctx.model(p.source).W_U.detach().float().to(dev) if "logit_effect" in metrics else None
    nidx = feats["neuron_idx"].to_list()
    return MetricInputs(
        w_dec=sae.W_dec.detach().float()[idx], w_enc=sae.W_enc.detach().float()[:, idx], w_u=w_u,
        activation_sample=vec["activation_sample"][idx] if "activation_sample" in vec else None,
        context_means=vec["context_means"][idx] if "context_means" in vec else None,
        neuron_idx=[nidx[i] for i in ids], where=f"{p.source}/{p.hook_name}")


@step_runner("map")
def run_map(ctx: StepContext) -> StepResult:
    """Interference map of one SAE for every configured metric (the first is primary)."""
    import numpy as np
    import polars as pl
    import torch


    p = params_of("map", ctx.params)
    mp = p.map
    source, hook = p.source, p.hook_name
    bins, taus = bins_of(mp.bins), parse_thresholds(mp.thresholds)
    metrics = list(mp.metrics)
    for name in metrics:
        INTERFERENCE_METRICS.entry(name)  # unknown names fail here, with choices
    selection = mp.selection  # None only in a section no preset was applied to
    if selection not in SELECTIONS:
        raise SpecError(f"map.selection: unknown mode '{selection}'", name=selection, choices=SELECTIONS)
    budget = mp.memory_budget_mb
    atlas = only_input(ctx, "atlas")
    feats = atlas.tables["features"].sort("feature")
    emb = only_input(ctx, "embed").tables["embeddings"]
    # mapped = active features with an embedding, ascending; vectors straight from polars (no per-value objects)
    mapped = (feats.filter(pl.col("active")).select("feature")
              .join(emb.select("feature", "vector"), on="feature", how="inner").sort("feature"))
    if mapped.height == 0:
        raise ExecuteError(f"map {source}/{hook}: no feature is both active in the atlas and embedded",
                           hint="check the atlas corpus (did any feature fire?) and the explanations")
    ids = mapped["feature"].to_list()
    width = int(mapped["vector"].list.len().max())
    e = torch.from_numpy(np.array(mapped["vector"].list.to_array(width).to_numpy(), dtype=np.float32)
                         .reshape(len(ids), width))  # np.array copies: polars' buffer is read-only
    del mapped
    cutoffs = tuple(sorted(set(taus) | {NEURON_CUTOFF}, reverse=True))
    linkage = mp.linkage
    clustering = cluster_features(e.numpy(), cutoffs, linkage, budget)
    labels = clustering.labels
    inputs = _metric_inputs(ctx, atlas, feats, ids, metrics)
    tables: dict[str, list] = {}
    files = {}
    meta = {"source": source, "hook": hook, "sae": p.sae, "n_mapped": len(ids), "linkage": linkage,
            "clustering": clustering.method,
            "selection": selection, "metrics": metrics}
    for k, name in enumerate(metrics):
        mv = INTERFERENCE_METRICS.get(name)(inputs)
        if k == len(metrics) - 1:
            inputs = None  # the SAE weight copies (~200 MB at 32k × 768) are not needed past the last metric
        cl = [torch.from_numpy(labels[t]) for t in taus] if selection == "cluster_exclusion" else None
        block_mb = block_budget_mb(budget, mv.vectors.device)
        m = compute_map(mv.vectors, e.to(mv.vectors.device), bins, taus, top_partners=mp.top_partners,
                        memory_budget_mb=block_mb, transform=mv.transform, cluster_labels=cl,
                        seed=_partner_seed(ctx, name), progress=ctx.progress(len(ids), f"map {name} {hook}"))
        del mv  # its vectors are not needed past compute_map: freed before the tables are built
        meta[f"{name}.block_rows"], meta[f"{name}.flops"] = m.block_rows, m.flops
        meta[f"{name}.kernel"] = m.kernel + (f" ({m.kernel_note})" if m.kernel_note else "")
        meta[f"{name}.block_budget_mb"] = block_mb
        meta[f"{name}.first_block_s"], meta[f"{name}.seconds"] = round(m.first_block_s, 4), round(m.seconds, 4)
        for tname, df in map_tables(m, ids, source=source, hook=hook, metric=name, taus=taus, bins=bins,
                                    primary=k == 0).items():
            tables.setdefault(tname, []).append(df)
        if k == 0:
            files.update(map_figures(m, bins, taus, f"{source}/{hook} {name}", ctx.work_dir / "figures"))
    out = {name: pl.concat(dfs) for name, dfs in tables.items()}
    out["clusters"] = pl.concat([pl.DataFrame({
        "source": source, "hook": hook, "cutoff": np.full(len(ids), c), "feature": np.asarray(ids, dtype=np.int64),
        "cluster": labels[c].astype(np.int64)}, schema={"source": pl.Utf8, "hook": pl.Utf8, "cutoff": pl.Float64,
                                                      "feature": pl.Int64, "cluster": pl.Int64}) for c in cutoffs])
    out["neurons"] = neuron_table(feats, dict(zip(ids, labels[NEURON_CUTOFF].tolist(), strict=True)),
                                  source=source, hook=hook)
    out["feature_tokens"] = feats.select("source", "hook", "feature", "top_token_ids", "top_tokens")
    out["vocab"] = atlas.tables["vocab"]
    linked = set(out["links"]["feature"].to_list()) | set(out["links"]["partner"].to_list())
    out["link_vectors"] = emb.filter(pl.col("feature").is_in(sorted(linked))).select("feature", "vector")
    return StepResult(tables=out, meta=meta, files=files)


def _token_params(tp: SelectTokenSets, source: str) -> tuple[TokenSetParams, float | None]:
    """The token-set builder's params (its own defaults where the spec leaves a field unset) and the source's HIGH
    threshold (one for all sources, or per source)."""
    fields = {k: getattr(tp, k) for k in ("medium_threshold", "interference_min", "semantic_max", "tokens_per_feature")
              if getattr(tp, k) is not None}
    high = tp.high_threshold
    return TokenSetParams(types=tp.types, **fields), high.get(source) if isinstance(high, dict) else high


def _labels(sae_ref: Any, source: str, tp: SelectTokenSets,
            vocab: pl.DataFrame) -> tuple[dict[int, str] | None, dict[str, dict[str, int]], str]:
    """Token-type labels {token_id: type}: the zoo's, or a JSON {token_str: type} file from token_sets.labels; with
    their coverage (per type: label strings, those that are single tokens of this vocabulary) and origin."""
    path = (tp.labels or {}).get(source)
    if path:
        by_str = read_labels(path)
        return ({i: by_str[s] for i, s in vocab.select("token_id", "token_str").iter_rows() if s in by_str},
                label_coverage(by_str, vocab["token_str"].to_list()), "labels")
    if sae_ref == "zoo" or str(sae_ref).startswith("zoo"):
        labels = {int(k): v for k, v in read_token_types().items()}
        cov: dict[str, dict[str, int]] = {}
        for typ in labels.values():
            row = cov.setdefault(typ, {"labels": 0, "in_vocab": 0})
            row["labels"] += 1
            row["in_vocab"] += 1
        return labels, cov, "zoo"
    return None, {}, "none"


def _partner_seed(ctx: StepContext, metric: str) -> int:
    """Seed of the map's partner sampling for one metric: drawn from the experiment seed and what the draw is for
    (this SAE's data, the metric), so `experiment.seed` varies it and nothing else does."""
    return int(ctx.rng(f"partners|{metric}").integers(2**31 - 1))


@step_runner("select")
def run_select(ctx: StepContext) -> StepResult:
    """Targets and partners per SAE and τ, Table-1 token sets, and pairs shared across sources."""
    import numpy as np
    import polars as pl


    p = params_of("select", ctx.params)
    mp, seeds = p.map, dict(p.seeds)
    tp = p.token_sets or SelectTokenSets()
    bins, taus = bins_of(mp.bins), parse_thresholds(mp.thresholds)
    maps = sorted(ctx.inputs_of_kind("map"), key=lambda kv: kv[0])
    rngs = {s: np.random.default_rng(int(seed)) for s, seed in seeds.items()}
    targets, partners, per_source, pairsets = [], [], {}, []
    explicit = {(x.source, x.hook_name): [int(f) for f in x.features] for x in p.targets or ()}
    warnings: list[str] = []
    for _, res in maps:
        t = res.tables
        source, hook, primary = res.meta["source"], res.meta["hook"], res.meta["metrics"][0]
        rng = rngs[source]  # the source's selection seed, drawn across its SAEs in map order (paper protocol)
        counts, per_layer = t["partner_counts"], mp.targets_per_layer
        if (source, hook) in explicit:  # map.targets: the listed features that qualify, no sampling
            counts, per_layer = _explicit_counts(counts, explicit[(source, hook)], bins.n, taus, f"{source}/{hook}",
                                                 warnings)
        tg, pt = select_sae(counts, t["pairs"].lazy().filter((pl.col("set") == "bin")
                                                                           & (pl.col("metric") == primary)),
                            bins, taus, source=source, hook=hook,
                            targets_per_layer=per_layer,
                            partners_per_bin=mp.partners_per_bin, rng=rng,
                            check_semantic=mp.selection == "pairwise")
        targets.append(tg)
        partners.append(pt)
        per_source.setdefault(source, {"saes": [], "vocab": t["vocab"], "sae": res.meta.get("sae", "zoo")})
        per_source[source]["saes"].append((t["feature_tokens"], t["links"]))
        high = t["links"].filter((pl.col("I") > 0.4) & (pl.col("S") < 0.2))
        vecs = {f: np.asarray(v, dtype=np.float32) for f, v in t["link_vectors"].iter_rows()}
        pairsets.append(PairSet(source, hook, high.select("feature", "partner", "I", "S"), vecs))
    token_rows, union_rows, skipped, coverage, origin = [], [], [], {}, {}
    external = read_token_sets(tp.sets) if tp.sets else None
    for source, info in sorted(per_source.items()):
        if external is not None:  # the study's external sets, for the sources as for the targets
            origin[source] = "external"
            token_rows.append(external_token_sets(source, external.sets, info["vocab"], tp.types))
            continue
        labels, coverage[source], origin[source] = _labels(info["sae"], source, tp, info["vocab"])
        if labels is None:
            skipped.append(source)
            ctx.log(f"token sets: no token-type labels for source '{source}' (set token_sets.labels.{source})")
            continue
        params, high = _token_params(tp, source)
        src = SourceTokens(source, info["saes"], info["vocab"], labels, high_threshold=high)
        token_rows.append(source_token_sets(src, params, np.random.default_rng(int(seeds.get(source, 0)))))
        if tp.union_high_threshold is not None:  # the union's members: built at the one shared threshold
            same = high == tp.union_high_threshold
            at_union = SourceTokens(source, info["saes"], info["vocab"], labels, high_threshold=tp.union_high_threshold)
            union_rows.append(token_rows[-1] if same else
                              source_token_sets(at_union, params, np.random.default_rng(int(seeds.get(source, 0)))))
    token_sets = pl.concat(token_rows) if token_rows else None
    if token_sets is not None:
        members = pl.concat(union_rows) if union_rows else token_sets
        token_sets = pl.concat([token_sets, combine_sources(members)])
        both = "external" if external is not None else "sources"
        cov = coverage_table(token_sets, coverage, {**origin, "union": both, "intersection": both}, tp.types)
        for r in cov.filter(pl.col("warning").is_not_null()).iter_rows(named=True):
            ctx.log(f"token sets: WARNING {r['source']}/{r['type']}: {r['warning']}")
    share = mp.share_similarity
    shared = [shared_pairs(a, b, share_similarity=share) for k, a in enumerate(pairsets) for b in pairsets[k + 1:]
              if a.source != b.source]
    tables = {"targets": pl.concat(targets), "partners": pl.concat(partners)}
    if token_sets is not None:
        tables["token_sets"] = token_sets
        tables["token_set_coverage"] = cov
    if shared:
        tables["shared"] = pl.concat(shared)
    meta = {"token_sets_skipped": skipped, "n_maps": len(maps), "bin_labels": bins.labels(),
            "token_sets_origin": {"origin": "external" if external is not None else "sources",
                                  "sets_fingerprint": tp.sets_fingerprint if external is not None else None,
                                  "duplicates_removed": external.removed if external is not None else {}},
            **({"coverage_warnings": [f"{r['source']}/{r['type']}: {r['warning']}" for r in
                                      cov.filter(pl.col("warning").is_not_null()).iter_rows(named=True)]}
               if token_sets is not None else {})}
    if explicit:
        meta["target_warnings"] = warnings
    return StepResult(tables=tables, meta=meta)


def _explicit_counts(counts: pl.DataFrame, listed: list[int], n_bins: int, taus: tuple[float, ...], where: str,
                     warnings: list[str]) -> tuple[pl.DataFrame, int]:
    """Restrict partner_counts to the listed features so `select_sae` takes every qualifying one (no sampling).

    With the pool limited to the listed features and `targets_per_layer` = their number, the seeded draw takes the
    whole pool. A listed feature that fails the every-bin rule at some τ is reported in `warnings`, never dropped
    silently.
    """
    import polars as pl


    wanted = sorted(set(listed))
    mine = counts.filter(pl.col("feature").is_in(wanted))
    for f in wanted:
        bad = [tau for tau in taus if f not in qualifying_targets(mine, tau, n_bins)]
        if bad:
            warnings.append(f"{where} feature {f}: no partner in every bin at tau {', '.join(f'{x:g}' for x in bad)}"
                            " (not used as a target there)")
    return mine, len(wanted)
