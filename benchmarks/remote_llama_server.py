"""The remote backend against llama.cpp's own llama-server (not a stub): FIM, tokenizer, chat.

Writes a tiny random-weight GGUF with Qwen2.5-Coder's FIM tokens and a ChatML template
(tests/fixtures/tiny_gguf.py), starts the given `llama-server` binary on it (127.0.0.1,
`-np 2 --cache-reuse 256`), points a manifest entry (`backend = "openai"`) at it and
drives a real `codehearth serve` over stdio:

* the probe must find llama-server, its `/infill` FIM route and its `/tokenize` counter;
* inline completions at `--requests` positions of a file go through `/infill` (the
  route the probe chose; llama-server's `/metrics` token counts are printed);
* a chat reply comes back through `/v1/chat/completions`.

The output is random text (random weights): what is checked is the path, the timings are
the engine's round trip. Build llama-server from the llama-cpp-python sdist as described in
docs/performance.md ("Against llama.cpp's llama-server").

    python benchmarks/remote_llama_server.py --llama-server PATH [--requests 20] [--json out]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT))

from lsprotocol import types  # noqa: E402
from tests.fixtures.tiny_gguf import write_tiny_gguf  # noqa: E402

from codehearth.bench_client import BenchClient  # noqa: E402

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FILE = ROOT / "tests" / "data" / "inventory.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.2)
    raise TimeoutError("llama-server did not become healthy")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


async def drive(manifest: Path, requests: int) -> dict[str, Any]:
    client = BenchClient()
    init = {"manifest": str(manifest), "model": "team", "completion": {"temperature": 0.0}}
    await client.client.start_io(
        sys.executable, "-m", "codehearth.cli", "serve", "--in-process", env=dict(os.environ)
    )
    await client.client.initialize_async(
        types.InitializeParams(
            process_id=os.getpid(),
            capabilities=types.ClientCapabilities(),
            initialization_options=init,
        )
    )
    client.client.initialized(types.InitializedParams())
    try:
        status = await wait_ready(client)
        lines = FILE.read_text().splitlines()
        client.open("file:///bench/inventory.py", FILE.read_text(), "python")
        latencies, answered = [], 0
        spots = [(i, len(line)) for i, line in enumerate(lines) if line.strip()][:requests]
        for line, character in spots:
            params = types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri="file:///bench/inventory.py"),
                position=types.Position(line=line, character=character),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
            started = time.perf_counter()
            result = await client.client.text_document_inline_completion_async(params)
            latencies.append((time.perf_counter() - started) * 1000)
            answered += result is not None
        hello = {"message": "Say hello.", "sampling": {"maxTokens": 24}}
        chat = await execute(client, "codehearth.chat", hello)
        return {
            "remote": status.get("remote"),
            "n_ctx": status.get("n_ctx"),
            "completions": len(latencies),
            "answered": answered,
            "p50_ms": round(statistics.median(latencies), 1),
            "max_ms": round(max(latencies), 1),
            "chat_reply_chars": len(chat.get("reply") or ""),
            "chat_stop_reason": chat.get("stop_reason"),
        }
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 30)


def _plain(obj: Any) -> Any:
    if hasattr(obj, "_asdict"):
        return {k: _plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: _plain(v) for k, v in vars(obj).items()}
    return obj


async def execute(client: BenchClient, command: str, *arguments: Any) -> dict[str, Any]:
    params = types.ExecuteCommandParams(command=command, arguments=list(arguments))
    return _plain(await client.client.workspace_execute_command_async(params))


async def wait_ready(client: BenchClient, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await execute(client, "codehearth.status")
        if status["state"] in ("ready", "error"):
            return status
        await asyncio.sleep(0.2)
    raise TimeoutError("codehearth serve did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-server", required=True)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codehearth-llama-server-") as tmp:
        model = write_tiny_gguf(Path(tmp) / "tiny-coder.gguf", "qwen2.5-coder",
                                chat_template=CHATML, name="tiny-coder")  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(Path(tmp) / "llama-server.log", "w")  # noqa: SIM115 - closed below
        server = subprocess.Popen(
            [args.llama_server, "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
             "-c", "4096", "-t", "2", "-np", "2", "--cache-reuse", "256", "--metrics",
             "-a", "tiny-coder"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_healthy(url)
            manifest = Path(tmp) / "models.toml"
            manifest.write_text(
                f'[models.team]\nbackend = "openai"\nbase_url = "{url}/v1"\n'
                'remote_model = "tiny-coder"\nroles = ["completion", "chat"]\n'
            )
            result = asyncio.run(drive(manifest, args.requests))
            result["slots"] = len(get_json(f"{url}/slots"))
            with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
                metrics = answer.read().decode()
            wanted = ("llamacpp:prompt_tokens_total", "llamacpp:tokens_predicted_total")
            result["llama_server_metrics"] = [
                line for line in metrics.splitlines() if line.startswith(wanted)
            ]
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    ok = (
        result["remote"]
        and result["remote"]["server"] == "llama-server"
        and result["remote"]["fim"] == "infill"
        and result["remote"]["token_counter"] == "engine"
        and result["answered"] == result["completions"]
        and result["chat_reply_chars"] > 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
