"""Interventions kind: unit loops of the neuron focus (per hook) and of type injection (per type).

Input: the `_Env` of `foci.py`. Output: `interventions` rows. Neuron rows: condition `neuron` or
`random_coordinate` (variance-matched, §8.15), level = degree bin, coordinate = the scaled coordinate (activation
coordinate at the SAE hook, or MLP hidden unit at `blocks.L.mlp.hook_post` for `variant: mlp_hidden`), alpha =
the scale. Type-injection rows: one per trial (count, base_count, success, top_k, and the type's top-k ranks `ranks` /
`base_ranks` for rescoring at a smaller k).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from interf_dsl.backends.base import layer_of_hook
from interf_dsl.errors import SpecError
from interf_dsl.interventions._common import layer_type, run_units, sentences_for_tokens, share_sources
from interf_dsl.interventions._common import run_units as _ru
from interf_dsl.interventions.loops import frame
from interf_dsl.interventions.neuron import (
    matched_coordinate,
    mlp_hidden_degrees,
    parse_degree_bins,
    sample_neurons,
)
from interf_dsl.interventions.prompt_types import LEVELS, RANK_COLUMNS, type_injection_rows
from interf_dsl.interventions.sweep import Candidate, Probe, sweep_sentences
from interf_dsl.metrics import nearest_target_cosine

if TYPE_CHECKING:
    import polars as pl


def _nearest_tokens(W_E: np.ndarray, token: int, k: int) -> list[int]:
    unit = W_E / np.maximum(np.linalg.norm(W_E, axis=1, keepdims=True), 1e-12)
    return [int(i) for i in np.argsort(-(unit @ unit[token]))[:k]]


def _measurable(env: Any, feats: pl.DataFrame) -> Callable[[int], bool]:
    """Features whose top token has vocabulary sentences (the only ones a neuron edit can be scored on)."""
    import polars as pl

    sents = env.inp.need("sentences", env.ctx.step.id)
    have = set(sents.filter(pl.col("kind") == "vocab")["token_str"].to_list())
    ok = {int(f) for f, toks in feats.select("feature", "top_tokens").iter_rows() if toks and toks[0] in have}
    return ok.__contains__


def _neurons_for_hook(env: Any, hook: str) -> tuple[str, list[dict]]:
    import polars as pl


    rng = env.ctx.rng(f"neuron|{hook}")
    feats = env.hook_features(hook)
    clusters = env.inp.clusters
    if clusters is not None:
        clusters = clusters.filter((pl.col("source") == env.source) & (pl.col("hook") == hook))
    if env.block.variant == "coordinate":
        neurons = env.inp.need("neurons", env.ctx.step.id).filter((pl.col("source") == env.source)
                                                                   & (pl.col("hook") == hook))
        return env.sae(hook)[0], sample_neurons(neurons, feats, clusters, env.block, rng,
                                                usable=_measurable(env, feats))
    layer = layer_of_hook(hook)
    mlp_hook = f"blocks.{layer}.mlp.hook_post"
    env.backend.check_hook(mlp_hook)
    W_out = env.backend.model.blocks[layer].mlp.W_out.detach().float().cpu().numpy()
    cutoff = float(env.block.cluster_cutoff)
    cmap = {} if clusters is None else dict(zip(*clusters.filter((pl.col("cutoff") - cutoff).abs() < 1e-9)
                                                .select("feature", "cluster").to_dict().values(), strict=True))
    active = feats.filter(pl.col("active"))["feature"].to_list() if "active" in feats.columns else feats["feature"]
    degrees, links = mlp_hidden_degrees(W_out, env.sae(hook)[1], cmap, list(active),
                                        float(env.block.link_threshold))
    out = []
    for label, lo, hi in parse_degree_bins(env.block.degree_bins):
        cands = sorted(n for n, d in degrees.items() if lo <= d <= hi)
        if cands:
            n = int(rng.choice(cands))
            fs = links[n]
            pick = [fs[int(i)] for i in rng.choice(len(fs), size=min(len(fs), 3), replace=False)]
            out.append({"neuron": n, "degree": degrees[n], "bin": label, "super": degrees[n] > 500,
                        "features": pick})
    return mlp_hook, out


def neuron_units(env: Any) -> pl.DataFrame:
    """Scale sampled neurons (and matched random coordinates) on their features' vocabulary sentences."""
    import polars as pl


    hooks = sorted(set(env.block.hooks or env.inp.need("features", env.ctx.step.id)
                       .filter(pl.col("source") == env.source)["hook"].unique().to_list()))
    scales = [float(a) for a in env.block.scales]
    top = int(env.block.top_k)

    def compute(hook: str) -> pl.DataFrame:
        edit_hook, sampled = _neurons_for_hook(env, hook)
        rng = env.ctx.rng(f"neuron-control|{hook}")
        frames = []
        for nrow in sampled:
            for f in nrow["features"]:
                row = env.feature_row(hook, f)
                if not row.get("top_tokens"):
                    continue
                tok_str, tok_id = row["top_tokens"][0], int(row["top_token_ids"][0])
                ids = _nearest_tokens(env.W_E, tok_id, int(env.metrics.target_tokens))  # |T_f|, as elsewhere

                probe = Probe(ids, nearest_target_cosine(env.W_E, ids))
                sents = sentences_for_tokens(env.inp.need("sentences", env.ctx.step.id), [tok_str])
                if not sents:
                    continue
                seqs = [env.backend.tokenize(s["text"]) for s in sents]
                cands = [Candidate("neuron", 0, coordinate=nrow["neuron"], bin=nrow["bin"], partner=f)]
                if env.block.random_control:
                    var = env.backend.activations(seqs, edit_hook).var(axis=0)
                    cands.append(Candidate("random_coordinate", 0, coordinate=matched_coordinate(
                        var, nrow["neuron"], rng), bin=nrow["bin"], partner=f))
                cfg = type(env.cfg)(top_k=top, epsilon=env.cfg.epsilon)
                rows = []
                swept = sweep_sentences(env.backend, seqs, edit_hook, cands, scales, probe, cfg, kind="scale",
                                        memory_budget_mb=env.memory_budget_mb)
                for s, got in zip(sents, swept, strict=True):
                    for r in got:
                        r.update(sentence_id=s["sentence_id"], split=s["split"], token_str=tok_str,
                                 degree=nrow["degree"], super=nrow["super"], neuron=nrow["neuron"])
                        rows.append(r)
                frames.append(frame(rows, {"source": env.source, "hook": edit_hook, "sae_hook": hook,
                                            "layer_type": layer_type(hook), "focus": "neuron", "tau": None,
                                            "target": f}))
        frames = [f for f in frames if f.height]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()

    out = None

    out = _ru(env.ctx, "neuron_hooks", hooks, compute, f"neuron focus, {env.source}")
    # Levels are the degree bins for both conditions.
    return out.with_columns(pl.col("bin").alias("level")) if out is not None else pl.DataFrame()


