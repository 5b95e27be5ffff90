"""Unit tier: the zoo catalog, held-out sample and token-type table, read without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from interf_dsl.errors import ResolveError
from interf_dsl.zoo import catalog

SAE_FIELDS = {"model", "hook_name", "layer", "hook", "d_in", "d_sae", "metrics"}
MODEL_FIELDS = {"family", "n_layers", "d_model", "d_mlp", "n_heads", "d_vocab", "n_ctx", "heldout_loss", "slice_loss"}


def test_card_lists_every_model_with_its_shape() -> None:
    card = catalog.zoo_card()
    assert tuple(card["models"]) == catalog.ZOO_MODELS
    for name in catalog.ZOO_MODELS:
        info = catalog.model_info(name)
        assert MODEL_FIELDS <= set(info)
    assert {catalog.model_info(n)["family"] for n in catalog.ZOO_MODELS} == {"gpt2", "pythia", "llama"}


def test_each_source_model_has_six_saes_on_canonical_hooks() -> None:
    for model in ("gpt2-tiny", "pythia-tiny"):
        refs = catalog.list_saes(model)
        assert len(refs) == 6
        for ref in refs:
            info = catalog.sae_info(ref)
            assert SAE_FIELDS <= set(info)
            assert info["hook_name"] == f"blocks.{info['layer']}.hook_{info['hook']}"
            assert ref == f"{model}/L{info['layer']}.{info['hook']}"
            assert set(info["metrics"]) == {"l0", "explained_variance", "ce_loss_recovered", "dead_fraction"}
            assert 8 <= info["d_sae"] / info["d_in"] <= 16
    assert catalog.list_saes("target-tiny") == []
    assert catalog.sae_info("zoo:gpt2-tiny/L1.resid_post") == catalog.sae_info("gpt2-tiny/L1.resid_post")


def test_decoder_cosines_fill_every_interference_bin() -> None:
    for ref in catalog.list_saes():
        assert all(n > 0 for n in catalog.sae_info(ref)["decoder_cosine_bins"].values()), ref


@pytest.mark.parametrize(("call", "arg"), [(catalog.model_info, "gpt2-tinny"),
                                           (catalog.sae_info, "gpt2-tiny/L9.resid_post"),
                                           (catalog.list_saes, "llama"), (catalog.read_heldout, "train")])
def test_unknown_names_raise_resolve_error_with_choices(call, arg) -> None:
    with pytest.raises(ResolveError) as info:
        call(arg)
    item = info.value.items[0]
    assert item.name == arg.removeprefix("zoo:") and item.choices


def test_heldout_splits_are_disjoint_and_nonempty() -> None:
    atlas, prompts = catalog.read_heldout("atlas"), catalog.read_heldout("prompts")
    assert len(atlas) > 1000 and len(prompts) > 300
    assert not set(atlas) & set(prompts)
    assert catalog.heldout_text_path().stat().st_size <= 3_000_000


def test_token_types_cover_the_vocabulary_with_the_15_types() -> None:
    types = catalog.read_token_types()
    assert sorted(types) == list(range(catalog.model_info("gpt2-tiny")["d_vocab"]))
    assert set(types.values()) == set(catalog.TOKEN_TYPES)
    assert catalog.zoo_card()["token_types"] == {t: list(types.values()).count(t) for t in catalog.zoo_card()["token_types"]}


def test_artifacts_fit_the_size_budget() -> None:
    total = sum(f.stat().st_size for f in catalog.artifacts_dir().rglob("*") if f.is_file())
    assert total <= 30_000_000


def test_catalog_and_fingerprints_import_no_heavy_library() -> None:
    code = ("import sys, json; from interf_dsl.zoo import catalog, label_token_types;"
            "from interf_dsl.backends.loading import model_fingerprint, sae_fingerprint;"
            "fp = [model_fingerprint('zoo:gpt2-tiny'), sae_fingerprint('zoo:gpt2-tiny/L1.resid_post'),"
            " model_fingerprint('gpt2-small'), sae_fingerprint('release=r,id=i')];"
            "print(json.dumps([fp, [m for m in ('torch', 'transformer_lens', 'sae_lens') if m in sys.modules]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    fps, heavy = json.loads(out)
    assert heavy == []
    assert fps[0].startswith("sha256:") and fps[1].startswith("sha256:") and fps[0] != fps[1]
    assert fps[2] == "hub:gpt2-small@main" and fps[3] == "sae_lens:r/i"
