"""CLI verbs of the transfer area: `interf serve MODEL`, an OpenAI-compatible server over a local model."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach this area's verbs to the main app."""

    @app.command()
    def serve(
        model: Annotated[str, typer.Argument(help="A zoo model (zoo:target-tiny) or a transformer_lens model name.")],
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        max_batch: Annotated[int, typer.Option(help="Most requests run in one forward pass.")] = 32,
        batch_wait_ms: Annotated[float, typer.Option(help="How long to collect requests into a batch.")] = 5.0,
        latency_ms: Annotated[float, typer.Option(help="Injected latency per request (benchmarks).")] = 0.0,
        fault: Annotated[list[str] | None, typer.Option(
            help="Inject faults: KIND=RATE, KIND one of 429, 500, stall, malformed, no_logprobs (repeatable).")] = None,
        fault_seed: Annotated[int, typer.Option(help="Seed of the fault draws.")] = 0,
        retry_after: Annotated[float, typer.Option(help="Retry-After seconds sent with an injected 429.")] = 0.05,
        stall_s: Annotated[float, typer.Option(help="How long an injected stall sleeps.")] = 60.0,
        threads: Annotated[int | None, typer.Option(help="torch intra-op threads (default: torch's).")] = None,
        max_logprobs: Annotated[int, typer.Option(
            help="Most top logprobs returned per token (a provider-like cap; OpenAI completions: 5).")] = 100,
        max_tokens: Annotated[int, typer.Option(help="Most tokens one choice may generate (more: 400).")] = 1024,
        max_n: Annotated[int, typer.Option(help="Most choices per prompt, `n` (more: 400).")] = 128,
        max_body_bytes: Annotated[int, typer.Option(help="Largest request body (more: 413).")] = 2 * 1024 * 1024,
        max_request_s: Annotated[float, typer.Option(
            help="Longest generation of one request (more: stopped, 504).")] = 120.0,
    ) -> None:
        """Serve MODEL at http://HOST:PORT/v1 (completions, chat completions, models) with logprobs.

        Bad requests get OpenAI-style 4xx errors (limits: interf_dsl/transfer/serve.py); SIGTERM or Ctrl-C stops the
        server within seconds, in-flight generations included.
        """
        from interf_dsl.backends.loading import load_model  # lazy: a command loads its stages (--help 0.2 s)
        from interf_dsl.transfer.faults import (  # lazy: a command loads its stages (--help 0.2 s)
            FaultConfig,
            parse_fault_args,
        )
        from interf_dsl.transfer.serve import (  # lazy: a command loads its stages (--help 0.2 s)
            ServeLimits,
            create_app,
            serve_forever,
        )

        faults = FaultConfig(parse_fault_args(fault or []), seed=fault_seed, retry_after_s=retry_after,
                             stall_s=stall_s)
        limits = ServeLimits(max_body_bytes=max_body_bytes, max_tokens=max_tokens, max_n=max_n,
                             max_request_s=max_request_s)
        name = model.split(":")[-1]
        app_ = create_app(load_model(model), name=name, max_batch=max_batch, batch_wait_ms=batch_wait_ms,
                          latency_ms=latency_ms, faults=faults, threads=threads, max_logprobs=max_logprobs,
                          limits=limits)

        def banner() -> None:
            print(f"interf serve: {model} at http://{host}:{port}/v1 (litellm: model='openai/{name}', "
                  f"api_base='http://{host}:{port}/v1', any api_key)", flush=True)

        try:
            serve_forever(app_, host, port, banner)
        except KeyboardInterrupt:
            print("interf serve: stopped", flush=True)
            sys.stderr.flush()
            # The server is down and holds no files: skip the interpreter's teardown of torch and the model, which
            # takes seconds on a busy machine (SIGTERM ends the process the same way, by its default action).
            os._exit(0)
