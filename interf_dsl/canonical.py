"""Core: the canonical JSON text that content hashes and cache keys are computed over."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> str:
    """The JSON text hashed for cache keys: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