def type_units(env: Any) -> pl.DataFrame:
    """Table 1 trials of every type on this source (token sets of this source, or their union/intersection)."""
    import polars as pl


    ts = env.inp.need("token_sets", env.ctx.step.id)
    types = list(env.block.types)
    sents_all = env.inp.need("sentences", env.ctx.step.id)

    # `share` names the token sets injected, each reported apart: `own` (this source's sets) or `union` /
    # `intersection` (select's rows combined across sources, built at one HIGH threshold, docs/method.md §6.2, §8.9).
    # Type tokens are always scored by this source's own ids (the combined rows carry strings only). With one source,
    # the combined sets are its own: `own` is run once and stands for them.
    set_source = share_sources(env.block, env.source, set(ts["source"].unique().to_list()) - {"union", "intersection"})
    shares = list(set_source)

    def compute(unit: str) -> pl.DataFrame:
        share, typ = unit.split("|")
        set_src = set_source[share]
        own = ts.filter((pl.col("type") == typ) & (pl.col("source") == env.source))
        sub = ts.filter((pl.col("type") == typ) & (pl.col("source") == set_src))
        if own.height == 0 or sub.height == 0:
            raise SpecError(f"no token sets of type '{typ}' for source '{set_src}'", name=typ,
                            choices=tuple(ts["type"].unique().to_list()))
        # random_matched is a condition only where the block asks for it (preset: paper no, rigorous yes)
        levels = [lv for lv in LEVELS if lv != "random_matched" or env.block.matched_random]
        sets = {lv: sub.filter(pl.col("level") == lv)["token_str"].unique(maintain_order=True).sort().to_list()
                for lv in levels}
        sets = {k: v for k, v in sets.items() if v}
        type_ids = own.filter(pl.col("level") == "target")["token_id"].drop_nulls().unique().sort().to_list()
        sents = sentences_for_tokens(sents_all.rename({"type": "_t"}).with_columns(pl.col("_t").alias("token_str")),
                                     [typ], kind="type")[: int(env.block.sentences)]
        rows = type_injection_rows(env.backend, sets, type_ids, sents, env.block, env.ctx.rng(f"types|{share}|{typ}"))
        if not rows:
            return pl.DataFrame()
        df = pl.DataFrame([dict(r, source=env.source, focus="prompt", type=typ, level=r["condition"],
                                token_sets=set_src) for r in rows])
        # Typed even when every list is empty (List(Null) otherwise), so units concatenate and rescore alike.
        return df.with_columns([pl.col(c).cast(pl.List(pl.Int32)) for c in RANK_COLUMNS])

    units = [f"{share}|{typ}" for share in shares for typ in types]
    out = run_units(env.ctx, "type_injection", units, compute, f"type injection, {env.source}")
    return out if out is not None else pl.DataFrame()
