"""CLI verbs of the transfer area: `interf serve MODEL`, an OpenAI-compatible server over a local model."""

from __future__ import annotations

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
    ) -> None:
        """Serve MODEL at http://HOST:PORT/v1 (completions, chat completions, models) with logprobs."""
        import uvicorn

        from interf_dsl.backends.loading import load_model  # lazy: a command loads its stages (--help 0.2 s)
        from interf_dsl.transfer.faults import (  # lazy: a command loads its stages (--help 0.2 s)
            FaultConfig,
            parse_fault_args,
        )
        from interf_dsl.transfer.serve import create_app  # lazy: a command loads its stages (--help 0.2 s)

        faults = FaultConfig(parse_fault_args(fault or []), seed=fault_seed, retry_after_s=retry_after,
                             stall_s=stall_s)
        app_ = create_app(load_model(model), name=model.split(":")[-1], max_batch=max_batch,
                          batch_wait_ms=batch_wait_ms, latency_ms=latency_ms, faults=faults, threads=threads,
                          max_logprobs=max_logprobs)
        print(f"interf serve: {model} at http://{host}:{port}/v1 (litellm: model='openai/{model.split(':')[-1]}', "
              f"api_base='http://{host}:{port}/v1', any api_key)", flush=True)
        uvicorn.run(app_, host=host, port=port, log_level="warning", access_log=False)
