"""Test helpers for codehearth.remote: a real llama_cpp.server process, and a tiny stdlib
engine for the paths llama_cpp.server cannot show (no tokenizer route, llama-server /infill,
5xx retries, slow answers). The stub speaks the wire formats only; it generates canned text.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

REPLY = ["def ", "add", "(a, ", "b):", "\n", "    return ", "a + b", "\n"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_cpp_server(
    model: Path, alias: str, n_ctx: int = 2048, extra: Sequence[str] = ()
) -> Iterator[str]:
    """Run `python -m llama_cpp.server` on a free port; yields its root URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--verbose", "False"]
    cmd += extra
    # Busy-waiting OpenMP threads would starve the test process on a 2-core machine.
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    # A file, not a pipe: nobody reads the log while the server runs, and a full pipe blocks it.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(proc, url + "/v1/models", log, deadline=time.monotonic() + 60)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_ready(proc: subprocess.Popen, url: str, log: IO[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"llama_cpp.server did not answer {url} within 60 s")


class FakeEngine:
    """Stdlib HTTP engine. flavour "openai": /v1/models + streamed /v1/completions only;
    "llama-server": also /props, /tokenize and streamed /infill in llama-server's format."""

    def __init__(self, flavour: str = "openai", model: str = "fake-coder") -> None:
        self.flavour, self.model = flavour, model
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, json body) of POSTs
        self.fail_next: list[int] = []  # statuses to answer generation requests with, in order
        self.delay_s = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeEngine:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(engine: FakeEngine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._json(
                    200, {"object": "list", "data": [{"id": engine.model, "owned_by": "me"}]}
                )
            elif self.path == "/props" and engine.flavour == "llama-server":
                self._json(200, {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1})
            else:
                self._json(404, {"error": {"message": "Not Found"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            engine.requests.append((self.path, body))
            native = engine.flavour == "llama-server"
            if self.path == "/tokenize" and native:
                return self._json(200, {"tokens": list(range(len(body["content"].split())))})
            if self.path not in ("/v1/completions", "/infill") or (
                self.path == "/infill" and not native
            ):
                return self._json(404, {"error": {"message": "Not Found"}})
            time.sleep(engine.delay_s)
            if engine.fail_next:
                return self._json(engine.fail_next.pop(0), {"error": {"message": "engine busy"}})
            limit = body.get("max_tokens") or body.get("n_predict") or 16
            pieces = REPLY[:limit]
            if self.path == "/infill" and not body.get("stream"):
                return self._json(200, {"content": "".join(pieces), "stop": True})
            events = (
                _infill_events(pieces, limit)
                if self.path == "/infill"
                else _oai_events(pieces, limit)
            )
            self._sse(events)

        def _json(self, status: int, payload: object) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _sse(self, events: list[str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for event in events:
                    self.wfile.write(f"data: {event}\n\n".encode())
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client cancelled or timed out: expected in these tests

    return Handler


def _oai_events(pieces: list[str], limit: int) -> list[str]:
    finish = "length" if len(pieces) == limit else "stop"
    chunks = [{"choices": [{"index": 0, "text": p, "finish_reason": None}]} for p in pieces]
    chunks.append({"choices": [{"index": 0, "text": "", "finish_reason": finish}]})
    base = {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "fake-coder"}
    return [json.dumps({**base, **c}) for c in chunks] + ["[DONE]"]


def _infill_events(pieces: list[str], limit: int) -> list[str]:
    # llama-server's native stream: no [DONE]; the last event carries stop/stop_type/counts.
    events = [{"content": p, "stop": False} for p in pieces]
    stop_type = "limit" if len(pieces) == limit else "eos"
    final = {"tokens_predicted": len(pieces), "tokens_evaluated": 7}
    events.append({"content": "", "stop": True, "stop_type": stop_type, **final})
    return [json.dumps(e) for e in events]
