"""The `codehearth/status` push and the `codehearth.status` command's object.

The object itself is status.py's StatusPayload. Pushes are coalesced to at most one a
second, with a trailing push so the last change always arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from ..status import build_status
from .server import CodehearthServer

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "codehearth/status"
MIN_INTERVAL_S = 1.0
# Fields whose change is worth a push; counters alone are not.
_SALIENT = (
    "state", "model", "quant", "device", "progress", "error", "gpu_layers", "total_layers",
    "last_latency_ms", "tokens_per_s", "load_notes",
)  # fmt: skip


def status_payload(ls: CodehearthServer) -> dict[str, Any]:
    """The status object on the wire (docs/protocol.md)."""
    return build_status(ls.runtime, shared=ls.host_registry is not None).model_dump()


class StatusPublisher:
    """Pushes `codehearth/status` when a salient field changes, at most once a second;
    on the GPU also once a second while busy, so VRAM readings stay live."""

    def __init__(self, ls: CodehearthServer) -> None:
        self.ls = ls
        self.pushed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._last_key: tuple | None = None
        self._last_push = 0.0
        # On the GPU and busy at the last look: push every second, VRAM keeps moving.
        self._live = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run())

    def poke(self) -> None:
        """Something may have changed; callable from any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        # The loop may close between the check and the call.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wake.set)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                timeout = MIN_INTERVAL_S if self._live else None
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            wait = self._last_push + MIN_INTERVAL_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                self._wake.clear()
            try:
                self._push_if_changed()
            except Exception:  # a status push must never stop the server
                log.debug("status push failed", exc_info=True)

    def _push_if_changed(self) -> None:
        payload = status_payload(self.ls)
        self._live = payload["device"] == "gpu" and payload["state"] == "busy"
        key = tuple(repr(payload.get(name)) for name in _SALIENT)
        if key == self._last_key and not self._live:
            return
        self._last_key = key
        self._last_push = time.monotonic()
        self.pushed += 1
        self.ls.protocol.notify(STATUS_NOTIFICATION, payload)
