"""A bare JSON-RPC client for hostile input: sends bytes no well-behaved client would."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from typing import Any


class RawLspClient:
    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._waiters: dict[int | str, asyncio.Future] = {}
        self.notifications: list[dict[str, Any]] = []
        self.stderr = bytearray()
        self._tasks: list[asyncio.Task] = []

    async def start(
        self, *args: str, init_options: dict | None = None, process_id: int | None = None
    ) -> dict:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "codehearth.cli",
            "serve",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ),
        )
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]
        result = await self.request(
            "initialize",
            {
                "processId": process_id,
                "rootUri": None,
                "capabilities": {},
                "initializationOptions": init_options,
            },
            timeout=60,
        )
        await self.notify("initialized", {})
        return result

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self.stderr.extend(chunk)

    async def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        reader = self.proc.stdout
        while True:
            length = None
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = json.loads(await reader.readexactly(length or 0))
            self._dispatch(body)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message and ("result" in message or "error" in message):
            waiter = self._waiters.pop(message["id"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        else:
            self.notifications.append(message)

    async def send_bytes(self, payload: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(payload)
        await self.proc.stdin.drain()

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_bytes(frame(message))

    async def wait_loaded(self, timeout: float = 60) -> dict[str, Any]:
        """The status once the model is no longer loading (ready, or an error)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            reply = await self.request(
                "workspace/executeCommand", {"command": "codehearth.status", "arguments": []}
            )
            status = reply["result"]
            if status["state"] != "loading" or asyncio.get_running_loop().time() > deadline:
                return status
            await asyncio.sleep(0.05)

    async def request(self, method: str, params: Any, timeout: float = 30) -> dict:
        """The whole response message: {"result": ...} or {"error": {...}}."""
        msg_id = next(self._ids)
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = waiter
        await self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return await asyncio.wait_for(waiter, timeout)

    async def notify(self, method: str, params: Any) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            try:
                await self.request("shutdown", None, timeout=10)
                await self.notify("exit", None)
                await asyncio.wait_for(self.proc.wait(), 10)
            except (TimeoutError, ConnectionError):
                self.proc.kill()
                await self.proc.wait()
        for task in self._tasks:
            task.cancel()


def frame(message: dict[str, Any]) -> bytes:
    """One LSP message as it goes on the wire."""
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body
