"""The same keystrokes against llama.cpp's own `llama-server` (the engine llama.vim and
llama.vscode talk to): `/completion` with `cache_prompt`, the plain "N lines before the
cursor" prompt of the floor (`/infill` with the text after the cursor for FIM models),
greedy, stop at newline, the same threads and context.

The server is started here on 127.0.0.1 with the flags llama.vim recommends that apply
on a CPU (`--cache-reuse 256`, one slot), flash attention off and codehearth's own
OpenMP wait policy (passive), as our engine runs, and stopped at the end. Build it
from the llama-cpp-python sdist (docs/performance.md says how).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path

from .common import ReplayReport, make_report, plan_typing
from .replay import _floor_prompt


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    def __init__(self, binary: str, model_path: str, n_ctx: int, threads: int | None) -> None:
        self.port = _free_port()
        cmd = [binary, "-m", model_path, "--host", "127.0.0.1", "--port", str(self.port)]
        # Flash attention off, as llama-cpp-python (our engine) has it: on a CPU it made
        # llama-server's generation about half as fast with this small model.
        cmd += ["-c", str(n_ctx), "-np", "1", "--cache-reuse", "256", "--no-webui", "-fa", "off"]
        # The threads our engine gets by default (all cores): llama-server's own default
        # counts physical cores only, which made it slower than the same model in ours.
        threads = threads or os.cpu_count() or 1
        cmd += ["-t", str(threads), "-tb", str(threads)]
        # The OpenMP wait policy codehearth itself runs with (docs/performance.md): with
        # the default active waiting, llama.cpp's generation collapses on a busy machine.
        env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        self.conn: http.client.HTTPConnection | None = None

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = self.get("/health")
                if status == 200:
                    return
            time.sleep(0.3)
        raise TimeoutError("llama-server did not get ready")

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        return self.conn

    def get(self, path: str) -> tuple[int, bytes]:
        conn = self._connection()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn = None
            raise

    def post(self, path: str, body: dict) -> dict:
        conn = self._connection()
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"llama-server {path}: HTTP {response.status}: {data[:200]!r}")
        return json.loads(data)

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def replay_llama_server(
    args: argparse.Namespace, files: list[Path], model_path: str, fim: bool = False
) -> ReplayReport:
    server = LlamaServer(args.llama_server, model_path, args.context, args.n_threads)
    try:
        server.wait_ready()
        latencies: list[float] = []
        prompt_n = cached_n = non_empty = 0
        for path in files:
            _, opened, strokes = plan_typing(path, args.start_line, args.keystrokes)
            lines = opened.splitlines(keepends=True)
            for ks in strokes:
                body = _request(_floor_prompt(lines, ks, args.lines_before), args, fim)
                started = time.perf_counter()
                reply = server.post("/infill" if fim else "/completion", body)
                latencies.append((time.perf_counter() - started) * 1000)
                timings = reply.get("timings", {})
                prompt_n += int(timings.get("prompt_n", 0))
                cached_n += int(timings.get("cache_n", reply.get("tokens_cached", 0)))
                non_empty += bool(str(reply.get("content", "")).strip())
    finally:
        server.stop()
    reuse = cached_n / max(1, cached_n + prompt_n)
    name = f"llama-server {'/infill' if fim else '/completion'} (cache_prompt)"
    return make_report(name, latencies, reuse, non_empty)


def _request(prompt: str, args: argparse.Namespace, fim: bool) -> dict:
    body = {
        "n_predict": args.max_tokens,
        "cache_prompt": True,
        "temperature": 0.0,
        "top_k": 40,
        "stop": ["\n"],
        "stream": False,
    }
    if fim:  # llama.vim's request shape: the text before the cursor as prefix
        head, _, tail = prompt.rpartition("\n")
        body.update({"input_prefix": head + "\n" if head else "", "prompt": tail})
    else:
        body["prompt"] = prompt
    return body
