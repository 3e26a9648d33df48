"""workspace/executeCommand: codehearth.status (the object is built in status.py)."""

from __future__ import annotations

from typing import Any

from .server import CodehearthServer
from .status import status_payload

STATUS = "codehearth.status"


def register(server: CodehearthServer) -> None:
    @server.command(STATUS)
    def status(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        return status_payload(ls)
