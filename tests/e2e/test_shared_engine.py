"""The shared engine: several `codehearth serve --shared` editors, one resident model.

Every test gets its own runtime directory (CODEHEARTH_RUNTIME_DIR), so its engine is
private to it, and kills that engine at the end whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .harness import LONG_GENERATION, ServerSession, items_of

DATA = Path(__file__).parent.parent / "data"
QUICK = {"completion": {"temperature": 0.0, "maxTokensSingle": 8}}
LONG = LONG_GENERATION


@pytest.fixture
def runtime_dir(private_runtime_dir: Path) -> Path:
    """This test's own runtime dir (tests/e2e/conftest.py): a private engine, every engine
    started under it killed after the test."""
    return private_runtime_dir


def _ps(runtime_dir: Path) -> dict | None:
    out = subprocess.run(
        [sys.executable, "-m", "codehearth.cli", "ps", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "CODEHEARTH_RUNTIME_DIR": str(runtime_dir)},
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def _editor(idle: float = 30, init=QUICK) -> ServerSession:
    session = ServerSession()
    await session.start("--shared", "--idle-timeout", str(idle), init_options=init)
    return session


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def test_two_editors_share_one_engine_and_one_model(runtime_dir: Path):
    a, b = await _editor(), await _editor()
    try:
        status_a, status_b = await a.wait_state("ready"), await b.wait_state("ready")
        assert status_a["state"] == status_b["state"] == "ready", (status_a, status_b)
        engine_pid = status_a["engine"]["pid"]
        assert status_a["engine"] == status_b["engine"] == {"kind": "shared", "pid": engine_pid}
        assert engine_pid not in (a.process.pid, b.process.pid)

        uri = a.open_file(DATA / "inventory.py")
        b.open_file(DATA / "inventory.py")
        line = (DATA / "inventory.py").read_text().splitlines().index("    def count(self) -> int:")
        # The same file in two editors: neither request supersedes the other.
        ra, rb = await asyncio.gather(
            a.complete(uri, line + 1, len("        return ")),
            b.complete(uri, line + 1, len("        return ")),
        )
        assert items_of(ra) == items_of(rb)  # greedy, same prompt, same model

        info = _ps(runtime_dir)
        assert info["pid"] == engine_pid
        assert len(info["models"]) == 1, info["models"]  # one resident copy
        assert info["models"][0]["clients"] == 2
        # Each editor's completions have a sequence of their own in that one model.
        model = info["models"][0]
        owners = {s["owner"] for s in model["sequences"] if s["tokens"]}
        assert model["parallel"] > 1 and {c["client_id"] for c in info["clients"]} <= owners
        assert {c["relay_pid"] for c in info["clients"]} == {a.process.pid, b.process.pid}
        # The editors' own processes hold no model.
        assert _rss_mib(a.process.pid) < 120 and _rss_mib(engine_pid) > 120
    finally:
        await a.stop()
        await b.stop()


async def test_an_editor_dying_mid_generation_leaves_the_other_unaffected(runtime_dir: Path):
    a, b = await _editor(init=LONG), await _editor()
    try:
        await a.wait_state("ready")
        await b.wait_state("ready")
        # A repetitive file: the model goes on and on with more of the same.
        body = "".join(
            f"def step_{n}(state):\n    state.count += {n}\n    return state\n\n"
            for n in range(300)
        )
        a.open("file:///tmp/long.py", body + "class Machine:\n    ")
        long_request = asyncio.ensure_future(a.complete("file:///tmp/long.py", 1200, 4, 120))
        await _until_running(b)
        a.process.kill()  # the editor (and its relay) die without a word
        long_request.cancel()

        uri = b.open_file(DATA / "inventory.py")
        started = time.monotonic()
        result = await b.complete(uri, 39, 15, timeout=30)
        assert isinstance(items_of(result), list)
        # The dead editor's generation was stopped, not run to its 4096 tokens first.
        assert time.monotonic() - started < 10
        status = await b.status()
        assert status["counters"]["cancelled"] >= 1, status["counters"]
        info = _ps(runtime_dir)
        assert [c["relay_pid"] for c in info["clients"]] == [b.process.pid]
    finally:
        await b.stop()
        await a.stop()


async def test_engine_exits_after_idle_and_socket_is_private(runtime_dir: Path):
    a = await _editor(idle=1.5)
    await a.wait_state("ready")
    sock = runtime_dir / "engine.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(runtime_dir.stat().st_mode) == 0o700
    if os.getuid() == 0:
        # Another user cannot connect (a child switched to "nobody" tries).
        probe = subprocess.run(
            [sys.executable, "-c", _CONNECT_AS_NOBODY, str(sock)], capture_output=True, text=True
        )
        assert probe.stdout.strip() == "refused", (probe.stdout, probe.stderr)
    engine_pid = (await a.status())["engine"]["pid"]
    await a.stop()
    deadline = time.monotonic() + 15
    while _alive(engine_pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not _alive(engine_pid), "the engine must exit once idle"
    assert not sock.exists()
    assert _ps(runtime_dir) is None


async def test_editors_starting_at_once_get_one_engine(runtime_dir: Path):
    editors = await asyncio.gather(*(_editor() for _ in range(3)))
    try:
        statuses = [await e.wait_state("ready") for e in editors]
        assert len({s["engine"]["pid"] for s in statuses}) == 1, statuses
        info = _ps(runtime_dir)
        assert len(info["clients"]) == 3 and len(info["models"]) == 1
    finally:
        for e in editors:
            await e.stop()


async def _until_running(observer: ServerSession) -> None:
    """Until the engine is generating for someone (seen through another editor's status:
    the counters are the engine's)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = await observer.status()
        counters = status["counters"]
        if counters["requests"] >= 1 and status["queue_depth"] == 0 and status["state"] == "busy":
            assert counters["completed"] == 0, counters
            await asyncio.sleep(0.5)  # past the prompt, into generation
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the long completion never started")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


_CONNECT_AS_NOBODY = f"""
import os, socket, sys
os.setgid(65534); os.setuid(65534)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except (PermissionError, {socket.__name__}.error):
    print("refused")
else:
    print("connected")
"""


async def test_in_process_keeps_the_model_in_the_editors_server(runtime_dir: Path):
    shared = ServerSession()
    await shared.start(init_options=QUICK, env={"CODEHEARTH_SHARED": "1"})
    private = ServerSession()
    await private.start("--in-process", init_options=QUICK, env={"CODEHEARTH_SHARED": "1"})
    try:
        status_shared = await shared.wait_state("ready")
        status_private = await private.wait_state("ready")
        assert status_shared["engine"]["kind"] == "shared"
        assert status_shared["engine"]["pid"] != shared.process.pid
        assert status_private["engine"] == {"kind": "in-process", "pid": private.process.pid}
        info = _ps(runtime_dir)
        assert [c["relay_pid"] for c in info["clients"]] == [shared.process.pid]
    finally:
        await shared.stop()
        await private.stop()
    # shutdown, then exit: both end with status 0, the relay as the server it stands for.
    assert shared.process.returncode == private.process.returncode == 0


async def test_a_plain_serve_without_a_usable_engine_serves_in_process(tmp_path: Path):
    """The default must never leave the editor without a server: a runtime directory whose
    socket path is too long for a Unix socket (108 bytes) makes `serve` load the model
    itself; an explicit --shared says why it cannot and exits at once."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    env = {"CODEHEARTH_RUNTIME_DIR": str(deep)}
    plain = ServerSession()
    await plain.start(init_options=QUICK, env=env)
    try:
        status = await plain.wait_state("ready")
        assert status["engine"] == {"kind": "in-process", "pid": plain.process.pid}
        uri = plain.open_file(DATA / "inventory.py")
        items_of(await plain.complete(uri, 1, 0))
    finally:
        await plain.stop()
    assert plain.process.returncode == 0
    assert "serving in-process" in plain.stderr.decode(errors="replace")

    started = time.monotonic()
    explicit = subprocess.run(
        [sys.executable, "-m", "codehearth.cli", "serve", "--shared"],
        input=b"", capture_output=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip
    assert explicit.returncode == 1
    assert b"cannot use the engine socket" in explicit.stderr, explicit.stderr[-500:]
    assert time.monotonic() - started < 10
