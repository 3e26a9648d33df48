"""Each editor's share of the shared engine's log, sent back to that editor.

An in-process server logs to its stderr, which the editor shows (VS Code's output panel,
Neovim's LSP log). With the shared engine the model runs elsewhere, so the engine sends
what it logs while serving a connection, at that editor's `--log-level`, to the editor's
relay as a `codehearth/log` notification; the relay writes it to its own stderr and does
not pass it on. The engine's own log file keeps the engine's level.

Which connection a record belongs to is a context variable set for the connection's
task: asyncio copies it into every task the connection's LSP handlers start (and
`asyncio.to_thread` into threads). Records logged by the model's worker threads belong
to no editor and stay in the engine's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

LOG_NOTIFICATION = "codehearth/log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class EditorLog:
    """Where one connection's records go, and from which level."""

    loop: asyncio.AbstractEventLoop
    send: Callable[[str], None]  # called on the loop with one formatted record
    level: int


CURRENT_EDITOR: ContextVar[EditorLog | None] = ContextVar("codehearth_editor_log", default=None)


def parse_level(name: Any, default: int = logging.WARNING) -> int:
    level = logging.getLevelName(str(name).upper()) if name else default
    return level if isinstance(level, int) else default


class EditorLogHandler(logging.Handler):
    """Forwards a record to the editor whose connection logged it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        target = CURRENT_EDITOR.get()
        # pygls logs every message it sends: forwarding those would send forever, and
        # they quote the user's code (hidden unless --log-content, see cli/logs.py).
        if target is None or record.levelno < target.level or record.name.startswith("pygls"):
            return
        text = self.format(record)
        with contextlib.suppress(RuntimeError):  # the loop is closing
            target.loop.call_soon_threadsafe(_send_quietly, target.send, text)


def _send_quietly(send: Callable[[str], None], text: str) -> None:
    with contextlib.suppress(Exception):  # the editor left: its log goes with it
        send(text)


def install(engine_level: int) -> EditorLogHandler:
    """Once per engine: the engine's own handlers keep `engine_level`; the forwarder
    sees every record, and `open_connection` lowers the root level for an editor that
    asks for more."""
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(engine_level)
    forwarder = EditorLogHandler()
    root.addHandler(forwarder)
    return forwarder


def open_connection(loop: asyncio.AbstractEventLoop, send: Callable[[str], None], level: int):
    """Route this task's records (and its children's) to one editor; returns the token
    for `CURRENT_EDITOR.reset`."""
    root = logging.getLogger()
    if level < root.level:
        root.setLevel(level)
    return CURRENT_EDITOR.set(EditorLog(loop, send, level))
