"""Numerical parity gate: a `save_pretrained` directory loaded through interf's path (transformer_lens' conversion)
gives the Hugging Face model's logits within 1e-4 (fp32), and the activation at an SAE hook equals a plain forward
hook on the matching transformers module. Small random configs of each architecture (tests/hf_cache.py)."""

from __future__ import annotations

import pytest

from tests.hf_cache import small_config, write_checkpoint

torch = pytest.importorskip("torch")

ARCHS = ["gpt2", "gpt_neox", "llama", "gemma", "gemma2"]
TOL = 1e-4


def _layers(hf_model):
    base = getattr(hf_model, "transformer", None) or getattr(hf_model, "gpt_neox", None) or hf_model.model
    return base.h if hasattr(base, "h") else base.layers


@pytest.fixture(scope="module", params=ARCHS)
def pair(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    hf_model = write_checkpoint(folder, small_config(request.param), seed=3)
    return request.param, folder, hf_model


@pytest.mark.parametrize("processed", [False, True], ids=["no_processing", "default_processing"])
def test_logits_match_transformers(pair, processed):
    from interf_dsl.backends.checkpoints import DEFAULT_PROCESSING, PROCESSING_KEYS
    from interf_dsl.backends.loading import load_model

    arch, folder, hf_model = pair
    proc = DEFAULT_PROCESSING if processed else dict.fromkeys(PROCESSING_KEYS, False)
    from interf_dsl.backends.checkpoints import with_processing

    model = load_model(with_processing(str(folder), proc))
    tokens = torch.tensor([[1, 17, 300, 42, 9, 4000, 5, 77, 12, 3, 600, 2]])
    with torch.no_grad():
        ours = model(tokens)
        theirs = hf_model(tokens).logits
    if processed and model.interf_processing["center_unembed"]:
        theirs = theirs - theirs.mean(-1, keepdim=True)  # centring the unembedding shifts every logit equally
        ours = ours - ours.mean(-1, keepdim=True)
    diff = (ours - theirs).abs().max().item()
    print(f"parity {arch} processed={processed}: max abs diff {diff:.2e}")
    assert diff <= TOL, f"{arch}: logits differ by {diff}"


def test_resid_post_hook_matches_forward_hook(pair):
    """blocks.L.hook_resid_post (what an SAE at resid_post reads) equals the output of the transformers layer L."""
    from interf_dsl.backends.checkpoints import PROCESSING_KEYS, with_processing
    from interf_dsl.backends.loading import load_model

    arch, folder, hf_model = pair
    model = load_model(with_processing(str(folder), dict.fromkeys(PROCESSING_KEYS, False)))
    tokens = torch.tensor([[1, 17, 300, 42, 9, 4000, 5, 77]])
    seen = {}
    handle = _layers(hf_model)[0].register_forward_hook(
        lambda _m, _i, out: seen.__setitem__("h", out[0] if isinstance(out, tuple) else out))
    try:
        with torch.no_grad():
            hf_model(tokens)
            _, cache = model.run_with_cache(tokens, names_filter="blocks.0.hook_resid_post")
    finally:
        handle.remove()
    diff = (cache["blocks.0.hook_resid_post"] - seen["h"]).abs().max().item()
    assert diff <= TOL, f"{arch}: resid_post differs by {diff}"
