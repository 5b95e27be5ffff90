"""Transfer kind, execution: worker processes that make the litellm calls of one `TransferClient`.

Input: requests (litellm call kind, keyword arguments, the `Query`s to parse the answers for) from the client's event
loop. Output: `Answer`s, or the classified error (kind, retryable, server-requested wait, message) of the attempt.

Why: litellm spends about 4 ms of CPU in Python per call (request building, its cost and logging hooks), so one
process tops out near 250 calls/s on one core whatever the concurrency, and well before that the calls queue
behind each other (at 50 ms latency and 8 in flight, one process reaches about 0.7 of the ideal rate on 2 cores).
With `workers: N` the calls run in N spawned processes, each with its own event loop, litellm and pooled HTTP
session; the client keeps everything else (cache, retries, limits, accounting), so answers, caching and retry
behaviour are the same as in-process. Requests go round-robin over pipes; the key travels in memory only.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
from dataclasses import asdict
from typing import Any

from interf_dsl.errors import BackendError
from interf_dsl.transfer.answers import Query, RemoteRequestError, classify_error, error_detail, parse_answers
from interf_dsl.transfer.session import close_clients, import_litellm, open_session


class RequestWorkers:
    """N spawned processes answering litellm calls; `call` is awaited from the client's event loop."""

    def __init__(self, n: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process holding torch / OpenMP threads
        self._conns, self._procs = [], []
        for _ in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="interf-transfer-worker")
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._next = itertools.cycle(range(n))
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.pids: set[int] = set()  # pids that answered (tests check the calls are spread)

    def _attach(self) -> None:
        """Watch the pipes from the running loop (each `asyncio.run` has a new loop)."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        self._detach()
        self._loop = loop
        for conn in self._conns:
            loop.add_reader(conn.fileno(), self._receive, conn)

    def _detach(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            for conn in self._conns:
                self._loop.remove_reader(conn.fileno())
        self._loop = None

    def _receive(self, conn: Any) -> None:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            self._fail_all("a transfer worker process exited")
            return
        req_id, pid, ok, payload = msg
        self.pids.add(pid)
        fut = self._pending.pop(req_id, None)
        if fut is None or fut.done():
            return
        if ok:
            fut.set_result(payload)
        else:
            fut.set_exception(RemoteRequestError(*payload))

    def _fail_all(self, reason: str) -> None:
        self._detach()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(BackendError(reason))
        self._pending.clear()

    async def call(self, kind: str, kwargs: dict[str, Any], queries: list[Any], chat: bool) -> list[dict[str, Any]]:
        """One litellm call in a worker: its parsed `Answer`s as dicts, or raises `RemoteRequestError`."""
        self._attach()
        req_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            self._conns[next(self._next)].send((req_id, kind, kwargs, [asdict(q) for q in queries], chat))
        except (BrokenPipeError, OSError):
            self._pending.pop(req_id, None)
            raise BackendError("a transfer worker process exited") from None
        try:
            return await fut
        finally:
            self._pending.pop(req_id, None)

    def close(self) -> None:
        self._detach()
        for conn in self._conns:
            try:
                conn.send(None)
                conn.close()
            except OSError:
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


def _worker_main(conn: Any) -> None:
    """Worker process: answer requests from `conn` until it sends None or closes."""
    asyncio.run(_serve(conn))


async def _serve(conn: Any) -> None:

    litellm = import_litellm()
    session = open_session()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(conn.recv())
        except (EOFError, OSError):
            inbox.put_nowait(None)

    loop.add_reader(conn.fileno(), readable)
    tasks: set[asyncio.Task] = set()
    try:
        while (msg := await inbox.get()) is not None:
            task = loop.create_task(_answer(litellm, conn, msg))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        loop.remove_reader(conn.fileno())
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await close_clients()
        if session is not None:
            await session.aclose()


async def _answer(litellm: Any, conn: Any, msg: tuple) -> None:

    req_id, kind, kwargs, queries, chat = msg
    call = litellm.acompletion if kind == "chat" else litellm.atext_completion
    try:
        resp = await call(**kwargs)
        answers = parse_answers(resp, [Query(**q) for q in queries], chat=chat)
        reply = (req_id, os.getpid(), True, [asdict(a) for a in answers])
    except Exception as exc:  # noqa: BLE001 - classified here, retried (or not) by the client
        kind_, retryable, wait = classify_error(exc)
        reply = (req_id, os.getpid(), False, (kind_, retryable, wait, error_detail(exc)[:2000]))
    try:
        conn.send(reply)
    except OSError:
        pass
