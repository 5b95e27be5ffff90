"""Unit tier: hub references fail fast offline, before torch, transformer_lens or sae_lens is imported."""

from __future__ import annotations

import time

import pytest

from interf_dsl.backends import loading
from interf_dsl.errors import BackendError, ResolveError


def test_hub_model_offline_fails_fast_with_a_fix(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(BackendError) as info:
        loading.load_model("gpt2-small")
    assert time.perf_counter() - t0 < 3.0
    item = info.value.items[0]
    assert "'gpt2'" in item.message and "HF_HUB_OFFLINE" in item.message
    assert "local directory" in item.hint


def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(loading, "_hub_reachable", lambda timeout=2.0: False)
    with pytest.raises(BackendError, match="cannot be reached"):
        loading.load_model("pythia-70m-deduped")


def test_cached_repo_passes_the_check(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / "models--EleutherAI--pythia-70m-deduped" / "snapshots" / "abc").mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    loading._require_hub("model", "EleutherAI/pythia-70m-deduped")


def test_model_directory_missing_files(tmp_path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BackendError, match=r"lacks \*\.safetensors, tokenizer\.json"):
        loading.load_model(str(tmp_path))


def test_unknown_zoo_model_is_a_resolve_error() -> None:
    with pytest.raises(ResolveError):
        loading.load_model("zoo:gpt3-tiny")


@pytest.mark.parametrize(("ref", "pair"), [("release=gpt2-small-res-jb,id=blocks.8.hook_resid_pre",
                                            ("gpt2-small-res-jb", "blocks.8.hook_resid_pre")),
                                           (("r", "i"), ("r", "i")), ("zoo:gpt2-tiny/L1.resid_post", None)])
def test_parse_sae_release(ref, pair) -> None:
    assert loading.parse_sae_release(ref) == pair


def test_malformed_release() -> None:
    with pytest.raises(BackendError, match="malformed"):
        loading.parse_sae_release("release=x")


def test_sae_release_offline_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match="not in the local cache"):
        loading.load_sae("release=gpt2-small-res-jb,id=blocks.8.hook_resid_pre")
    assert time.perf_counter() - t0 < 3.0
    with pytest.raises(BackendError, match="unknown sae_lens release"):
        loading.load_sae(("gpt2-small-res-jbb", "blocks.8.hook_resid_pre"))
