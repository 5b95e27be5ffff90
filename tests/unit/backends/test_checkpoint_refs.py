"""Model references at validate time (no torch): Hugging Face checkpoint directories are checked and shaped,
their weight processing follows the SAEs and lands in the reference, hub names are checked against
transformer_lens' list with did-you-mean, and the catalog of names matches the installed transformer_lens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from interf_dsl.backends import checkpoints
from interf_dsl.backends.loading import model_fingerprint, model_problem
from interf_dsl.errors import ResolveError, render_error
from interf_dsl.parse import load_spec
from interf_dsl.resolve import resolve_spec

GPT2_CFG = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 4,
            "n_positions": 128, "vocab_size": 4096}


def hf_dir(folder: Path, cfg: dict[str, Any] | None = None, *, weights: bool = True,
           tokenizer: bool = True) -> Path:
    """A checkpoint directory's file layout (placeholder weights: validate reads no tensor)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg or GPT2_CFG))
    if weights:
        (folder / "model.safetensors").write_bytes(b"\0" * 16)
    if tokenizer:
        (folder / "tokenizer.json").write_text("{}")
    return folder


def spec(tmp_path: Path, model: str, saes: list[dict] | None = None) -> Path:
    body = {"experiment": {"name": "t", "preset": "paper"},
            "sources": {"m": {"model": model, "saes": saes or [{"hooks": "L1.resid_post", "sae": "./sae"}]}}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def refused(path: Path) -> str:
    with pytest.raises(ResolveError) as err:
        resolve_spec(load_spec(path))
    return render_error(err.value)


def test_hf_checkpoint_resolves_with_its_shape_and_default_processing(tmp_path: Path, fake_zoo: dict) -> None:
    hf_dir(tmp_path / "ckpt")
    src = resolve_spec(load_spec(spec(tmp_path, "./ckpt"))).sources["m"]
    ref, processing = checkpoints.split_processing(src.model)
    assert ref == str(tmp_path / "ckpt") and processing == checkpoints.DEFAULT_PROCESSING
    assert src.arch is not None and (src.arch.n_layers, src.arch.d_model, src.arch.d_mlp, src.arch.n_ctx) == (
        2, 64, 256, 128)
    assert model_problem(src.model) is None
    assert model_fingerprint(src.model) == model_fingerprint(ref)  # the processing lives in the reference


def test_processing_follows_the_sae(tmp_path: Path, fake_zoo: dict) -> None:
    hf_dir(tmp_path / "ckpt")
    (tmp_path / "sae").mkdir()
    (tmp_path / "sae" / "cfg.json").write_text(json.dumps(
        {"metadata": {"hook_name": "blocks.1.hook_resid_post",
                      "model_from_pretrained_kwargs": {"center_writing_weights": True}}}))
    model = resolve_spec(load_spec(spec(tmp_path, "./ckpt"))).sources["m"].model
    assert checkpoints.split_processing(model)[1] == {"fold_ln": False, "center_writing_weights": True,
                                                       "center_unembed": False, "fold_value_biases": False}


def test_hub_name_records_processing_only_when_an_sae_asks(tmp_path: Path, fake_zoo: dict) -> None:
    jb = [{"hooks": "L8.resid_pre", "sae": {"release": "gpt2-small-res-jb", "id": "blocks.{layer}.hook_resid_pre"}}]
    model = resolve_spec(load_spec(spec(tmp_path, "gpt2-small", jb))).sources["m"].model
    assert model == "gpt2-small#fold_ln=0,center_writing_weights=1,center_unembed=0,fold_value_biases=0"
    v5 = [{"hooks": "L8.resid_post", "sae": "paper"}]
    assert resolve_spec(load_spec(spec(tmp_path, "gpt2-small", v5))).sources["m"].model == "gpt2-small"


@pytest.mark.parametrize(("cfg", "kw", "words"), [
    ({"architectures": ["BertForMaskedLM"], "model_type": "bert", "num_hidden_layers": 2, "hidden_size": 8}, {},
     "architecture 'BertForMaskedLM' is not one transformer_lens converts"),
    (None, {"weights": False}, "has no weights"),
    (None, {"tokenizer": False}, "has no tokenizer"),
    ({"architectures": ["GPT2LMHeadModel"], "vocab_size": 10}, {}, "does not give n_layers and d_model"),
])
def test_broken_or_unsupported_checkpoint_is_refused_located(tmp_path: Path, fake_zoo: dict, cfg, kw,
                                                             words: str) -> None:
    hf_dir(tmp_path / "ckpt", cfg, **kw)
    text = refused(spec(tmp_path, "./ckpt"))
    assert words in text and "spec.yaml:6:12" in text and "sources.m.model" in text


def test_layer_beyond_a_checkpoint_is_refused(tmp_path: Path, fake_zoo: dict) -> None:
    hf_dir(tmp_path / "ckpt")
    text = refused(spec(tmp_path, "./ckpt", [{"hooks": "L5.resid_post", "sae": "./sae"}]))
    assert "layer 5 out of range" in text and "2 layers" in text


def test_mistyped_hub_name_gets_did_you_mean(tmp_path: Path, fake_zoo: dict) -> None:
    text = refused(spec(tmp_path, "pythia-70m-dedupd"))
    assert "unknown model 'pythia-70m-dedupd'" in text and "did you mean 'pythia-70m-deduped'" in text
    assert "spec.yaml:6:12" in text
    assert text.count("\n") < 12  # one error, not five follow-on ones


def test_official_names_and_aliases_are_accepted(tmp_path: Path, fake_zoo: dict) -> None:
    for name in ("EleutherAI/pythia-160m", "pythia-160m", "GPT2-XL"):
        resolve_spec(load_spec(spec(tmp_path, name, [{"hooks": "L1.resid_post", "sae": "./sae"}])))


def test_name_catalog_matches_installed_transformer_lens() -> None:
    """Regenerate with: .venv/bin/python tests/unit/backends/test_checkpoint_refs.py"""
    pytest.importorskip("torch")
    from transformer_lens.loading_from_pretrained import MODEL_ALIASES, OFFICIAL_MODEL_NAMES

    from interf_dsl.resolve.catalogs import load_catalog

    listed = load_catalog("transformer_lens_models")["models"]
    assert list(listed) == list(OFFICIAL_MODEL_NAMES)
    assert all(listed[n] == list(MODEL_ALIASES.get(n, [])) for n in listed)


def test_supported_architectures_have_transformer_lens_converters() -> None:
    pytest.importorskip("torch")
    import inspect

    from transformer_lens import loading_from_pretrained as tl

    source = inspect.getsource(tl.get_pretrained_state_dict)
    assert all(f'"{arch}"' in source for arch in checkpoints.SUPPORTED_ARCHITECTURES)


def _write_catalog() -> None:
    import importlib.metadata as md

    from transformer_lens.loading_from_pretrained import MODEL_ALIASES, OFFICIAL_MODEL_NAMES

    version = md.version("transformer_lens")
    lines = [f"# transformer_lens {version}: its official pretrained model names (OFFICIAL_MODEL_NAMES) and their",
             "# aliases (MODEL_ALIASES), read by `interf validate` to check hub model names without importing torch.",
             "# Regenerate: .venv/bin/python tests/unit/backends/test_checkpoint_refs.py (a test there fails when",
             "# the installed transformer_lens lists other names).",
             f"transformer_lens: '{version}'", "models:"]
    lines += [f"  {json.dumps(n)}: {json.dumps(list(MODEL_ALIASES.get(n, [])))}" for n in OFFICIAL_MODEL_NAMES]
    out = Path(__file__).resolve().parents[3] / "interf_dsl/resolve/catalogs/transformer_lens_models.yaml"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    _write_catalog()
