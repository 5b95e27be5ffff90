"""Test helper: a minimal OpenAI-compatible chat endpoint on 127.0.0.1, for clients that must go through litellm over
real HTTP (explainers, sentence sources). `chat_server(answer)` starts it in a thread and yields `Chat`: its
`api_base`, and every request it saw (`requests`: the JSON body and the Authorization header)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


@dataclass
class Chat:
    api_base: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Each request: {"body": the JSON body, "authorization": its Authorization header or None}."""


@contextlib.contextmanager
def chat_server(answer: Callable[[dict[str, Any]], str]) -> Iterator[Chat]:
    """Serve chat completions whose content is `answer(body)` until the block ends."""
    chat = Chat("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            chat.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
            reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": answer(body)}}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    chat.api_base = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        yield chat
    finally:
        server.shutdown()
        server.server_close()
