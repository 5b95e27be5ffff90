"""Execute stage, backend `blackbox`: a black-box LLM reached through litellm (a thin wrapper over the transfer client).

Input: a transfer target mapping (litellm model string, api_base, api_key_env, mode, limits) and a cache folder.
Output: next-token top-k strings with logprobs, or sampled first tokens, for batches of prompts. Capabilities:
`logprobs` and `generate` only (no hooks, no SAEs: `plan/` rejects patching a black-box model). Everything that
matters (concurrency, rate limits, retries honouring Retry-After, the response cache, accounting, never logging the
key) lives in `interf_dsl/transfer/client.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interf_dsl.transfer.answers import Accounting, Answer, Query
from interf_dsl.transfer.client import TransferClient, run_sync
from interf_dsl.transfer.targets import TargetSpec


class BlackboxBackend:
    """Synchronous facade over `TransferClient` for one target."""

    name = "blackbox"
    capabilities: tuple[str, ...] = ("logprobs", "generate")

    def __init__(self, target: TargetSpec | dict[str, Any], cache_dir: Path, api_base: str | None = None) -> None:
        self.target = target if isinstance(target, TargetSpec) else TargetSpec.from_params(target)
        self.client = TransferClient(self.target, Path(cache_dir), api_base=api_base)

    def top_logprobs(self, prompts: list[str], k: int) -> list[Answer]:
        """The top-k next tokens (strings, best first, with logprobs) after each prompt."""
        return run_sync(self.client.ask_all([Query(p, k=k) for p in prompts]))

    def generate(self, prompts: list[str], n: int = 1) -> list[Answer]:
        """`n` sampled first tokens after each prompt (temperature 1)."""
        return run_sync(self.client.ask_all([Query(p, n=n) for p in prompts]))

    @property
    def accounting(self) -> Accounting:
        return self.client.acct

    def close(self) -> None:
        """Stop the client's worker processes (targets with `workers` > 1)."""
        self.client.close()
