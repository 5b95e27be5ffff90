"""The hooked backend on a tiny random HookedTransformer: fast == naive, known answers, verified hooks."""

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interf_dsl.errors import BackendError  # noqa: E402


@pytest.fixture(scope="module")
def backend():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from interf_dsl.backends.hooked import HookedBackend

    cfg = HookedTransformerConfig(n_layers=3, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=40, n_ctx=32,
                                  act_fn="gelu", normalization_type="LN", seed=1)
    return HookedBackend(HookedTransformer(cfg), name="tiny")


@pytest.mark.parametrize("hook", ["hook_embed", "blocks.0.hook_resid_pre", "blocks.1.hook_attn_out",
                                  "blocks.1.hook_mlp_out", "blocks.2.hook_resid_post", "blocks.1.mlp.hook_post"])
def test_fast_equals_naive(backend, hook):
    rng = np.random.default_rng(0)
    d = backend.hook_dim(hook)
    add = rng.normal(size=(5, d)).astype(np.float32)
    mult = rng.normal(size=(5, d)).astype(np.float32)
    seq = [3, 9, 4, 7, 1]
    fast = backend.edited_logits(seq, hook, mult, add)
    naive = backend.edited_logits(seq, hook, mult, add, naive=True)
    assert np.abs(fast - naive).max() < 1e-5


def test_last_layer_steering_known_answer(backend):
    """Adding α·d to the final resid_post gives unembed(ln_final(resid + α·d)) at the last position."""
    import torch

    m = backend.model
    seq = [5, 6, 7]
    d = np.zeros(16, np.float32)
    d[3] = 1.0
    got = backend.edited_logits(seq, "blocks.2.hook_resid_post", None, np.stack([0 * d, 2.5 * d]))
    with torch.no_grad():
        _, cache = m.run_with_cache(torch.tensor([seq]))
        resid = cache["blocks.2.hook_resid_post"][0, -1]
        want = [m.unembed(m.ln_final((resid + a * torch.tensor(d))[None, None]))[0, 0].numpy() for a in (0, 2.5)]
    assert np.abs(got - np.stack(want)).max() < 1e-5
    assert np.abs(got[0] - backend.last_logits([seq])[0]).max() < 1e-5


def test_identity_scale_is_noop_and_zero_masks(backend):
    seq = [1, 2, 3, 4]
    mult = np.ones((2, 16), np.float32)
    mult[1, :] = 0.0  # mask every coordinate of the final residual: logits = unembed(ln_final(0)) = b_U
    out = backend.edited_logits(seq, "blocks.2.hook_resid_post", mult, None)
    assert np.abs(out[0] - backend.last_logits([seq])[0]).max() < 1e-5
    import torch

    with torch.no_grad():
        want = backend.model.unembed(backend.model.ln_final(torch.zeros(1, 1, 16)))[0, 0].numpy()
    assert np.abs(out[1] - want).max() < 1e-4


def test_bad_hook_is_an_error(backend):
    with pytest.raises(BackendError, match="matches nothing"):
        backend.edited_logits([1, 2], "blocks.1.hook_resid_pots", None, np.zeros((1, 16), np.float32))


def test_embed_gradient_known_answer(backend):
    """At hook_embed the activation is the embedding, so Σ_p ∂⟨e_p, v⟩/∂e_p = |positions| · v."""
    v = np.arange(16, dtype=np.float32)
    g = backend.embed_gradient([1, 2, 3, 4], "hook_embed", [1, 3], v)
    assert np.allclose(g, 2 * v, atol=1e-5)


def test_right_padding_is_exact(backend):
    a, b = [1, 2, 3, 4, 5], [6, 7]
    both = backend.last_logits([a, b])
    assert np.abs(both[1] - backend.last_logits([b])[0]).max() < 1e-5


def test_counters(backend):
    from types import SimpleNamespace

    backend.counters = SimpleNamespace(forward_passes=0, gradient_passes=0)
    backend.edited_logits([1, 2, 3], "blocks.1.hook_attn_out", None, np.zeros((4, 16), np.float32))
    assert backend.counters.forward_passes == 1 + 4  # prefix + one per row
    backend.counters = None


def test_sae_hook_name():
    from types import SimpleNamespace

    from interf_dsl.backends.hooked import sae_hook_name

    assert sae_hook_name(SimpleNamespace(cfg=SimpleNamespace(metadata=SimpleNamespace(hook_name="blocks.1.x")))) \
        == "blocks.1.x"
    with pytest.raises(BackendError):
        sae_hook_name(SimpleNamespace(cfg=SimpleNamespace(metadata=SimpleNamespace(hook_name=None))))


def test_threads_one_for_small_cpu_models_and_restored(backend):
    import torch

    before = torch.get_num_threads()
    with backend.threads():
        inside = torch.get_num_threads()
        logits = backend.last_logits([[1, 2, 3]])
    assert inside == 1 and torch.get_num_threads() == before
    assert logits.shape == (1, backend.d_vocab)
