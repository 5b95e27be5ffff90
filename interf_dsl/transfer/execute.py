"""Transfer kind, execution of the trials: one checkpoint unit per (type, sentence), run concurrently.

Input: a `TransferClient`, the protocol from the probe, the trials of each sentence and the type lookup. Output:
`transfer_trials` rows saved unit by unit in the step's unit store (`ctx.units("trials")`). A unit is the original
sentence's request plus every injected trial of that sentence; it is saved as soon as all its answers are in, so a
run stopped by an error or a kill keeps every finished unit, and a rerun skips them (and the response cache answers
any request of an unfinished unit that had already come back).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import polars as pl

from interf_dsl.errors import AuthError, BackendError
from interf_dsl.transfer.answers import Query
from interf_dsl.transfer.client import TransferClient
from interf_dsl.transfer.trials import Trial, TypeLookup, score

TRIALS_SCHEMA = {
    "target": pl.Utf8, "type": pl.Utf8, "condition": pl.Utf8, "sentence_id": pl.Int64, "trial": pl.Int64,
    "estimator": pl.Utf8, "k": pl.Int64, "count": pl.Int64, "baseline_count": pl.Int64, "success": pl.Boolean,
    "prompt_sha": pl.Utf8,
}


@dataclass(frozen=True)
class Unit:
    """The trials of one sentence of one type (one checkpoint)."""

    type: str
    sentence_id: int
    sentence: str
    trials: tuple[Trial, ...]

    def key(self, protocol: dict[str, Any]) -> str:
        est = f"logprobs-k{protocol['k']}" if protocol["estimator"] == "logprobs" else f"sampling-n{protocol['samples']}"
        return f"{est}/{self.type}/{self.sentence_id}"


def query_for(prompt: str, protocol: dict[str, Any]) -> Query:
    """The request that scores one prompt under the protocol."""
    if protocol["estimator"] == "logprobs":
        return Query(prompt, k=int(protocol["k_requested"]))
    return Query(prompt, n=int(protocol["samples"]))


async def run_unit(client: TransferClient, unit: Unit, protocol: dict[str, Any], lookup: TypeLookup) -> pl.DataFrame:
    """All answers of one unit, scored."""
    k = protocol["k"] if protocol["estimator"] == "logprobs" else None
    prompts = [unit.sentence] + [t.prompt for t in unit.trials]
    answers = await client.ask_all([query_for(p, protocol) for p in prompts])
    base = score(answers[0].tokens, unit.type, lookup, k)
    rows = []
    for t, ans in zip(unit.trials, answers[1:], strict=True):
        c = score(ans.tokens, unit.type, lookup, k)
        rows.append({"target": client.target.name, "type": t.type, "condition": t.condition,
                     "sentence_id": t.sentence_id, "trial": t.trial, "estimator": protocol["estimator"], "k": k,
                     "count": c, "baseline_count": base, "success": c > base,
                     "prompt_sha": hashlib.sha256(t.prompt.encode()).hexdigest()[:16]})
    return pl.DataFrame(rows, schema=TRIALS_SCHEMA)


async def run_units(client: TransferClient, units: list[Unit], protocol: dict[str, Any], lookup: TypeLookup,
                    store: Any, progress: Any = None) -> list[str]:
    """Run every unit not yet in `store`, saving each when done; returns the errors of units that failed.

    Units are independent: one that exhausts its retries does not cancel the others, so everything that can
    finish is kept before the step stops. A refused key (`AuthError`) is the exception: no new unit starts, and it
    is raised once the units in flight are done.
    """
    errors: list[str] = []
    refused: list[AuthError] = []

    async def one(unit: Unit) -> None:
        key = unit.key(protocol)
        if store.done(key):
            if progress is not None:
                progress.advance()
            return
        try:
            table = await run_unit(client, unit, protocol, lookup)
        except AuthError as exc:
            refused.append(exc)
            return
        except BackendError as exc:
            errors.append(f"{unit.type}/sentence {unit.sentence_id}: {exc}")
            return
        store.save(key, table)
        if progress is not None:
            progress.advance()

    # Schedule units in waves so the first units finish (and are checkpointed) early rather than all at the end.
    wave = max(1, client.target.concurrency // 2)
    pending = [asyncio.ensure_future(one(u)) for u in units[:wave]]
    nxt = wave
    while pending:
        done, rest = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        pending = list(rest)
        for _ in done:
            if nxt < len(units) and not refused:
                pending.append(asyncio.ensure_future(one(units[nxt])))
                nxt += 1
    if refused:
        raise refused[0]
    return errors
