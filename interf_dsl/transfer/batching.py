"""Transfer kind, test server: the batched next-token engine behind `interf serve`.

Input: a transformer_lens `HookedTransformer` (with `.tokenizer`) and prompts arriving concurrently. Output: per
prompt, the next-token log-probabilities at its last position. Requests are collected for a few milliseconds (or up
to `max_batch`), right-padded and run as one forward pass on a single worker thread, so the event loop keeps
accepting requests while the model runs. Right padding is safe without an attention mask: attention is causal, so
positions before the padding never see it, and each row's logits are read at its own last real position.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass
class BatchStats:
    """Counters the benchmark and tests read."""

    forwards: int = 0
    rows: int = 0
    max_rows: int = 0


class Batcher:
    """Collects concurrent next-token requests and runs them as padded batches."""

    def __init__(self, model: Any, *, max_batch: int = 32, wait_ms: float = 5.0, threads: int | None = None) -> None:
        self.model = model
        self.threads = threads
        self.tokenizer = model.tokenizer
        self.max_batch = max(1, int(max_batch))
        self.wait_s = max(0.0, wait_ms / 1000.0)
        self.stats = BatchStats()
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="interf-serve-fwd")
        self._decoded: dict[int, str] = {}

    # -- tokens ---------------------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of a prompt, with the model's default BOS handling (as the sources are run)."""
        return [int(t) for t in self.model.to_tokens(text)[0].tolist()]

    def decode_one(self, token_id: int) -> str:
        """The string of one token id, as an API returns it."""
        s = self._decoded.get(token_id)
        if s is None:
            s = self.tokenizer.decode([token_id])
            self._decoded[token_id] = s
        return s

    # -- batching -------------------------------------------------------------------------------------------------
    async def logprobs(self, ids: list[int]) -> torch.Tensor:
        """Next-token log-probabilities (1-D float tensor over the vocabulary) after `ids`."""
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._loop())
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((ids, fut))
        return await fut

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._queue is not None  # set by logprobs() before the task starts
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():  # what queued during the last forward
                batch.append(self._queue.get_nowait())
            deadline = loop.time() + self.wait_s
            while len(batch) < self.max_batch:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), left))
                except TimeoutError:
                    break
            try:
                rows = await loop.run_in_executor(self._pool, self._forward, [ids for ids, _ in batch])
            except Exception as exc:  # noqa: BLE001 - hand the failure to every waiting request
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), row in zip(batch, rows, strict=True):
                if not fut.done():
                    fut.set_result(row)

    def _forward(self, seqs: list[list[int]]) -> list[torch.Tensor]:
        import torch

        if self.threads and torch.get_num_threads() != self.threads:
            # Process-wide: on a busy machine, intra-op threads of a tiny model spin against each other (x100).
            torch.set_num_threads(self.threads)
        n_ctx = int(self.model.cfg.n_ctx)
        seqs = [s[-n_ctx:] for s in seqs]  # keep the end of over-long prompts: the next token depends on it
        lengths = torch.tensor([len(s) for s in seqs])
        tokens = torch.zeros((len(seqs), int(lengths.max())), dtype=torch.long)
        for i, s in enumerate(seqs):
            tokens[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        device = getattr(self.model.cfg, "device", None) or "cpu"
        with torch.no_grad():
            logits = self.model(tokens.to(device), return_type="logits")
            last = logits[torch.arange(len(seqs)), (lengths - 1).to(logits.device)]
            lp = torch.log_softmax(last.float(), dim=-1).cpu()
        self.stats.forwards += 1
        self.stats.rows += len(seqs)
        self.stats.max_rows = max(self.stats.max_rows, len(seqs))
        return list(lp)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class TokenStep:
    """One generated token with its log-probability and the top alternatives (string, logprob)."""

    token: str
    logprob: float
    top: list[tuple[str, float]]


async def generate(batcher: Batcher, prompt_ids: list[int], *, max_tokens: int, temperature: float,
                   top_logprobs: int, generator: torch.Generator | None) -> list[TokenStep]:
    """Generate `max_tokens` tokens (greedy at temperature 0, sampled otherwise) with per-step top logprobs."""
    import torch

    ids = list(prompt_ids)
    out: list[TokenStep] = []
    for _ in range(max(1, max_tokens)):
        lp = await batcher.logprobs(ids)
        if temperature <= 0:
            tok = int(torch.argmax(lp))
        else:
            probs = torch.softmax(lp / temperature, dim=-1)
            tok = int(torch.multinomial(probs, 1, generator=generator))
        top: list[tuple[str, float]] = []
        if top_logprobs > 0:
            vals, idx = torch.topk(lp, min(top_logprobs, lp.shape[0]))
            top = [(batcher.decode_one(int(i)), float(v)) for v, i in zip(vals, idx, strict=True)]
        out.append(TokenStep(batcher.decode_one(tok), float(lp[tok]), top))
        ids.append(tok)
    return out
