"""The embedding store: identical texts embedded once, one parquet shard per batch of new texts, reruns embed nothing."""

from __future__ import annotations

import numpy as np
import pytest

from interf_dsl.atlas import embed
from interf_dsl.lang.sections import Embedding


@pytest.fixture
def fake_backend(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERF_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[list[str]] = []

    def backend(texts, model, settings, counters=None):
        calls.append(list(texts))
        return np.asarray([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)

    monkeypatch.setitem(embed.BACKENDS, "litellm", backend)
    return calls, tmp_path / "cache"


def test_dedupe_and_store(fake_backend):
    calls, cache = fake_backend
    out = embed.embed_texts(["ab", "abc", "ab"], Embedding(kind="litellm", model="m"))
    assert len(calls) == 1 and sorted(calls[0]) == ["ab", "abc"]  # duplicates embedded once
    expect = np.asarray([[2, 1, 0], [3, 1, 0], [2, 1, 0]], dtype=np.float32)
    assert np.allclose(out, expect / np.linalg.norm(expect, axis=1, keepdims=True))
    assert len(list(cache.rglob("*.parquet"))) == 1
    again = embed.embed_texts(["abc", "ab", "abcd"], Embedding(kind="litellm", model="m"))
    assert calls[1:] == [["abcd"]]  # only the new text
    assert np.allclose(again[:2], out[[1, 0]])
    assert len(list(cache.rglob("*.parquet"))) == 2
    embed.embed_texts(["abcd", "ab"], Embedding(kind="litellm", model="m"))
    assert len(calls) == 2
    embed.embed_texts(["ab"], Embedding(kind="litellm", model="other"))  # another model: its own store
    assert calls[2:] == [["ab"]]


def test_empty(fake_backend):
    calls, _ = fake_backend
    assert embed.embed_texts([], Embedding(kind="litellm")).shape[0] == 0 and not calls
