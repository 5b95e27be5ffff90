"""Test helper: a minimal OpenAI-compatible chat endpoint on 127.0.0.1, for clients that must go through litellm over
real HTTP (explainers, sentence sources). `chat_server(answer)` starts it in a thread and yields `Chat`: its
`api_base`, and every request it saw (`requests`: the JSON body and the Authorization header). With `embed`, it
also answers `/embeddings` (one vector per input text), standing in for an embedding provider."""

from __future__ import annotations

import contextlib
import hashlib
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
def chat_server(answer: Callable[[dict[str, Any]], str],
                embed: Callable[[str], list[float]] | None = None) -> Iterator[Chat]:
    """Serve chat completions whose content is `answer(body)` (and, with `embed`, embeddings) until the block ends."""
    chat = Chat("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            chat.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
            if self.path.rstrip("/").endswith("/embeddings") and embed is not None:
                texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
                self._reply({"object": "list", "model": body["model"], "usage": {"prompt_tokens": len(texts),
                                                                                 "total_tokens": len(texts)},
                             "data": [{"object": "embedding", "index": i, "embedding": embed(t)}
                                      for i, t in enumerate(texts)]})
                return
            self._reply({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": answer(body)}}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}})

        def _reply(self, reply: dict[str, Any]) -> None:
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


def hashed_embedding(text: str, dim: int = 32) -> list[float]:
    """A deterministic unit vector per text (a bag of hashed words), so related texts share directions."""
    vec = [0.0] * dim
    for word in text.lower().split() or [""]:
        h = hashlib.sha256(word.encode()).digest()
        vec[h[0] % dim] += 1.0 if h[1] % 2 else -1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]
