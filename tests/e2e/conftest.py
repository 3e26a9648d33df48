from __future__ import annotations

import pytest_asyncio

from .harness import ServerSession


@pytest_asyncio.fixture
async def server_factory():
    """Start real `codehearth serve` processes; all are shut down after the test."""
    sessions: list[ServerSession] = []

    async def start(*args: str, init_options=None, env=None) -> ServerSession:
        session = ServerSession()
        sessions.append(session)
        await session.start(*args, init_options=init_options, env=env)
        return session

    yield start
    for session in sessions:
        await session.stop()
