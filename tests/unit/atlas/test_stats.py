"""The streamed atlas against a dense recomputation on a tiny random model and SAE."""

from __future__ import annotations

import pytest

from interf_dsl.atlas.corpus import read_corpus, token_windows
from interf_dsl.atlas.stats import compute_atlas
from interf_dsl.errors import BackendError
from interf_dsl.lang.sections import AtlasStats

SETTINGS = AtlasStats(top_contexts=5, batch_size=3, top_token_ratio=0.8, max_top_tokens=10, neuron_alignments=3,
                      logit_lens=4, coactivation_tokens=40)


class Counter:
    forward_passes = 0


def dense(model, sae, windows, hook):
    import torch

    with torch.no_grad():
        _, cache = model.run_with_cache(windows, names_filter=hook)
        return sae.encode(cache[hook]).float()


def test_atlas_matches_dense(tiny_model, tiny_sae, corpus_file):
    import torch

    hook = "blocks.0.hook_resid_post"
    windows = token_windows(tiny_model.tokenizer, read_corpus(str(corpus_file)), context=8, max_tokens=400)
    counter = Counter()
    atlas = compute_atlas(tiny_model, tiny_sae, hook, windows, SETTINGS, counters=counter)
    acts = dense(tiny_model, tiny_sae, windows, hook)  # [W, T, F]
    feats = atlas.features
    assert feats.height == 24
    assert torch.allclose(torch.tensor(feats["max_act"].to_list()), acts.amax((0, 1)).double().clamp_min(0).float(),
                          atol=1e-5)
    freq = (acts > 0).float().mean((0, 1))
    assert torch.allclose(torch.tensor(feats["frequency"].to_list(), dtype=torch.float), freq, atol=1e-6)
    # contexts: the top windows by per-window max, in descending order
    f = int(torch.argmax(freq))
    win_max = acts[:, :, f].amax(1)
    expect = torch.sort(win_max[win_max > 0], descending=True).values[:5]
    got = atlas.contexts.filter(atlas.contexts["feature"] == f).sort("rank")["max_act"].to_list()
    assert got == pytest.approx(expect.tolist(), abs=1e-5)
    # top tokens: every token listed reaches 0.8 × max
    row = feats.filter(feats["feature"] == f).row(0, named=True)
    assert row["top_token_acts"] and min(row["top_token_acts"]) >= 0.8 * row["max_act"] - 1e-9
    assert row["top_token_acts"][0] == pytest.approx(row["max_act"], abs=1e-5)
    assert len(row["neuron_idx"]) == 3 and len(row["logit_tokens"]) == 4
    assert counter.forward_passes >= windows.shape[0]
    assert atlas.activation_sample.shape == (24, 40)
    assert atlas.context_means.shape == (24, 16)


def test_bad_corpus(tmp_path):
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00bad latin \xe9")
    with pytest.raises(BackendError, match="not UTF-8"):
        read_corpus(str(tmp_path / "bad.txt"))
    (tmp_path / "empty.txt").write_text("  \n\n ", encoding="utf-8")
    with pytest.raises(BackendError, match="empty"):
        read_corpus(str(tmp_path / "empty.txt"))


def test_sae_width_mismatch(tiny_model, corpus_file):
    from sae_lens import StandardSAE, StandardSAEConfig

    windows = token_windows(tiny_model.tokenizer, read_corpus(str(corpus_file)), context=8, max_tokens=80)
    sae = StandardSAE(StandardSAEConfig(d_in=12, d_sae=8))
    with pytest.raises(BackendError, match="d_in = 12"):
        compute_atlas(tiny_model, sae, "blocks.0.hook_resid_post", windows, SETTINGS)


class Killed(Exception):
    pass


class KillAfter:
    """A progress handle that raises once `n` windows are done (a SIGKILL between batches)."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def advance(self, k: int = 1) -> None:
        self.seen += k
        if self.seen >= self.n:
            raise Killed


def test_pass1_resumes_identically_after_a_kill(tiny_model, tiny_sae, corpus_file, tmp_path):
    import torch

    from interf_dsl.execute.units import DirUnitStore

    hook = "blocks.0.hook_resid_post"
    windows = token_windows(tiny_model.tokenizer, read_corpus(str(corpus_file)), context=8, max_tokens=400)
    settings = SETTINGS
    fresh_count = Counter()
    ref = compute_atlas(tiny_model, tiny_sae, hook, windows, settings, counters=fresh_count, checkpoint_batches=2)
    with pytest.raises(Killed):
        compute_atlas(tiny_model, tiny_sae, hook, windows, settings, progress=KillAfter(windows.shape[0] // 2 + 1),
                      store=DirUnitStore(tmp_path, "atlas_pass1"), checkpoint_batches=2)
    resumed_count = Counter()
    again = compute_atlas(tiny_model, tiny_sae, hook, windows, settings, counters=resumed_count,
                          store=DirUnitStore(tmp_path, "atlas_pass1"), checkpoint_batches=2)
    assert again.features.equals(ref.features) and again.contexts.equals(ref.contexts)
    assert torch.equal(again.activation_sample, ref.activation_sample)
    assert torch.equal(again.context_means, ref.context_means)
    # pass 1 restarted at the last checkpoint, not at zero: fewer forward passes than a fresh run
    n_win = windows.shape[0]
    assert fresh_count.forward_passes - n_win // 2 <= resumed_count.forward_passes < fresh_count.forward_passes
    # a checkpoint of another corpus is ignored
    other = windows[: n_win // 2]
    got = compute_atlas(tiny_model, tiny_sae, hook, other, settings, store=DirUnitStore(tmp_path, "atlas_pass1"))
    assert got.features.equals(compute_atlas(tiny_model, tiny_sae, hook, other, settings).features)


def test_kept_activations_match_second_model_pass(tiny_model, tiny_sae, corpus_file):
    """Pass 2 from the kept pass-1 activations gives the tables of a second model pass, with half the passes."""
    import torch

    hook = "blocks.0.hook_resid_post"
    windows = token_windows(tiny_model.tokenizer, read_corpus(str(corpus_file)), context=8, max_tokens=400)
    kept, rerun = Counter(), Counter()
    a = compute_atlas(tiny_model, tiny_sae, hook, windows, SETTINGS, counters=kept)
    b = compute_atlas(tiny_model, tiny_sae, hook, windows, SETTINGS, counters=rerun, raw_cache_bytes=1)
    assert kept.forward_passes == windows.shape[0]
    assert rerun.forward_passes > windows.shape[0]
    # equal up to float noise (a second model pass batches the windows differently)
    for col in ("feature", "rank", "token_ids", "tokens", "max_pos"):
        assert a.contexts[col].equals(b.contexts[col]), col
    got, want = (torch.tensor(x.contexts["acts"].to_list()) for x in (a, b))
    assert torch.allclose(got, want, atol=1e-5)
    assert a.features.drop("max_act", "top_token_acts").equals(b.features.drop("max_act", "top_token_acts"))
    assert torch.allclose(a.context_means, b.context_means, atol=1e-5)
