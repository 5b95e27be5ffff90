"""Shared test set-up: offline environment for every test, `--update-golden`, and a fake zoo card.

Keep this small: area-specific fixtures live in `tests/<tier>/<area>/conftest.py`.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files (tests/golden/) instead of comparing against them")


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


FAKE_ZOO_CARD = {
    "models": {
        "gpt2-tiny": {"family": "gpt2", "n_layers": 4, "d_model": 128, "d_mlp": 512, "d_vocab": 4096},
        "pythia-tiny": {"family": "pythia", "n_layers": 4, "d_model": 128, "d_mlp": 512, "d_vocab": 4096},
        "target-tiny": {"family": "llama", "n_layers": 6, "d_model": 192, "d_mlp": 512, "d_vocab": 4096},
    },
    "saes": {
        f"{m}/L{layer}.{site}": {"model": m, "hook_name": f"blocks.{layer}.hook_{site}", "d_sae": 1024}
        for m in ("gpt2-tiny", "pythia-tiny") for layer in (1, 3) for site in ("attn_out", "mlp_out", "resid_post")
    },
}
"""A zoo card with the zoo's names and shapes (issue 3), so resolve/plan tests do not depend on a built zoo."""


@pytest.fixture
def fake_zoo(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Point `interf_dsl.zoo.catalog` at FAKE_ZOO_CARD (model_info, sae_info, list_saes read the card)."""
    from interf_dsl.zoo import catalog

    monkeypatch.setattr(catalog, "zoo_card", lambda: FAKE_ZOO_CARD)
    return FAKE_ZOO_CARD
