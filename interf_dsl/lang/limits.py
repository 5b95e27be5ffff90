"""The bounds of the spec language: what a spec may ask for so that every value `interf validate` accepts, `run` can
carry out (issue 12, "validate means runnable").

Each bound is far above any study's need (the paper asks for at most a few hundred of anything) and keeps the plan's
work estimate finite: a count above it is a slip, not a study. Lower bounds are those the runners need (a bootstrap
of fewer than `MIN_BOOTSTRAP` resamples is refused by `stats/_checks.check_n_boot`). Names that become path
components (the experiment name, transfer targets, sources) follow `path_name_problem`, the rule the run directory
applies (`execute/selection.py`). Model limits (n_ctx, layers, d_vocab, d_sae) are checked by `resolve/`, which knows
the models.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

MAX_NAME = 100
"""Longest name that becomes a path component (experiment, target, source)."""
MAX_SEED = 2**32 - 1
"""Largest seed (numpy's classic seed range; a seed is written into cache folder names)."""
MIN_BOOTSTRAP = 100
"""Fewest bootstrap resamples (`stats.bootstrap`); fewer give meaningless percentiles (`stats/_checks.py`)."""
MAX_BOOTSTRAP = 1_000_000
"""Most bootstrap resamples."""
MAX_COUNT = 100_000
"""Most of any per-item count: targets per layer, partners per bin, contexts, sentences, trials, draws, tokens per
feature or trial, neurons, clusters (the paper: at most 100)."""
MAX_CORPUS_TOKENS = 10_000_000_000
"""Most corpus tokens run through a model for the atlas (the paper: 2 M)."""
MAX_CONTEXT = 1_048_576
"""Longest atlas window in tokens (each model's own n_ctx is checked by resolve)."""
MAX_BATCH = 65_536
"""Most windows per forward pass."""
MAX_VOCAB_COUNT = 10_000_000
"""Most tokens of a vocabulary-sized count (top-k over the vocabulary, logit-lens tokens, top tokens); the model's
own d_vocab is checked by resolve."""
MAX_COACTIVATION_TOKENS = 10_000_000
"""Most corpus tokens whose feature activations are kept for the coactivation metric."""
MAX_MEMORY_MB = 1_048_576
"""Largest memory budget (1 TiB)."""
MAX_CONCURRENCY = 10_000
"""Most requests in flight to one target."""
MAX_RATE = 1_000_000_000
"""Largest requests- or tokens-per-minute limit."""
MAX_TIMEOUT_S = 3_600.0
"""Longest per-request timeout and retry wait (seconds)."""
MAX_RETRIES = 100
"""Most retries per request."""
MAX_SCALE = 10_000.0
"""Largest |α| of a steering or neuron scale (the paper: 20); beyond it activations overflow float32."""
MAX_GRID_VALUES = 1_000
"""Most values one grid expression may expand to (the paper: 32)."""
MAX_LAYER = 999
"""Largest layer index a hook expression may name (before the model's own layer count is checked)."""
MAX_FEATURE_ID = 2**31 - 1
"""Largest SAE feature id a selector may name (before the SAE's own width is checked)."""
MAX_SELECTED_FEATURES = 100_000
"""Most feature ids one selector may expand to."""
MAX_FORWARD_PASSES = 10**12
"""Most forward + gradient passes one focus block may plan on one source (the paper's largest: ~10^7)."""
MAX_API_REQUESTS = 10**9
"""Most requests one transfer target may plan."""

_PATH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
PATH_NAME_RULE = "letters, digits, '_', '.', '-', starting with a letter or digit, no '..', at most 100 characters"


def path_name_problem(name: str) -> tuple[str, int, int] | None:
    """Why `name` cannot be a path component (message, 1-based column, length), or None when it can.

    The rule of the run directory: a letter or digit first (so never `.`, `..` or an option such as `-rf`), then
    letters, digits, `_`, `.`, `-`; no `..` anywhere; at most `MAX_NAME` characters.
    """
    if not name:
        return "is empty", 1, 1
    if name in (".", ".."):
        return f"is the {'current' if name == '.' else 'parent'} folder", 1, len(name)
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters long (at most {MAX_NAME})", MAX_NAME + 1, len(name) - MAX_NAME
    if not _PATH_NAME.match(name):
        bad = next((i for i, c in enumerate(name) if not (c.isascii() and (c.isalnum() or c in "._-"))), None)
        if bad is None:
            return f"starts with '{name[0]}' (a name starts with a letter or digit)", 1, 1
        return f"holds '{name[bad]}'", bad + 1, 1
    if ".." in name:
        return "holds '..'", name.index("..") + 1, 2
    return None


def _path_name(value: Any) -> Any:
    problem = path_name_problem(value) if isinstance(value, str) else None
    if problem is not None:
        message, column, length = problem
        raise PydanticCustomError("interf_expr", "{message}",
                                  {"message": f"name '{value[:40]}{'…' if len(value) > 40 else ''}' {message}: it "
                                              "becomes a folder or file name", "column": column, "length": length,
                                   "line": 1, "hint": f"a name is {PATH_NAME_RULE}"})
    return value


PathName = Annotated[str, AfterValidator(_path_name), Field(json_schema_extra={"pattern": _PATH_NAME.pattern,
                                                                                "maxLength": MAX_NAME})]
"""A name that becomes a path component (run directories, step ids, report files); see `path_name_problem`."""


def top_k(value: Any) -> Any:
    """`metrics.top_k`: `full`, null, or a whole number in [1, `MAX_VOCAB_COUNT`] (one error, not one per type)."""
    if value is None or value == "full":
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_VOCAB_COUNT:
        return value
    raise PydanticCustomError("interf_expr", "{message}",
                              {"message": f"top_k is `full` or a whole number from 1 to {MAX_VOCAB_COUNT}, got "
                                          f"{str(value)[:40]}", "column": 1, "length": len(str(value)), "line": 1,
                               "hint": "`full` sums over the whole vocabulary"})
