"""Transfer kind: black-box targets, their readiness and the protocol's top-k.

Input: one entry of `transfer.targets` (a JSON mapping from the plan's `transfer:<target>` step params). Output: a
frozen `TargetSpec`; `check_target_ready` lists what is missing before anything runs (key variable, endpoint,
local model for `serve:`); `protocol_k` and `source_recompute_k` are the comparable-k rule of docs/method.md §8.10.
The API key is read from the environment variable named by `api_key_env` at call time and never stored.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlparse

from pydantic import ValidationError

from interf_dsl.atlas.explain import LOCAL_API_KEY
from interf_dsl.errors import SpecError
from interf_dsl.lang.sections import Target
from interf_dsl.zoo import catalog as zoo_catalog

DUMMY_KEY = LOCAL_API_KEY
"""The key sent to a server `interf` started itself (`serve:`), or to an `api_base` without `api_key_env`."""


class TargetSpec(Target):
    """One black-box target: the spec's `transfer.targets` entry, with what the client needs of it."""

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TargetSpec:
        """Build from a spec/plan mapping; an unknown key or a bad value is a `SpecError` naming the valid ones."""
        try:
            return cls.model_validate(params)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            key_path = f"transfer.targets.{params.get('name', '?')}"
            if err["type"] == "extra_forbidden":
                raise SpecError(f"unknown transfer target setting '{where}'", name=where,
                                choices=sorted(Target.model_fields), key_path=key_path) from None
            raise SpecError(f"transfer target {where}: {err['msg']}", key_path=f"{key_path}.{where}") from None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def cache_identity(self) -> dict[str, Any]:
        """What identifies the answering model in cache keys: never the key, a served port or the endpoint URL
        (where a model is reached is execution-only, like in the step hash: a respelt `api_base` reuses answers)."""
        if self.serve:
            return {"serve": self.serve, "model": self.model, "mode": self.mode}
        return {"model": self.model, "mode": self.mode}

    def api_key(self) -> str | None:
        """The key value, read from the environment now (the dummy key for a served or key-less endpoint)."""
        if self.api_key_env and not self.serve:
            return os.environ.get(self.api_key_env)
        return DUMMY_KEY


def check_target_ready(target: TargetSpec | dict[str, Any], *, connect_timeout_s: float = 2.0) -> list[str]:
    """Problems that stop this target before any request: missing key variable, unreachable api_base, no model.

    Returns:
        One human-readable line per problem; empty when the target is ready.
    """
    t = target if isinstance(target, TargetSpec) else TargetSpec.from_params(target)
    problems: list[str] = []
    if t.serve:
        problems.extend(_served_model_problems(t))
        return problems
    if t.api_key_env and not os.environ.get(t.api_key_env):
        problems.append(f"target {t.name}: environment variable {t.api_key_env} (the API key) is not set")
    if t.api_base:
        url = urlparse(t.api_base)
        host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        if not host:
            problems.append(f"target {t.name}: api_base '{t.api_base}' is not a URL")
        else:
            try:
                socket.create_connection((host, port), timeout=connect_timeout_s).close()
            except OSError as exc:
                problems.append(f"target {t.name}: endpoint {t.api_base} is unreachable ({exc.__class__.__name__})")
    elif not t.api_key_env:
        problems.append(f"target {t.name}: set `api_base` (an OpenAI-compatible server) or `api_key_env` "
                        f"(a provider key variable) for model {t.model}")
    return problems


def _served_model_problems(t: TargetSpec) -> list[str]:
    ref = str(t.serve)
    if ref.startswith("zoo:"):
        try:
            zoo_catalog.model_info(ref.split(":", 1)[1])
        except Exception as exc:  # noqa: BLE001 - any catalog failure means the weights are missing
            return [f"target {t.name}: cannot serve {ref}: {exc}"]
        return []
    if os.path.isdir(ref):
        return []
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        hub = os.path.expanduser(os.environ.get("HF_HOME", "~/.cache/huggingface"))
        if not os.path.isdir(hub):
            return [f"target {t.name}: cannot serve {ref}: offline (HF_HUB_OFFLINE=1) and no local weights"]
    return []


def protocol_k(requested: int, offered: int) -> int:
    """The top-k a target is scored at: the requested k capped by what the target offers (docs/method.md §8.10)."""
    return max(1, min(int(requested), int(offered)))


def source_recompute_k(transfer_metas: list[dict[str, Any]], source_k: int) -> int | None:
    """The k at which the sources' prompt-injection baselines must be recomputed to compare with every target.

    Args:
        transfer_metas: `StepResult.meta` of the transfer steps (each has `protocol.k` and `protocol.estimator`).
        source_k: the top-k the sources were scored at (the prompt focus block's `top_k`).

    Returns:
        The smallest k any logprob-scored target used when it is below `source_k`; None when no recompute is needed.
    """
    ks = [int(m["protocol"]["k"]) for m in transfer_metas
          if m.get("protocol", {}).get("estimator") == "logprobs" and m["protocol"].get("k") is not None]
    k = min(ks) if ks else None
    return k if k is not None and k < int(source_k) else None
