"""Unit tier: the zoo build's device, batch, reuse and stop options, on a small stand-in corpus (the Debian
packages are not needed): a prepared build carries its token stream and the shipped tokenizer and token types; the
training stages run on the given device and record it; the SAE stages train raw weights first (no sae_lens), then
wrap them; bad options are refused with their choices."""

from __future__ import annotations

import pytest
import torch
import typer

from interf_dsl.errors import SpecError
from interf_dsl.zoo import build, catalog, corpus, models, saes


def _small_corpus(out):
    """Held-out documents of the shipped sample stand in for the corpus (train and held out)."""
    docs = catalog.read_sample(catalog.artifacts_dir() / "heldout.jsonl.gz", "atlas")[:400]
    (out / "corpus").mkdir(parents=True)
    (out / "corpus" / "train.txt").write_text(corpus.DOC_SEP.join(docs[:300]) + corpus.DOC_SEP, encoding="utf-8")
    (out / "corpus" / "heldout.txt").write_text(corpus.DOC_SEP.join(docs[300:]) + corpus.DOC_SEP, encoding="utf-8")
    (out / "heldout.jsonl.gz").write_bytes((catalog.artifacts_dir() / "heldout.jsonl.gz").read_bytes())
    return {"stand-in": {"documents": len(docs)}}


def test_prepared_build_reuses_the_shipped_tokenizer_and_stops(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(corpus, "build_corpus", _small_corpus)
    state = build.build_zoo(tmp_path, reuse_tokenizer=True, until="token_types", log=lambda *_: None)
    assert list(state) == ["corpus", "tokenizer", "token_types"]
    shipped = catalog.artifacts_dir()
    assert (tmp_path / "tokenizer" / "tokenizer.json").read_bytes() == (shipped / "tokenizer/tokenizer.json").read_bytes()
    counts = state["token_types"]["token_type_counts"]
    assert sum(counts.values()) == 4096 and counts["unknown"] == 1875  # the card's counts of the shipped labels
    assert (tmp_path / "corpus" / "tokens_train.npy").stat().st_size > 1000  # the stream a GPU machine trains on

    state = build.build_zoo(tmp_path, minutes={"gpt2-tiny": 0.01}, until="model:gpt2-tiny", batch=4,
                            device="cpu", log=lambda *_: None)
    train = state["model:gpt2-tiny"]["train"]
    assert train["steps"] >= 1 and train["batch"] == 4 and train["device"] == "cpu"
    assert (tmp_path / "models" / "gpt2-tiny" / "model.safetensors").exists()
    assert "model:pythia-tiny" not in state
    tiny = float.fromhex("0x0.0000000000001p-1022")  # build_zoo leaves process-wide numerics alone (the CLI sets them)
    assert tiny * 3.0 > 0.0


def test_bad_build_options_are_refused_with_choices(tmp_path) -> None:
    from interf_dsl._cli.zoo_cmds import _device

    with pytest.raises(SpecError, match="unknown stage 'saes'") as err:
        build.build_zoo(tmp_path, until="saes")
    assert "sae_train:gpt2-tiny" in err.value.items[0].choices
    with pytest.raises(typer.BadParameter, match="'gpu' is not a device: auto, cpu, cuda"):
        _device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(typer.BadParameter, match="no CUDA device"):
            _device("cuda")
    assert build.stage_keys().index("sae_train:pythia-tiny") < build.stage_keys().index("saes:gpt2-tiny")


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_sae_training_runs_on_the_device_and_returns_cpu_weights(device, monkeypatch) -> None:
    monkeypatch.setattr(saes, "D_SAE", 64)
    monkeypatch.setattr(saes, "BATCH", 256)
    acts = torch.randn(4096, 16).to(torch.float16)
    out = saes.train_topk(acts, minutes=0.01, seed=1, log=lambda *_: None, device=device)
    assert out["stats"]["steps"] >= 1
    assert all(w.device.type == "cpu" for w in out["weights"].values())
    assert torch.allclose(out["weights"]["W_dec"].norm(dim=-1), torch.ones(64), atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_model_trains_on_the_device_and_comes_back_to_the_cpu(device) -> None:
    stream = torch.randint(0, 4096, (5000,))
    res = models.train_model("gpt2-tiny", stream, catalog.artifacts_dir() / "tokenizer", minutes=0.005, batch=2,
                             device=device, log=lambda *_: None)
    assert res["stats"]["steps"] >= 1 and res["stats"]["device"].startswith(device)
    assert next(res["model"].parameters()).device.type == "cpu"
    assert res["stats"]["final_train_loss_ema"] < 9.0  # ln(4096) = 8.3 at initialisation: a real loss, not NaN
