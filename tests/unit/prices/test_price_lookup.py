"""Prices from litellm's bundled cost map: exact names, provider prefixes, and Together's size tiers (the Gemma
target of specs/transfer_gemma.yaml is priced by its 9B tier, as litellm itself prices it)."""

from __future__ import annotations

import pytest

from interf_dsl.prices import cost_map, estimate_transfer, price_per_token

pytestmark = pytest.mark.skipif(not cost_map(), reason="litellm (its bundled cost map) is not installed")


@pytest.mark.parametrize("model", ["text-embedding-3-large", "openai/text-embedding-3-large",
                                   "deepseek/deepseek-chat", "together_ai/google/gemma-2-9b-it",
                                   "together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"])
def test_priced_models_have_a_price(model: str) -> None:
    price = price_per_token(model)
    assert price is not None and price[0] > 0


def test_together_tier_matches_litellm_for_an_unlisted_model() -> None:
    assert price_per_token("together_ai/google/gemma-2-9b-it") == price_per_token("together-ai-8.1b-21b")
    assert price_per_token("together_ai/some/model-70b") == price_per_token("together-ai-41.1b-80b")


def test_unpriced_models_stay_none_and_served_ones_cost_nothing() -> None:
    assert price_per_token("zoo:target-tiny") is None
    assert estimate_transfer("together_ai/google/gemma-2-9b-it", trials=1, n_types=1, n_sentences=1,
                             served=True)[2] == 0.0
    assert estimate_transfer("together_ai/google/gemma-2-9b-it", trials=1, n_types=1, n_sentences=1)[2] > 0
