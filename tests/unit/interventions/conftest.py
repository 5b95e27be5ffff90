"""Fixtures for the interventions unit tests (helpers live in iv_fixtures.py)."""

import pytest
from iv_fixtures import HOOK, VOCAB


@pytest.fixture
def fake_backend():
    from interf_dsl.backends.fake import FakeBackend

    return FakeBackend(vocab=VOCAB, d_model=8, hooks=(HOOK, "blocks.0.mlp.hook_post"))
