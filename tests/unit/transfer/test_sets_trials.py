"""External sets (located errors), the trial builder (identical prompts to the prompt focus), type lookup, prices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from interf_dsl.errors import SpecError, render_error
from interf_dsl.interventions.prompt_types import build_injection_prompt
from interf_dsl.prices import estimate_transfer, price_per_token
from interf_dsl.transfer.sets import load_prompt_sets, load_token_sets
from interf_dsl.transfer.targets import TargetSpec, check_target_ready, protocol_k, source_recompute_k
from interf_dsl.transfer.trials import TypeLookup, build_sentence_trials, sample_prompt_sentences, score

SETS = {"types": {"location": {"target": [" Paris", " Rome"], "high": [" a", " b", " c"], "medium": [" d"],
                               "random": [" e", " f"]}}}


def test_token_sets_roundtrip(tmp_path):
    p = tmp_path / "sets.json"
    p.write_text(json.dumps(SETS))
    assert load_token_sets(p)["location"]["high"] == [" a", " b", " c"]
    p.write_text(json.dumps(SETS["types"]))  # the `types` wrapper is optional
    assert load_token_sets(p)["location"]["target"] == [" Paris", " Rome"]


def test_token_sets_errors_are_located(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"location": {\n  "target": [" Paris"],\n  "hihg": [" a"], "medium": [], "random": []}}')
    with pytest.raises(SpecError) as e:
        load_token_sets(p)
    item = e.value.items[0]
    assert (item.span.line, item.span.col) == (3, 3)
    assert "did you mean 'high'" in render_error(e.value)
    p.write_text('{"location": {"target": [" Paris",]}}')
    with pytest.raises(SpecError) as e:
        load_token_sets(p)
    assert e.value.items[0].span.line == 1 and "invalid JSON" in str(e.value)
    p.write_text('{"location": {"target": [" P"], "high": [1], "medium": [" m"], "random": [" r"]}}')
    with pytest.raises(SpecError, match="non-string"):
        load_token_sets(p)


def test_prompt_sets_text_and_json(tmp_path):
    t = tmp_path / "p.txt"
    t.write_text("# comment\n[location]\nThe treasure is buried in\n\n[number]\nThe recipe calls for exactly\n")
    assert load_prompt_sets(t) == {"location": ["The treasure is buried in"],
                                   "number": ["The recipe calls for exactly"]}
    t.write_text("orphan sentence\n[location]\nx\n")
    with pytest.raises(SpecError) as e:
        load_prompt_sets(t)
    assert e.value.items[0].span.line == 1
    j = tmp_path / "p.json"
    j.write_text(json.dumps({"location": ["a", "b"]}))
    assert load_prompt_sets(j) == {"location": ["a", "b"]}


def _rng_for(stream):
    return np.random.default_rng(abs(hash(stream)) % 2**32)


def test_trials_match_prompt_focus_and_sample_without_replacement():
    sets = {"target": [f"t{i}" for i in range(10)], "random": [f"r{i}" for i in range(10)]}
    trials = build_sentence_trials("location", 7, "we went to", sets, trials=3, tokens_per_trial=4,
                                   fmt="({tokens}){sentence}", rng_for=lambda s: np.random.default_rng(1))
    assert [t.condition for t in trials] == ["target"] * 3 + ["random"] * 3
    first = trials[0].prompt
    inner = first[1:first.index(")")]
    toks = [f"t{x}" for x in inner.split("t")[1:]]
    assert len(set(toks)) == 4  # without replacement
    assert first == build_injection_prompt(toks, "we went to")
    assert first.startswith("(") and first.endswith(")we went to")


def test_type_lookup_exact_then_loose():
    lk = TypeLookup({"location": [" Paris", " Rome"], "number": [" one"]})
    assert lk.count([" Paris", "Paris", " paris ", " one", " cat"], "location") == 3
    assert score([" Paris", " Rome", " one"], "location", lk, k=1) == 1
    assert score([" Paris", " Rome"], "location", lk, k=None) == 2


def test_sentence_sampling_is_seeded():
    s = [(i, f"s{i}") for i in range(10)]
    assert sample_prompt_sentences(s, 20) == s
    a, b = sample_prompt_sentences(s, 4), sample_prompt_sentences(s, 4)
    assert a == b and len(a) == 4


def test_protocol_k_and_recompute():
    assert protocol_k(30, 20) == 20 and protocol_k(10, 20) == 10
    metas = [{"protocol": {"estimator": "logprobs", "k": 20}}, {"protocol": {"estimator": "sampling", "k": None}}]
    assert source_recompute_k(metas, 30) == 20
    assert source_recompute_k(metas, 20) is None


def test_check_target_ready_lists_missing(monkeypatch):
    monkeypatch.delenv("INTERF_TEST_MISSING_KEY", raising=False)
    t = TargetSpec.from_params({"name": "g", "model": "together_ai/x", "api_key_env": "INTERF_TEST_MISSING_KEY",
                                "api_base": "http://127.0.0.1:9/v1"})
    problems = check_target_ready(t)
    assert any("INTERF_TEST_MISSING_KEY" in p for p in problems)
    assert any("unreachable" in p for p in problems)
    with pytest.raises(SpecError, match="unknown transfer target setting"):
        TargetSpec.from_params({"name": "g", "model": "m", "topk": 3})


def test_estimate_transfer_uses_local_cost_map():
    assert price_per_token("openai/gpt-4o-mini") is not None
    size = {"trials": 10, "n_types": 2, "n_sentences": 5}
    req, tok, cost = estimate_transfer("gpt-4o-mini", **size)
    assert req == 2 * 5 * (4 * 10 + 1) + 3
    assert tok > req and cost is not None and cost > 0
    assert estimate_transfer("openai/x", trials=1, n_types=1, n_sentences=1, served=True)[2] == 0.0
    # prompt arrays: a unit's 41 prompts in ceil(41 / 8) = 6 requests; same tokens and cost
    breq, btok, bcost = estimate_transfer("gpt-4o-mini", **size, batch=8)
    assert breq == 2 * 5 * 6 + 3 and (btok, bcost) == (tok, cost)
    # chat mode and sampling targets cannot batch; sampling answers `samples` tokens per prompt
    assert estimate_transfer("gpt-4o-mini", **size, batch=8, raw=False)[0] == req
    sreq, stok, _ = estimate_transfer("gpt-4o-mini", **size, batch=8, sampling_samples=20)
    prompts = 2 * 5 * (4 * 10 + 1) + 3
    assert sreq == req and (tok, stok) == (prompts * (60 + 1), prompts * (60 + 20))


def test_select_token_sets_follow_share_and_matched_random():
    """transfer.share picks the union or intersection rows; random_matched is a condition only when asked."""
    from types import SimpleNamespace

    import polars as pl

    from interf_dsl.transfer.inputs import token_sets

    rows = [{"source": src, "type": "location", "level": lv, "token_id": i, "token_str": f"{src[0]}{lv}{i}"}
            for src in ("union", "intersection", "gpt2")
            for lv in ("target", "high", "medium", "random", "random_matched") for i in range(2)]
    select = SimpleNamespace(tables={"token_sets": pl.DataFrame(rows)})
    ctx = SimpleNamespace(inputs_of_kind=lambda kind: iter([("select", select)] if kind == "select" else []))
    from interf_dsl.lang.sections import TransferSettings

    plain = token_sets(ctx, TransferSettings(types=["location"], share="union", matched_random=False))["location"]
    assert set(plain) == {"target", "high", "medium", "random"} and plain["target"][0].startswith("u")
    both = token_sets(ctx, TransferSettings(types=["location"], share="intersection", matched_random=True))["location"]
    assert "random_matched" in both and all(v[0].startswith("i") for v in both.values())
