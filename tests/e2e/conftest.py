from __future__ import annotations

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
