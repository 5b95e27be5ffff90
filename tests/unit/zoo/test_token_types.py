"""Unit tier: the WordNet token-type labeller (needs the Debian package wordnet-base)."""

from __future__ import annotations

import pytest

from interf_dsl.errors import BackendError
from interf_dsl.zoo import TOKEN_TYPES, label_token_types
from interf_dsl.zoo.token_types import wordnet_dir

try:
    wordnet_dir()
    HAVE_WORDNET = True
except BackendError:
    HAVE_WORDNET = False
needs_wordnet = pytest.mark.skipif(not HAVE_WORDNET, reason="apt-get install -y wordnet-base")


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
