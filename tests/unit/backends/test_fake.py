"""The fake backend: linear known answers and call recording."""

import numpy as np
import pytest

from interf_dsl.backends.fake import FakeBackend
from interf_dsl.errors import BackendError


def test_fake_linear_and_recorded():
    fb = FakeBackend(vocab=["a", "b", "c"], d_model=4, hooks=("h",))
    v = np.array([1.0, 0, 0, 0], np.float32)
    out = fb.edited_logits([0, 1], "h", None, np.stack([0 * v, 3 * v]))
    assert np.allclose(out[1] - out[0], 3 * v @ fb.W_U, atol=1e-5)
    assert fb.calls[-1][0] == "edited_logits" and fb.calls[-1][1]["rows"] == 2
    assert fb.tokenize("abca") == [0, 1, 2, 0]
    with pytest.raises(BackendError):
        fb.edited_logits([0], "nope", None, v[None])
