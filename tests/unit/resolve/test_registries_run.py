"""Every advertised name runs: each registry's names through the code that runs them, at tiny size.

Interference metrics run in tests/unit/atlas/test_runners.py and foci in tests/integration/test_interventions.py
(both parametrised over their registries). This file covers the rest: explainers, output metrics, token types. A
name added to a registry without a case here fails `test_every_name_has_a_case`.
"""

from __future__ import annotations

import contextlib
import gzip
import json

import numpy as np
import polars as pl
import pytest

from interf_dsl.atlas.explain import EXPLAINERS, explain_features
from interf_dsl.lang.sections import Explanations
from interf_dsl.metrics import METRICS, metric_of_effect
from interf_dsl.zoo.catalog import TOKEN_TYPES, read_token_types
from tests.chat_server import chat_server

FEATURES = pl.DataFrame({"feature": [0, 1], "active": [True, False], "top_tokens": [[" cat"], []],
                         "logit_tokens": [[" dog"], []]})
CONTEXTS = pl.DataFrame({"feature": [0], "rank": [0], "tokens": [["a", " cat"]], "acts": [[0.0, 2.0]]})


def _answer(body: dict) -> str:
    """"cats", or the sentence JSON when asked for sentences."""
    user = body["messages"][-1]["content"]
    if user.startswith("type="):
        return json.dumps({user.split("=", 1)[1]: ["We flew to", "We flew to", "They live in"]})
    return json.dumps({user.split("=", 1)[1]: ["I saw a", "She fed the"]}) if "target_token=" in user else "cats"


def _auto(tmp_path, stack) -> Explanations:
    return Explanations(kind="auto")


