"""Neuronpedia export import, and the llm explainer through litellm over HTTP to a loopback server."""

from __future__ import annotations

import gzip
import json
import os

import polars as pl
import pytest

from interf_dsl.atlas.neuronpedia import read_export
from interf_dsl.errors import BackendError
from tests.chat_server import chat_server

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def write_batch(folder, part, k, records):
    (folder / part).mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / part / f"batch-{k}.jsonl.gz", "wt", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")


def export(tmp_path):
    write_batch(tmp_path, "features", 0, [{"index": 0, "neuron_alignment_indices": [3, 1, 2],
                                          "neuron_alignment_values": [0.5, 0.3, 0.1]}])
    write_batch(tmp_path, "features", 1, [{"index": 1, "neuron_alignment_indices": [],
                                          "neuron_alignment_values": []}])
    write_batch(tmp_path, "activations", 0, [{"index": 0, "activations": [
        {"tokens": ["a", " cat"], "values": [0.0, 2.0], "maxValueTokenIndex": 1}]}])
    write_batch(tmp_path, "explanations", 0, [{"index": 0, "description": "cats", "embedding": [1.0, 0.0]},
                                              {"index": 0, "description": "felines", "embedding": [0.0, 1.0]}])
    return tmp_path


def test_read_export(tmp_path):
    out = read_export(export(tmp_path), n_features=4)
    assert out["features"]["neuron_idx"].to_list() == [[3, 1, 2], []]
    assert out["contexts"].row(0) == (0, 0, ["a", " cat"], [0.0, 2.0], 1, 2.0)
    # several explanations: first text, averaged embedding (authors' implementation)
    assert out["explanations"].row(0) == (0, "cats", [0.5, 0.5])
    with pytest.raises(BackendError, match="do not exist"):
        read_export(tmp_path, n_features=1)
    (tmp_path / "features" / "batch-0.jsonl.gz").unlink()
    with pytest.raises(BackendError, match=r"missing batches \[0\]"):
        read_export(tmp_path)


def test_llm_explainer_over_http(tmp_path, monkeypatch):
    from interf_dsl.atlas.explain import explain_features
    from interf_dsl.lang.sections import Explanations
    from interf_dsl.steps import Counters

    monkeypatch.setenv("INTERF_CACHE_DIR", str(tmp_path / "cache"))
    with chat_server(lambda body: "animals such as cats") as chat:
        feats = pl.DataFrame({"feature": [0, 1], "active": [True, False]})
        ctx = pl.DataFrame({"feature": [0], "rank": [0], "tokens": [["a", " cat"]], "acts": [[0.0, 2.0]]})
        settings = Explanations(kind="llm", model="openai/tiny", api_base=chat.api_base,
                                api_key_env="TINY_KEY")
        monkeypatch.setenv("TINY_KEY", "sk-test")
        counters = Counters()
        out = explain_features(feats, ctx, settings, counters)
        assert out.rows() == [(0, "animals such as cats", "llm")]
        assert counters.api_requests == 1
        user = chat.requests[-1]["body"]["messages"][1]["content"]
        assert user == "1. a« cat»"
        explain_features(feats, ctx, settings, counters)  # cached: no second request
        assert len(chat.requests) == 1 and counters.api_requests == 1


def test_auto_explainer_is_content_only_words():
    """Words of the top tokens, then of the logit-lens tokens, deduplicated; no template shared by every feature."""
    from interf_dsl.atlas.explain import explain_auto
    from interf_dsl.lang.sections import Explanations

    features = pl.DataFrame({
        "feature": [0, 1, 2, 3],
        "top_tokens": [[" Paris", " London", ",", " paris", "ation"], [" (", ")"], [], [" 42", " dog"]],
        "logit_tokens": [[" France", " London", "\n"], [" ;", ""], [], [" Dog", " cat's", "_x"]],
    })
    out = explain_auto(features, pl.DataFrame(), Explanations())
    assert out == {0: "Paris London ation France", 1: "( ) ;", 2: "nothing on the corpus", 3: "dog cat's"}
