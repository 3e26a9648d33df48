"""The editor survives the shared engine: SIGKILL of the engine under two real LSP clients.

Each editor's `codehearth serve --shared` relay answers what was in flight with
RequestFailed, says `restarting`, starts a new engine and replays initialize and the open
documents at their current text, so the clients carry on without being restarted. Three
deaths within a minute stop the restarts with a message that says so.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from .harness import ServerSession, execute, items_of

REQUEST_FAILED = -32803
# Greedy and without a time budget: the same text gives the same suggestion every time.
GREEDY = {
    "completion": {
        "temperature": 0.0,
        "maxTokensSingle": 8,
        "timeBudgetMs": 0,
        "firstTimeBudgetMs": 0,
    }
}
A_TEXT = "def add(a, b):\n    return a + b\n\n"
B_TEXT = "class Stack:\n    def __init__(self):\n        self.items = []\n\n"


@pytest.fixture
def runtime_dir(private_runtime_dir: Path) -> Path:
    """This test's own runtime dir (tests/e2e/conftest.py): a private engine, every engine
    it had killed after the test."""
    return private_runtime_dir


async def _editor() -> ServerSession:
    session = ServerSession()
    await session.start("--shared", "--idle-timeout", "30", init_options=GREEDY)
    return session


async def _engine_pid(editor: ServerSession) -> int:
    status = await editor.wait_state("ready")
    assert status["state"] == "ready", status
    return status["engine"]["pid"]


async def _new_engine(editor: ServerSession, old_pid: int, timeout: float = 60) -> dict:
    """Until a new engine (not `old_pid`) answers this editor's status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await _status(editor)
        if status["engine"]["pid"] not in (old_pid, 0) and status["state"] != "restarting":
            return status
        await asyncio.sleep(0.1)
    raise AssertionError("no new engine came up")


async def _status(editor: ServerSession) -> dict:
    """codehearth.status; asked again when the engine died while answering it."""
    while True:
        try:
            return await editor.status()
        except JsonRpcException as exc:
            assert exc.code == REQUEST_FAILED, exc
            await asyncio.sleep(0.05)


async def _until_generating(observer: ServerSession) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = await observer.status()
        if status["state"] == "busy" and status["queue_depth"] == 0:
            await asyncio.sleep(0.3)  # into the generation, past the prompt
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the chat never started")


async def test_both_editors_survive_a_sigkill_of_the_engine_mid_generation(runtime_dir: Path):
    a = await _editor()
    b = await _editor()
    try:
        pid = await _engine_pid(a)
        assert await _engine_pid(b) == pid
        ua, ub = "file:///tmp/a.py", "file:///tmp/b.py"
        a.open(ua, A_TEXT)
        b.open(ub, B_TEXT)
        a.change(ua, 3, 0, "def mul(x, y):\n    return ")
        b.change(ub, 4, 0, "    def push(self, item):\n        self.")
        before_b = items_of(await b.complete(ub, 5, 13))

        chat = asyncio.ensure_future(
            execute(
                a,
                "codehearth.chat",
                {"message": "Tell a very long story.", "sampling": {"maxTokens": 4000}},
                timeout=120,
            )
        )
        await _until_generating(b)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(JsonRpcException) as failed:
            await chat
        assert failed.value.code == REQUEST_FAILED
        assert "shared engine" in str(failed.value) and "restarting" in str(failed.value)
        # Typed while the engine is down: the new engine must get this text too.
        a.change(ua, 4, 11, "x * y\n\ndef sub(p, q):\n    return ")

        status_a, status_b = await _new_engine(a, pid), await _new_engine(b, pid)
        assert status_a["engine"]["pid"] == status_b["engine"]["pid"] != pid
        assert "restarting" in [s["state"] for _, s in a.statuses]
        assert (await a.wait_state("ready"))["state"] == "ready"
        assert a.process.returncode is None and b.process.returncode is None

        # Both documents are as typed: b's suggestion is the one it had before the crash,
        # and a's position exists only in text typed after the crash.
        assert items_of(await b.complete(ub, 5, 13)) == before_b
        after_a = items_of(await a.complete(ua, 7, 11))
        a.open("file:///tmp/a_fresh.py", A_TEXT + _typed_a())
        assert items_of(await a.complete("file:///tmp/a_fresh.py", 7, 11)) == after_a
    finally:
        await a.stop()
        await b.stop()


def _typed_a() -> str:
    return "def mul(x, y):\n    return x * y\n\ndef sub(p, q):\n    return "


async def test_a_crash_loop_stops_restarting_and_says_why(runtime_dir: Path):
    a = await _editor()
    try:
        pid = await _engine_pid(a)
        for _ in range(2):
            os.kill(pid, signal.SIGKILL)
            pid = (await _new_engine(a, pid))["engine"]["pid"]
        os.kill(pid, signal.SIGKILL)  # the third death within a minute

        deadline = time.monotonic() + 30
        status = await _status(a)
        while status["state"] != "error" and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            status = await _status(a)
        assert status["state"] == "error", status
        assert "3 times within 60 s" in status["error"]
        a.open("file:///tmp/a.py", A_TEXT)
        with pytest.raises(JsonRpcException) as failed:
            await a.complete("file:///tmp/a.py", 1, 4)
        assert failed.value.code == REQUEST_FAILED and "not starting it again" in str(failed.value)
        assert any("not starting it again" in m.message for m in a.messages)
        # No engine was started after the third death; the editor's process is still up.
        await asyncio.sleep(1)
        assert not _alive(pid) and a.process.returncode is None
        assert not _engine_listening(runtime_dir)
    finally:
        await a.stop()
    assert a.process.returncode == 0  # shutdown and exit answered by the relay itself


def _engine_listening(runtime_dir: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(runtime_dir / "engine.sock"))
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"