def _neuronpedia(tmp_path, stack) -> Explanations:
    for part, rec in (("features", {"index": 0}), ("explanations", {"index": 0, "description": "cats"}),
                      ("activations", {"index": 0, "activations": [{"tokens": ["a"], "values": [1.0]}]})):
        (tmp_path / part).mkdir()
        with gzip.open(tmp_path / part / "batch-0.jsonl.gz", "wt", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")
    return Explanations(kind="neuronpedia", path=str(tmp_path))


def _llm(tmp_path, stack) -> Explanations:
    chat = stack.enter_context(chat_server(_answer))
    return Explanations(kind="llm", model="openai/tiny", api_base=chat.api_base)


EXPLAINER_CASES = {"auto": _auto, "neuronpedia": _neuronpedia, "llm": _llm}

_P = np.array([[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]])
METRIC_INPUTS = {"probs": _P, "p": _P, "q": _P[::-1].copy(), "target_ids": [2], "embed": np.eye(3, dtype=np.float32),
                 "top_k": None, "count_injected": np.array([3, 1]), "count_original": np.array([1, 1])}


def test_every_name_has_a_case() -> None:
    assert set(EXPLAINERS.names()) == set(EXPLAINER_CASES)
    assert all(set(METRICS.entry(n).extra["inputs"]) <= set(METRIC_INPUTS) for n in METRICS.names())


@pytest.mark.parametrize("name", EXPLAINERS.names())
def test_every_explainer_runs(name, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("INTERF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with contextlib.ExitStack() as stack:
        (tmp_path / "data").mkdir()
        out = explain_features(FEATURES, CONTEXTS, EXPLAINER_CASES[name](tmp_path / "data", stack))
    assert out["explainer"].to_list() == [name] * out.height
    text = dict(zip(out["feature"].to_list(), out["explanation"].to_list(), strict=True))
    assert text[0].strip(), out


def test_llm_sentence_source_uses_its_endpoint_and_key(monkeypatch) -> None:
    """prompts.source llm: model, api_base and api_key_env all reach the request (litellm over HTTP)."""
    from interf_dsl.interventions.sentences import llm_sentences
    from interf_dsl.lang.sections import Prompts

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("SENTENCE_KEY", "sk-sentences")
    from interf_dsl.steps import Counters

    counters = Counters()
    with chat_server(_answer) as chat:
        got = llm_sentences(" cat", 2, Prompts(source="llm", model="openai/tiny", api_base=chat.api_base,
                                              api_key_env="SENTENCE_KEY"), counters)
    assert got == ["I saw a", "She fed the"] and chat.requests[-1]["authorization"] == "Bearer sk-sentences"
    assert counters.api_requests == 1 == len(chat.requests)  # the run's accounting counts the request


def test_litellm_embeddings_are_counted_as_api_requests(tmp_path, monkeypatch) -> None:
    """atlas.embedding kind litellm over HTTP: texts go in requests of EMBED_BATCH (providers cap the inputs per
    request), each counted in the step's counters; texts already in the store send none."""
    from interf_dsl.atlas.embed import embed_texts
    from interf_dsl.lang.sections import Embedding
    from interf_dsl.steps import Counters
    from tests.chat_server import hashed_embedding

    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from interf_dsl.atlas import embed

    monkeypatch.setenv("INTERF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(embed, "EMBED_BATCH", 2)  # requests of at most 2 texts
    counters = Counters()
    with chat_server(_answer, embed=hashed_embedding) as chat:
        settings = Embedding(kind="litellm", model="openai/emb", api_base=chat.api_base)
        vecs = embed_texts(["a cat", "a dog", "a cat", "a cow", "an ox"], settings, counters)
        embed_texts(["a dog"], settings, counters)  # stored: no request
    assert vecs.shape[0] == 5 and counters.api_requests == 2 == len(chat.requests)  # 4 distinct texts, 2 per request
    assert np.allclose(vecs[0], vecs[2]) and not np.allclose(vecs[0], vecs[1])


def test_llm_sentence_source_writes_type_sentences(tmp_path, monkeypatch) -> None:
    """prompts.source llm also asks for the Table-1 type sentences (docs/method.md §4.3): the prompts step builds
    `type` rows for every type of the token sets, repeats removed, through the same endpoint and key."""
    from types import SimpleNamespace

    from step_context import StubContext

    from interf_dsl.steps import StepResult, get_runner

    monkeypatch.setenv("SENTENCE_KEY", "sk-sentences")
    sets = pl.DataFrame({"source": ["a"] * 2, "type": ["location", "number"], "level": ["target"] * 2,
                         "token_id": [1, 2], "token_str": [" Paris", " two"]})
    with chat_server(_answer) as chat:
        params = {"prompts": {"source": "llm", "model": "openai/tiny", "api_base": chat.api_base,
                              "api_key_env": "SENTENCE_KEY", "per_token": 2, "per_type": 3},
                  "metrics": {"names": ["type_success"], "target_ratio": 0.8, "target_tokens": 5}}
        ctx = StubContext(params=params, work_dir=tmp_path, step=SimpleNamespace(inputs=("select",)),
                          inputs={"select": ("select", StepResult(tables={"token_sets": sets}))})
        res = get_runner("prompts")(ctx)
    rows = res.tables["sentences"].filter(pl.col("kind") == "type")
    assert sorted(set(rows["type"])) == ["location", "number"]
    assert rows.filter(pl.col("type") == "location")["text"].to_list() == ["We flew to", "They live in"]
    asked = [r["body"]["messages"][-1]["content"] for r in chat.requests]
    assert sorted(asked) == ["type=location", "type=number"]
    assert all(r["authorization"] == "Bearer sk-sentences" for r in chat.requests)


@pytest.mark.parametrize("name", METRICS.names())
def test_every_output_metric_computes_and_names_its_effects(name) -> None:
    entry = METRICS.entry(name)
    value = np.asarray(entry.obj(*(METRIC_INPUTS[i] for i in entry.extra["inputs"])), dtype=float)
    assert value.shape == (2,) and np.isfinite(value).all(), value
    prefix = entry.extra.get("effect_prefix")
    if prefix is not None:  # its effects rows are recognised as its own (metrics.names filters and BH families)
        assert metric_of_effect(f"{prefix}_rel") == name


@pytest.mark.parametrize("name", list(TOKEN_TYPES))
def test_every_token_type_labels_zoo_tokens(name) -> None:
    """A type_injection block on the zoo can build a TARGET set for every advertised type."""
    labels = read_token_types()
    assert sum(1 for t in labels.values() if t == name) >= 1
