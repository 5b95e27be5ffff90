"""The sources' baselines rescored at a capped target's k (docs/method.md §8.10), end to end over HTTP through litellm.

The source's type-injection trials are run on the tiny model at k=10; the target (the same tiny model served with
`max_logprobs=5`) answers at k=5. The grid's source rows and the transfer ratio must then hold the sources' effects
recomputed at k=5, equal to running the prompt focus at top_k=5 directly.
"""

from __future__ import annotations

import polars as pl
import pytest
from helpers import make_ctx, source_interventions
from transfer_server import served

from interf_dsl.foci import aggregate
from interf_dsl.steps import StepResult, get_runner
from interf_dsl.transfer.faults import FaultConfig

STATS = {"mode": "both", "bootstrap": 200, "ci": 0.95}
PARAMS = {"focus": "prompt", "source": "tiny", "block": {"mode": "type_injection"}, "metrics": {}, "stats": STATS}
SRC_K, CAP = 10, 5


@pytest.fixture(scope="module")
def sources():
    wide, direct = source_interventions(SRC_K), source_interventions(CAP)
    assert (wide["count"] != direct["count"]).any(), "the case must have counts that differ between k=10 and k=5"
    return wide, direct


def _ctx(path, base, interventions, **kw):
    ctx = make_ctx(path, {"name": "tiny", "model": "openai/tiny", "api_base": base, "top_k": SRC_K,
                          "concurrency": 8, "backoff_s": 0.01, "timeout_s": 5, **kw}, trials=2, sentences=2,
                   stats=STATS)
    effects, _, _ = aggregate(interventions, PARAMS)
    ctx.inputs["intervene:prompt:gpt2"] = ("intervene", StepResult(tables={"effects": effects,
                                                                           "interventions": interventions}))
    return ctx


def _paper_rates(effects):
    rows = effects.filter(pl.col("estimator") == "rate_welch_vs_random")
    return {(r["type"], r["level"]): r["estimate"] for r in rows.to_dicts()}


def test_capped_target_rescoring_sources_at_its_k(tmp_path, sources):
    wide, direct = sources
    with served(threads=1, max_logprobs=CAP) as base:
        res = get_runner("transfer")(_ctx(tmp_path, base, wide))
    meta = res.meta
    assert meta["protocol"]["k"] == CAP and meta["protocol"]["k_offered"] == CAP
    assert meta["source_top_k"] == SRC_K and meta["sources_recompute_k"] == CAP
    assert meta["sources_rescored_k"] == CAP and meta["sources_k"] == CAP and meta["sources_comparable"] is True
    assert "rescored at k=5" in meta["sources_rescore"]
    grid = res.tables["transfer_grid"]
    src = grid.filter(pl.col("role") == "source")
    assert src.height == 8 and set(src["k"]) == {CAP} and set(grid.filter(pl.col("role") == "target")["k"]) == {CAP}
    want, before = _paper_rates(aggregate(direct, PARAMS)[0]), _paper_rates(aggregate(wide, PARAMS)[0])
    got = {(r["type"], r["condition"]): r["success_rate"] for r in src.to_dicts()}
    assert got == pytest.approx(want)
    assert got != pytest.approx(before)  # the rescoring changed what the grid shows
    direct_diff = aggregate(direct, PARAMS)[0].filter(pl.col("estimator") == "diff_vs_random")
    ratio = res.tables["transfer_ratio"]
    assert ratio.height and set(ratio["source_k"]) == {CAP} and set(ratio["k"]) == {CAP}
    for r in ratio.to_dicts():
        d = direct_diff.filter((pl.col("type") == r["type"]) & (pl.col("level") == r["condition"]))["estimate"][0]
        assert r["source_effect"] == pytest.approx(d)


def test_without_rank_columns_the_sources_stay_at_their_k_and_say_so(tmp_path, sources):
    wide, _ = sources
    old = wide.drop("ranks", "base_ranks")  # a v2 run, written before the per-trial ranks
    with served(threads=1, max_logprobs=CAP) as base:
        res = get_runner("transfer")(_ctx(tmp_path, base, old))
    meta = res.meta
    assert meta["sources_recompute_k"] == CAP and meta["sources_rescored_k"] is None
    assert meta["sources_k"] == SRC_K and meta["sources_comparable"] is False
    assert "lack the column(s) ranks, base_ranks" in meta["sources_rescore"]
    assert set(res.tables["transfer_grid"].filter(pl.col("role") == "source")["k"]) == {SRC_K}


def test_sampling_target_keeps_the_sources_at_their_k(tmp_path, sources):
    wide, _ = sources
    with served(threads=1, faults=FaultConfig({"no_logprobs": 1.0})) as base:
        res = get_runner("transfer")(_ctx(tmp_path, base, wide, max_retries=0, samples=3))
    meta = res.meta
    assert meta["protocol"]["estimator"] == "sampling" and meta["sources_rescored_k"] is None
    assert meta["sources_k"] == SRC_K and "no k to match" in meta["sources_rescore"]
    assert set(res.tables["transfer_grid"].filter(pl.col("role") == "source")["k"]) == {SRC_K}


def test_grid_row_labels_carry_k():
    from interf_dsl.transfer.figures import row_label

    assert row_label({"role": "source", "model": "gpt2", "k": 5}) == "gpt2 (source, k=5)"
    assert row_label({"role": "source", "model": "gpt2", "k": None}) == "gpt2 (source)"


def test_sources_that_ran_several_token_sets_are_compared_on_the_targets(tmp_path, sources):
    """A prompt block with `share: [own, union]` reports each set apart; the target got the union, so the grid and
    the ratio take the sources' union rows, and the sources count as comparable."""
    wide, _ = sources
    own = wide.with_columns(pl.lit("tiny-src").alias("token_sets"), pl.lit(False).alias("success"),
                            (pl.col("count") * 0).alias("count"))
    both = pl.concat([wide, own])
    effects = aggregate(both, PARAMS)[0]
    assert set(effects["token_sets"].drop_nulls()) == {"union", "tiny-src"}
    with served(threads=1) as base:
        res = get_runner("transfer")(_ctx(tmp_path, base, both))
    assert res.meta["sources_sets"]["same_as_sources"] is True and res.meta["sources_comparable"] is True
    src = res.tables["transfer_grid"].filter(pl.col("role") == "source")
    assert src.height == 8
    got = {(r["type"], r["condition"]): r["success_rate"] for r in src.to_dicts()}
    assert got == pytest.approx(_paper_rates(aggregate(wide, PARAMS)[0]))
