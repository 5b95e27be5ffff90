"""Unit tier: the WordNet token-type labeller (needs the Debian package wordnet-base, which `scripts/setup.sh --test`
installs where apt can run). Without it the WordNet tests skip with the install command; with INTERF_REQUIRE_WORDNET=1
(set by `.ci/run`) they fail instead."""

from __future__ import annotations

import os

import pytest

from interf_dsl.errors import BackendError
from interf_dsl.zoo import TOKEN_TYPES, label_token_types
from interf_dsl.zoo.token_types import wordnet_dir


def _require_wordnet() -> None:
    try:
        wordnet_dir()
    except BackendError:
        if os.environ.get("INTERF_REQUIRE_WORDNET") == "1":
            pytest.fail("wordnet-base is not installed (apt-get install -y wordnet-base); INTERF_REQUIRE_WORDNET=1")
        pytest.skip("wordnet-base is not installed (apt-get install -y wordnet-base)")


@pytest.fixture
def wordnet() -> None:
    _require_wordnet()


needs_wordnet = pytest.mark.usefixtures("wordnet")


@needs_wordnet
@pytest.mark.parametrize(("token", "expected"), [
    ("Ġdog", "animal"), ("Ġcar", "transport"), ("Ġred", "color"), ("Ġ42", "number"), ("Ġseven", "number"),
    ("ĠLondon", "location"), ("Ġmonday", "time"), ("Ġhand", "body"), ("Ġbread", "food"), ("Ġfear", "emotion"),
    ("Ġphysics", "science"), ("Ġking", "person"), ("Ġshe", "person"), ("Ġwalked", "action"), ("Ġidea", "abstract"),
    ("Ġhammer", "object"), ("Ġthe", "unknown"), ("ing", "unknown"), ("▁truck", "transport"), ("##dogs", "animal"),
])
def test_labels(token: str, expected: str) -> None:
    assert label_token_types([token]) == [expected]


@needs_wordnet
def test_every_label_is_one_of_the_15_types() -> None:
    labels = label_token_types(["Ġ" + w for w in "the quick brown fox jumps over lazy dogs in Paris at noon".split()])
    assert set(labels) <= set(TOKEN_TYPES)


def test_missing_wordnet_is_a_backend_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import interf_dsl.zoo.token_types as tt

    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path))
    monkeypatch.setattr(tt.Path, "exists", lambda self: False)
    with pytest.raises(BackendError, match="wordnet"):
        tt.wordnet_dir()


def test_missing_wordnet_skips_unless_required(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import interf_dsl.zoo.token_types as tt

    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path))
    monkeypatch.setattr(tt.Path, "exists", lambda self: False)
    monkeypatch.delenv("INTERF_REQUIRE_WORDNET", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y wordnet-base"):
        _require_wordnet()
    monkeypatch.setenv("INTERF_REQUIRE_WORDNET", "1")
    with pytest.raises(pytest.fail.Exception, match="INTERF_REQUIRE_WORDNET=1"):
        _require_wordnet()
