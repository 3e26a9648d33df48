from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
import pytest_asyncio

from .harness import DEFAULT_EDITOR, EDITORS, ServerSession


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "editors(*names): run once per recorded client capability set (all of them when "
        "none are named); unmarked tests initialize as the default editor",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("editors")
    if marker is not None and "editor" in metafunc.fixturenames:
        metafunc.parametrize("editor", marker.args or EDITORS, indirect=True)


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch):
    """Each test's own runtime directory, so the shared engine a plain `codehearth serve`
    attaches to (the default) is private to the test; every engine started under it is
    killed after the test, whatever happened. (A short path: it holds a Unix socket.)"""
    path = tmp_path_factory.mktemp("run")
    monkeypatch.setenv("CODEHEARTH_RUNTIME_DIR", str(path))
    yield path
    for pid in _processes_under(path):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _processes_under(runtime_dir: Path) -> list[int]:
    """PIDs of this user's processes started with CODEHEARTH_RUNTIME_DIR=runtime_dir
    (the engines; relays are stopped by their sessions), this test process excluded."""
    marker = f"CODEHEARTH_RUNTIME_DIR={runtime_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


@pytest.fixture
def editor(request: pytest.FixtureRequest) -> str:
    """Whose recorded capabilities the sessions of this test initialize with."""
    return getattr(request, "param", DEFAULT_EDITOR)


@pytest_asyncio.fixture
async def server_factory(editor: str):
    """Start real `codehearth serve` processes; all are shut down after the test, and
    none may have sent a client what its declared capabilities do not allow."""
    sessions: list[ServerSession] = []

    async def start(*args: str, init_options=None, env=None) -> ServerSession:
        session = ServerSession(editor)
        sessions.append(session)
        await session.start(*args, init_options=init_options, env=env)
        return session

    yield start
    for session in sessions:
        await session.stop()
    problems = [p for session in sessions for p in session.client.spec_problems]
    assert not problems, f"server messages outside the {editor} capabilities: {problems}"
