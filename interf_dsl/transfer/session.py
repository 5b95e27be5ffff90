"""Transfer kind: litellm's process-wide state — its import (local cost map), one pooled HTTP session per event
loop (`run_sync`), and closing its cached clients. Shared by the client and its worker processes.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any


def run_sync(coro: Any) -> Any:
    """Run a coroutine of client calls in a fresh event loop with one pooled HTTP session, then close it.

    litellm builds a new httpx client, hence a new TCP connection, for every OpenAI-compatible text completion
    unless `litellm.aclient_session` is set; so for the duration of the loop it is set to a pooled client (keep-alive,
    no connection cap: `TransferClient` bounds concurrency itself). A session the user set is left alone. litellm
    also caches clients per loop; left open they leak (and warn) when the loop closes, so they are closed too.
    """

    async def main() -> Any:
        own = open_session()
        try:
            return await coro
        finally:
            await close_clients()
            if own is not None:
                await own.aclose()
                sys.modules["litellm"].aclient_session = None

    return asyncio.run(main())


def open_session() -> Any:
    """A pooled httpx client installed as litellm's session, or None when the user installed one."""
    litellm = import_litellm()
    if getattr(litellm, "aclient_session", None) is not None:
        return None
    import httpx

    session = httpx.AsyncClient(limits=httpx.Limits(max_connections=None, max_keepalive_connections=256),
                                follow_redirects=True)
    litellm.aclient_session = session
    return session


async def close_clients() -> None:
    """Close and forget litellm's cached async HTTP clients (no-op when litellm was never imported)."""
    if "litellm" not in sys.modules:
        return
    litellm = sys.modules["litellm"]
    from litellm.llms.custom_httpx.async_client_cleanup import close_litellm_async_clients

    await close_litellm_async_clients()
    cache = getattr(litellm, "in_memory_llm_clients_cache", None)
    if cache is not None and hasattr(cache, "flush_cache"):
        cache.flush_cache()


def import_litellm() -> Any:
    """litellm, imported with the local cost map (the default import fetches a remote price list)."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    # httpx transport: the aiohttp one opened a connection per request here (about 1.5x the wall time per call).
    litellm.disable_aiohttp_transport = True
    return litellm
