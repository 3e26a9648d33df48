"""`serve --tcp`: loopback by default, other interfaces refused unless asked for."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_non_loopback_host_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "codehearth.cli", "serve", "--tcp", "0", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "only loopback" in proc.stderr


async def test_tcp_server_on_loopback_serves_lsp():
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "codehearth.cli",
        "serve",
        "--tcp",
        str(port),
        stderr=asyncio.subprocess.DEVNULL,
        env=dict(os.environ),
    )
    client = LanguageClient("tcp-test", "0")
    try:
        for _ in range(100):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        result = await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(capabilities=types.ClientCapabilities())
            ),
            30,
        )
        assert result.capabilities.inline_completion_provider is not None
        # Listening on loopback only: the port is not bound on other addresses.
        listening = [
            line.split()[1]
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
            if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"
        ]
        assert listening == [f"0100007F:{port:04X}"]
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
