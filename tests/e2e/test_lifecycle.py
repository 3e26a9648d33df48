"""The server process over its life: how it ends, and what a long session costs.

It ends when the editor dies (stdin closes, no shutdown/exit) or says shutdown + exit. A
language server that outlives its editor keeps a model in memory (and on the GPU) for
nobody, so every way out must be quick and clean. While it lives, a second initialize must
not load a second model, and typing all day must not grow its memory.

Times are measured from the moment the pipe closes to the moment the process has exited; the
bound (EXIT_BOUND_S) is generous for a loaded 2-core machine, typical values are printed and
recorded in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from .harness import LONG_GENERATION
from .raw_client import RawLspClient

EXIT_BOUND_S = 3.0
QUICK = {"completion": {"maxTokensSingle": 4, "maxTokensMulti": 4, "temperature": 0}}
LONG = LONG_GENERATION
INLINE = "textDocument/inlineCompletion"


async def _status(client: RawLspClient) -> dict[str, Any]:
    reply = await client.request(
        "workspace/executeCommand", {"command": "codehearth.status", "arguments": []}
    )
    return reply["result"]


async def _start(init: dict[str, Any], *, ready: bool = True) -> RawLspClient:
    client = RawLspClient()
    await client.start(init_options=init)
    if ready:
        deadline = time.monotonic() + 60
        while (status := await _status(client))["state"] == "loading":
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.05)
        assert status["state"] == "ready", status
    return client


async def _open(client: RawLspClient, uri: str, text: str) -> None:
    doc = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    await client.notify("textDocument/didOpen", {"textDocument": doc})


def _inline(uri: str, line: int, character: int) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        # Invoked: answered wherever the cursor is (an automatic request mid-line is gated).
        "context": {"triggerKind": 1},
    }


async def _exit_after(client: RawLspClient, action) -> tuple[int, float]:
    """Run `action` (which ends the session), then wait for the process: (code, seconds)."""
    assert client.proc is not None
    started = time.perf_counter()
    await action()
    try:
        code = await asyncio.wait_for(client.proc.wait(), 30)
    finally:
        if client.proc.returncode is None:
            client.proc.kill()
            await client.proc.wait()
        for task in client._tasks:
            task.cancel()
    return code, time.perf_counter() - started


def _close_stdin(client: RawLspClient):
    async def action() -> None:
        assert client.proc is not None and client.proc.stdin is not None
        client.proc.stdin.close()

    return action


def _editor_crash(client: RawLspClient):
    """Both pipes go away at once, as when the editor process is killed."""

    async def action() -> None:
        assert client.proc is not None and client.proc.stdin is not None
        client.proc.stdin.close()
        stdout = client.proc._transport.get_pipe_transport(1)  # type: ignore[attr-defined]
        stdout.close()

    return action


async def test_editor_gone_while_idle_exits_promptly_with_0():
    client = await _start(QUICK)
    await _open(client, "file:///tmp/idle.py", "def f(x):\n    return x\n")
    reply = await client.request(INLINE, _inline("file:///tmp/idle.py", 1, 11), timeout=60)
    assert "result" in reply
    code, seconds = await _exit_after(client, _close_stdin(client))
    print(f"\nstdin closed, idle: exit {code} after {seconds:.2f} s")
    assert code == 0
    assert seconds < EXIT_BOUND_S


async def test_editor_gone_while_the_model_loads_exits_promptly_with_0():
    client = await _start(QUICK, ready=False)
    code, seconds = await _exit_after(client, _close_stdin(client))
    print(f"\nstdin closed while loading: exit {code} after {seconds:.2f} s")
    assert code == 0
    assert seconds < EXIT_BOUND_S


async def _generating(client: RawLspClient) -> asyncio.Task:
    """A completion that is being worked on right now (the engine took it off the queue and
    has not finished it: counters only move when a job ends)."""
    body = "".join(
        f"def step_{n}(state):\n    state.count += {n}\n    return state\n\n" for n in range(600)
    )
    uri = "file:///tmp/long.py"
    await _open(client, uri, body + "class Machine:\n    ")
    before = (await _status(client))["counters"]
    task = asyncio.create_task(client.request(INLINE, _inline(uri, 2400, 4), timeout=120))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not task.done():
        status = await _status(client)
        counters = status["counters"]
        ended = sum(counters[k] - before[k] for k in ("completed", "cancelled", "failed"))
        if counters["requests"] > before["requests"] and status["queue_depth"] == 0:
            assert not ended, counters
            await asyncio.sleep(0.5)  # past the prompt (1.5k tokens), into generation
            if not task.done():
                return task
        await asyncio.sleep(0.02)
    raise AssertionError(f"the completion ended before it could be interrupted: {task}")


async def test_editor_gone_while_generating_exits_promptly_with_0():
    client = await _start(LONG)
    task = await _generating(client)
    code, seconds = await _exit_after(client, _close_stdin(client))
    task.cancel()
    print(f"\nstdin closed while generating: exit {code} after {seconds:.2f} s")
    assert code == 0
    assert seconds < EXIT_BOUND_S


async def test_editor_killed_while_generating_exits_promptly_with_0():
    """stdout is gone too: the server's answer to the cancelled request hits a broken pipe."""
    client = await _start(LONG)
    task = await _generating(client)
    code, seconds = await _exit_after(client, _editor_crash(client))
    task.cancel()
    print(f"\nboth pipes closed while generating: exit {code} after {seconds:.2f} s")
    assert code == 0
    assert seconds < EXIT_BOUND_S


