"""Type injection rescored at a smaller k from per-trial ranks equals running the prompt focus at that k directly."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
from iv_fixtures import FakeCtx
from polars.testing import assert_frame_equal

from interf_dsl.errors import ExecuteError
from interf_dsl.foci.prompt import PromptFocus
from interf_dsl.interventions.prompt_types import can_rescore, rescore_rows, type_ranks

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/: transfer_server (the tiny HTTP-test model)

K, K_SMALL = 12, 4


def test_rescore_hand_built_rows():
    df = pl.DataFrame({"count": [3, 1], "base_count": [1, 1], "success": [True, False], "top_k": [10, 10],
                       "ranks": [[0, 4, 9], [7]], "base_ranks": [[6], [7]]})
    out = rescore_rows(df, 5)
    assert out["count"].to_list() == [2, 0] and out["base_count"].to_list() == [0, 0]
    assert out["success"].to_list() == [True, False] and out["top_k"].to_list() == [5, 5]
    assert out["ranks"].to_list() == [[0, 4], []]
    assert_frame_equal(rescore_rows(df, 10), df, check_dtypes=False)  # at top_k nothing changes
    with pytest.raises(ExecuteError, match="1 ≤ k ≤ 10"):
        rescore_rows(df, 11)
    old = df.drop("ranks", "base_ranks", "top_k")  # a run from before the rank columns (report schema v2)
    assert "lack the column(s) ranks, base_ranks, top_k" in can_rescore(old)
    with pytest.raises(ExecuteError, match="cannot rescore"):
        rescore_rows(old, 5)


def test_type_ranks():
    assert type_ranks(np.array([[5, 2, 9], [1, 1, 3]]), [9, 1]) == [[2], [0, 1]]


def _type_units(top_k: int, matched_random: bool | None = None) -> pl.DataFrame:
    """The prompt focus's type-injection unit loop (`foci_neuron.type_units`) on the tiny model at `top_k`."""
    from transfer_server import tiny_model

    from interf_dsl.backends.hooked import HookedBackend
    from interf_dsl.interventions.loops_neuron import type_units

    model = tiny_model()
    tok = model.tokenizer
    words = sorted({tok.decode([i]) for i in range(len(tok))})
    words = [w for w in words if w.strip() and "\ufffd" not in w]
    # A broad "type" (every 3rd word) so the top-k holds several type tokens and k matters.
    levels = {"target": words[0::3], "random": words[1::3][:60], "high": words[2::3][:60],
              "random_matched": words[1::3][60:120]}
    ts = [{"source": "tiny", "type": "thing", "level": lv, "token_id": tok.encode(w, add_special_tokens=False)[0],
           "token_str": w} for lv, ws in levels.items() for w in ws]
    sents = [{"sentence_id": i, "kind": "type", "token_str": None, "type": "thing", "text": t, "split": "eval",
              "name": "thing"} for i, t in enumerate(["we went to", "the road leads to the", "she saw a"])]
    tables = {"token_sets": pl.DataFrame(ts), "sentences": pl.DataFrame(sents)}
    block = {"mode": "type_injection", "types": ["thing"], "tokens_per_trial": 4, "top_k": top_k, "trials": 8,
             "sentences": 3,
             "matched_random": matched_random}
    ctx = FakeCtx(params={"focus": "prompt", "source": "tiny", "block": block, "metrics": {}, "stats": {}},
                  tables=tables, sae_obj=None,
                  work_dir=Path("."))
    ctx.rng = lambda stream="": np.random.default_rng(7)  # FakeCtx's rng hashes str (varies per process)
    inp = SimpleNamespace(need=lambda name, step_id: tables[name])
    env = SimpleNamespace(ctx=ctx, inp=inp, block=PromptFocus(focus="prompt", **block), source="tiny",
                          backend=HookedBackend(model, name="tiny"))
    return type_units(env)


def test_matched_random_condition_only_when_asked():
    assert "random_matched" not in set(_type_units(K, matched_random=False)["condition"])
    assert "random_matched" in set(_type_units(K, matched_random=True)["condition"])


def test_rescored_equals_direct_run_at_smaller_k():
    from interf_dsl.foci import aggregate

    wide, direct = _type_units(K), _type_units(K_SMALL)
    assert wide.schema["ranks"] == pl.List(pl.Int32) and (wide["top_k"] == K).all()
    assert (wide["count"] == wide["ranks"].list.len()).all()
    assert (wide["count"] != direct["count"]).any(), "the case must have counts that differ between k and k'"
    rescored = rescore_rows(wide, K_SMALL)
    cols = ["sentence_id", "condition", "trial", "count", "base_count", "success", "top_k", "ranks", "base_ranks"]
    assert_frame_equal(rescored.select(cols), direct.select(cols))
    params = {"focus": "prompt", "source": "tiny", "block": {"mode": "type_injection"}, "metrics": {},
              "stats": {"mode": "both", "ci": 0.95, "bootstrap": 200}}
    eff_rescored, _, cases_rescored = aggregate(rescored, params)
    eff_direct, _, cases_direct = aggregate(direct, params)
    keys = ["type", "level", "mode", "estimator"]
    assert eff_direct.height >= 5
    assert_frame_equal(eff_rescored.sort(keys), eff_direct.sort(keys))
    assert_frame_equal(cases_rescored.sort([*keys, "case"]), cases_direct.sort([*keys, "case"]))
    # and the effects really moved with k (otherwise the comparison above proves little)
    eff_wide, _, _ = aggregate(wide, params)
    assert not eff_wide.sort(keys)["estimate"].equals(eff_direct.sort(keys)["estimate"])
