"""`interf serve` limits over real HTTP on 127.0.0.1: caps (413 / 400 / 404 / 504), cancellation when the client
leaves, SIGTERM / SIGINT mid-generation, and the banner printed only once the port is bound.

In-thread servers (`served`) cover the request checks; the signal, banner and body-size-memory cases run the real
`interf serve` command in a subprocess over a tiny model directory. A slow batch window (`batch_wait_ms`) makes a
generation of a few hundred tokens last seconds, so "in flight" is deterministic.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from transfer_server import served, tiny_model, tiny_tokenizer_dir

from interf_dsl.transfer.serve import (
    MAX_BODY_BYTES,
    MAX_N,
    MAX_PROMPTS,
    MAX_REQUEST_S,
    MAX_TOKENS,
    ServeLimits,
)

BODY = {"model": "tiny", "prompt": "we went to", "max_tokens": 1, "temperature": 0}
CHAT = {"model": "tiny", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
SLOW = {"threads": 1, "batch_wait_ms": 50}  # every generated token waits 50 ms for its batch


def _error(r: httpx.Response, status: int, param: str | None, code: str | None) -> str:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert (err["param"], err["code"]) == (param, code), err
    assert err["type"] == ("invalid_request_error" if status < 500 else "timeout_error")
    return err["message"]


def _raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict]:
    """Send raw bytes, read the whole answer (the server closes the connection): (status, JSON body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head_part, _, payload = data.partition(b"\r\n\r\n")
    return int(head_part.split(b" ", 2)[1]), json.loads(payload)


# ------------------------------------------------------------------------------------------------ body size

def test_body_over_the_cap_is_413_from_content_length_alone():
    with served(threads=1) as base:
        port = int(base.rsplit(":", 1)[1].split("/")[0])
        head = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000000\r\n\r\n")
        t0 = time.monotonic()
        status, body = _raw_request(port, head, b'{"prompt": "')  # 100 MB announced, 12 bytes sent
        assert status == 413 and body["error"]["code"] == "request_too_large"
        assert time.monotonic() - t0 < 5


def test_chunked_body_over_the_cap_is_413_once_the_cap_is_crossed():
    cap = 64 * 1024
    with served(threads=1, limits=ServeLimits(max_body_bytes=cap)) as base:
        port = int(base.rsplit(":", 1)[1].split("/")[0])
        head = (b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 8192
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(cap // len(chunk) + 1))
        status, answer = _raw_request(port, head, body)
        assert status == 413 and str(cap) in answer["error"]["message"].replace(",", "")
        assert httpx.post(f"{base}/completions", json=BODY).status_code == 200  # under the cap: served


# ------------------------------------------------------------------------------------------------ field checks

@pytest.fixture(scope="module")
def base():
    """One server for the request checks (none of them changes its state)."""
    with served(threads=1) as api_base:
        yield api_base


@pytest.mark.parametrize(("change", "param", "code"), [
    ({"max_tokens": MAX_TOKENS + 1}, "max_tokens", "invalid_value"),
    ({"max_tokens": 1e9}, "max_tokens", "invalid_type"),
    ({"max_tokens": -1}, "max_tokens", "invalid_value"),
    ({"max_tokens": 0}, "max_tokens", "invalid_value"),
    ({"max_tokens": "16"}, "max_tokens", "invalid_type"),
    ({"n": MAX_N + 1}, "n", "invalid_value"),
    ({"n": 0}, "n", "invalid_value"),
    ({"n": 1.5}, "n", "invalid_type"),
    ({"n": True}, "n", "invalid_type"),
    ({"temperature": -0.5}, "temperature", "invalid_value"),
    ({"temperature": 3}, "temperature", "invalid_value"),
    ({"temperature": "hot"}, "temperature", "invalid_type"),
    ({"logprobs": -1}, "logprobs", "invalid_value"),
    ({"logprobs": "5"}, "logprobs", "invalid_type"),
    ({"seed": "x"}, "seed", "invalid_type"),
    ({"prompt": {"text": "hi"}}, "prompt", "invalid_type"),
    ({"prompt": [1, 2, 3]}, "prompt", "invalid_value"),
    ({"prompt": []}, "prompt", "invalid_value"),
    ({"prompt": ["a"] * (MAX_PROMPTS + 1)}, "prompt", "invalid_value"),
    ({"prompt": ["a"] * 100, "n": 100}, "n", "invalid_value"),
    ({"stream": True}, "stream", "unsupported_value"),
    ({"model": None}, "model", "missing_required_parameter"),
])
def test_completions_fields_are_checked(change, param, code, base):
    _error(httpx.post(f"{base}/completions", json={**BODY, **change}), 400, param, code)


@pytest.mark.parametrize(("change", "param", "code"), [
    ({"messages": "hi"}, "messages", "invalid_type"),
    ({"messages": []}, "messages", "invalid_type"),
    ({"messages": [{"role": "user", "content": {"a": 1}}]}, "messages", "invalid_type"),
    ({"logprobs": "yes"}, "logprobs", "invalid_type"),
    ({"logprobs": True, "top_logprobs": -2}, "top_logprobs", "invalid_value"),
    ({"max_completion_tokens": MAX_TOKENS + 1}, "max_completion_tokens", "invalid_value"),
])
def test_chat_fields_are_checked(change, param, code, base):
    _error(httpx.post(f"{base}/chat/completions", json={**CHAT, **change}), 400, param, code)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_inf_are_400_not_500(literal, base):
    raw = json.dumps(BODY)[:-1] + f', "temperature": {literal}}}'
    r = httpx.post(f"{base}/completions", content=raw, headers={"content-type": "application/json"})
    assert literal.lstrip("-").lower()[:3] in _error(r, 400, "temperature", "invalid_value").lower()


def test_unknown_model_is_404_model_not_found(base):
    _error(httpx.post(f"{base}/completions", json={**BODY, "model": "gpt-4o"}), 404, "model", "model_not_found")
    _error(httpx.post(f"{base}/chat/completions", json={**CHAT, "model": "x"}), 404, "model", "model_not_found")


def test_long_prompt_is_400_never_cut(base):
    n_ctx = int(tiny_model().cfg.n_ctx)
    long = " ".join(["we went to the city"] * n_ctx)
    msg = _error(httpx.post(f"{base}/completions", json={**BODY, "prompt": long}), 400, "prompt",
                 "context_length_exceeded")
    assert f"maximum context length is {n_ctx} tokens" in msg
    fits = " ".join(["city"] * (n_ctx // 2))  # fits alone, not with the completion asked for
    _error(httpx.post(f"{base}/completions", json={**BODY, "prompt": fits, "max_tokens": n_ctx}), 400, "prompt",
           "context_length_exceeded")
    _error(httpx.post(f"{base}/chat/completions", json={**CHAT, "messages": [{"role": "user", "content": long}]}),
           400, "messages", "context_length_exceeded")


def test_valid_requests_still_answer(base):
    r = httpx.post(f"{base}/completions", json={**BODY, "prompt": ["a", "b"], "n": 2, "logprobs": 3, "seed": 1,
                                                 "temperature": 0.7, "max_tokens": 2})
    assert r.status_code == 200 and len(r.json()["choices"]) == 4
    r = httpx.post(f"{base}/completions", json={**BODY, "seed": -(2**63), "temperature": 1})
    assert r.status_code == 200
    r = httpx.post(f"{base}/chat/completions", json={**CHAT, "logprobs": True, "top_logprobs": 2,
                                                      "max_completion_tokens": 2, "temperature": None})
    assert r.status_code == 200 and len(r.json()["choices"][0]["logprobs"]["content"]) == 2


# ------------------------------------------------------------------------------------------------ time and cancellation

def _forwards_settle(app_state, wait_s: float = 1.0) -> tuple[int, int]:
    before = app_state.batcher.stats.forwards
    time.sleep(wait_s)
    return before, app_state.batcher.stats.forwards


def _served_app(**kw):
    """An in-thread server whose app is reachable (to read the batcher's forward count)."""
    from interf_dsl.transfer.serve import ServerThread, create_app

    app = create_app(tiny_model(), name="tiny", **kw)
    return app, ServerThread(app)


def test_request_time_cap_stops_generation_with_504():
    app, server = _served_app(**SLOW, limits=ServeLimits(max_request_s=0.5))
    with server:
        t0 = time.monotonic()
        r = httpx.post(f"{server.api_base}/completions", json={**BODY, "max_tokens": 200}, timeout=30)
        took = time.monotonic() - t0
        _error(r, 504, None, "request_timeout")
        assert took < 8  # 200 tokens x 50 ms take at least 10 s
        time.sleep(0.3)
        before, after = _forwards_settle(app.state)
        assert after - before <= 1, "the generation kept running after the 504"


def test_client_disconnect_stops_generation():
    app, server = _served_app(**SLOW)
    with server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{server.api_base}/completions", json={**BODY, "max_tokens": 200}, timeout=0.6)
        time.sleep(2 * 0.1 + 0.3)  # the server polls for a disconnect every DISCONNECT_POLL_S
        before, after = _forwards_settle(app.state)
        assert after - before <= 1, "the generation kept running after the client left"
        assert before < 40, "200 tokens were generated for a client that left"


def test_server_thread_stop_ends_in_flight_generation():
    app, server = _served_app(**SLOW)
    server.start()
    out: list = []
    worker = threading.Thread(target=lambda: out.append(_try_post(server.api_base, {**BODY, "max_tokens": 200})))
    worker.start()
    time.sleep(0.8)
    t0 = time.monotonic()
    server.stop()
    assert time.monotonic() - t0 < 5 and not server.thread.is_alive()
    worker.join(10)


def _try_post(base: str, body: dict) -> object:
    try:
        return httpx.post(f"{base}/completions", json=body, timeout=30).status_code
    except httpx.HTTPError as exc:
        return exc


# ------------------------------------------------------------------------------------------------ the real command

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """The tiny test model as a local model directory (config.json + safetensors + tokenizer), for `interf serve`."""
    from safetensors.torch import save_file

    model = tiny_model()
    out = tmp_path_factory.mktemp("tiny-model")
    fields = {k: getattr(model.cfg, k) for k in ("n_layers", "d_model", "n_ctx", "d_head", "n_heads", "d_mlp",
                                                  "d_vocab", "act_fn")}
    (out / "config.json").write_text(json.dumps({"hooked_transformer_config": fields}))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if not k.endswith((".IGNORE", ".mask"))}
    save_file(state, str(out / "model.safetensors"))
    for f in tiny_tokenizer_dir().iterdir():
        shutil.copy(f, out / f.name)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Serve:
    """`interf serve MODEL_DIR --port P ...` in a subprocess; `banner()` waits for its first stdout line."""

    def __init__(self, model_dir: Path, *args: str) -> None:
        self.port = _free_port()
        exe = Path(sys.executable).with_name("interf")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.proc = subprocess.Popen([str(exe), "serve", str(model_dir), "--port", str(self.port), "--threads", "1",
                                      *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self.name = str(model_dir)

    def banner(self, timeout_s: float = 120) -> str:
        """The banner line (transformer_lens may print before it)."""
        found: list[str] = []

        def read() -> None:
            for line in self.proc.stdout:
                if line.startswith("interf serve:"):
                    found.append(line)
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout_s)
        assert found, f"no banner: {self.proc.poll()} {self.proc.stderr.read() if self.proc.poll() else ''}"
        return found[0]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def test_banner_only_once_the_port_takes_connections(model_dir):
    srv = _Serve(model_dir)
    try:
        assert f"127.0.0.1:{srv.port}/v1" in srv.banner()
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()  # bound and listening already
        r = httpx.get(f"{srv.base}/models", timeout=20)
        assert r.json()["data"][0]["id"] == srv.name
    finally:
        srv.stop()


def test_port_in_use_is_an_error_and_no_banner(model_dir):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        exe = Path(sys.executable).with_name("interf")
        res = subprocess.run([str(exe), "serve", str(model_dir), "--port", str(port)], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 1 and "interf serve:" not in res.stdout
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr and "internal error" not in res.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_generation_exits_within_5_s(model_dir, sig):
    srv = _Serve(model_dir, "--batch-wait-ms", "100")
    try:
        srv.banner()
        body = {**BODY, "model": srv.name, "max_tokens": 200}  # 200 tokens x 100 ms: 20 s of generation
        out: list = []
        worker = threading.Thread(target=lambda: out.append(_try_post(srv.base, body)), daemon=True)
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive(), "the generation is in flight"
        t0 = time.monotonic()
        srv.proc.send_signal(sig)
        srv.proc.wait(timeout=5)
        took = time.monotonic() - t0
        assert took < 5
        assert srv.proc.returncode in ((0,) if sig == signal.SIGINT else (-signal.SIGTERM, 0))
        assert "internal error" not in srv.proc.stderr.read()
    finally:
        srv.stop()


def test_100_mb_body_is_refused_with_bounded_memory(model_dir):
    srv = _Serve(model_dir)
    try:
        srv.banner()
        t0 = time.monotonic()
        try:
            r = httpx.post(f"{srv.base}/completions", content=b"x" * 100_000_000, timeout=30,
                           headers={"content-type": "application/json"})
            assert r.status_code == 413
        except httpx.TransportError:
            pass  # the server answered 413 and closed while the client was still sending: refused either way
        assert time.monotonic() - t0 < 10
        rss_kb = int(next(line.split()[1] for line in Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:")))
        assert rss_kb < 1024 * 1024, f"serve RSS {rss_kb} kB"
        ok = httpx.post(f"{srv.base}/completions", json={**BODY, "model": srv.name}, timeout=20)
        assert ok.status_code == 200
    finally:
        srv.stop()


def test_cli_defaults_are_the_named_constants():
    from typer.main import get_command

    from interf_dsl.cli import app

    params = {p.name: p.default for p in get_command(app).commands["serve"].params}
    assert (params["max_tokens"], params["max_n"], params["max_body_bytes"], params["max_request_s"]) == (
        MAX_TOKENS, MAX_N, MAX_BODY_BYTES, MAX_REQUEST_S)