async def test_shutdown_then_exit_exits_with_0():
    client = await _start(QUICK)
    await _open(client, "file:///tmp/bye.py", "import os\n")
    reply = await client.request("shutdown", None, timeout=30)
    assert reply.get("result", "missing") is None, reply

    async def exit_notification() -> None:
        await client.notify("exit", None)

    code, seconds = await _exit_after(client, exit_notification)
    print(f"\nshutdown + exit: exit {code} after {seconds:.2f} s")
    assert code == 0
    assert seconds < EXIT_BOUND_S


async def test_shutdown_while_generating_answers_and_exits_with_0():
    client = await _start(LONG)
    task = await _generating(client)
    reply = await client.request("shutdown", None, timeout=30)
    assert reply.get("result", "missing") is None, reply
    pending = await asyncio.wait_for(task, 10)  # the completion is answered, not left hanging
    assert "result" in pending or "error" in pending

    async def exit_notification() -> None:
        await client.notify("exit", None)

    code, seconds = await _exit_after(client, exit_notification)
    print(f"\nshutdown while generating + exit: exit {code} after {seconds:.2f} s")
    assert code == 0
    assert seconds < EXIT_BOUND_S


async def test_second_initialize_keeps_the_running_model_and_documents():
    """A client that sends initialize twice must not get a second resident model (the first
    one would stay loaded for nobody) nor lose the open documents."""
    client = await _start(QUICK)
    try:
        uri = "file:///tmp/twice.py"
        await _open(client, uri, "def twice(x):\n    return 2 * x\n")
        assert "result" in await client.request(INLINE, _inline(uri, 1, 11), timeout=60)
        requests_before = (await _status(client))["counters"]["requests"]
        params = {"processId": None, "rootUri": None, "capabilities": {}}
        await client.request("initialize", params, timeout=30)  # an error or a result
        status = await _status(client)
        assert status["state"] == "ready", status
        assert status["counters"]["requests"] >= requests_before, "a second engine was started"
        reply = await client.request(INLINE, _inline(uri, 1, 11), timeout=60)
        assert "result" in reply, f"the open document was lost: {reply}"
    finally:
        await client.stop()


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_a_long_editing_session_does_not_grow_memory():
    """Every didChange used to leave a Future behind in pygls (~2.5 KB a keystroke, 50 MB
    for 20,000): a server kept open all day must not grow with the typing."""
    client = await _start(QUICK)
    try:
        assert client.proc is not None
        uri = "file:///tmp/typing.py"
        await _open(client, uri, "def f(x):\n    return x\n")
        column = 0

        async def type_chars(n: int) -> None:
            nonlocal column
            for _ in range(n):
                at = {"line": 2, "character": column}
                change = {"range": {"start": at, "end": at}, "text": "x"}
                params = {"textDocument": {"uri": uri, "version": column + 2}}
                await client.notify(
                    "textDocument/didChange", {**params, "contentChanges": [change]}
                )
                column += 1
            await _status(client)  # every change before it has been handled

        await type_chars(2_000)  # warm up: allocator pools, caches
        before = _rss_mib(client.proc.pid)
        await type_chars(20_000)
        grown = _rss_mib(client.proc.pid) - before
        print(f"\n20,000 didChange: RSS {before:.1f} MiB, +{grown:.1f} MiB")
        assert grown < 15, f"RSS grew {grown:.1f} MiB over 20,000 keystrokes"
    finally:
        await client.stop()


async def test_exit_without_shutdown_exits_with_1():
    """LSP: exit without a preceding shutdown means the client gave up; the code says so."""
    client = await _start(QUICK)

    async def exit_notification() -> None:
        await client.notify("exit", None)

    code, seconds = await _exit_after(client, exit_notification)
    print(f"\nexit without shutdown: exit {code} after {seconds:.2f} s")
    assert code == 1
    assert seconds < EXIT_BOUND_S


async def test_editor_process_gone_exits_even_with_pipes_open():
    """The editor named its process id in initialize and died, but something still holds
    the pipes open (a crashed editor's orphaned helper): the server notices and exits."""
    editor = await asyncio.create_subprocess_exec("sleep", "60")
    client = RawLspClient()
    await client.start(init_options=QUICK, process_id=editor.pid)
    assert (await _status(client))["state"] in ("loading", "ready")

    async def editor_dies() -> None:
        editor.kill()
        await editor.wait()

    code, seconds = await _exit_after(client, editor_dies)
    print(f"\neditor process gone: exit {code} after {seconds:.2f} s")
    assert code == 0
    assert seconds < EXIT_BOUND_S


async def test_unknown_process_id_is_not_watched():
    """A process id the server cannot see (another PID namespace, e.g. a container) must not
    make it exit: it keeps serving."""
    client = RawLspClient()
    await client.start(init_options=QUICK, process_id=2**22 + 12345)
    await asyncio.sleep(2.5)
    assert client.proc is not None and client.proc.returncode is None
    assert (await _status(client))["state"] in ("loading", "ready")
    await client.request("shutdown", None, timeout=30)
    await client.notify("exit", None)
    assert await asyncio.wait_for(client.proc.wait(), 10) == 0
