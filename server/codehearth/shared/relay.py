"""`codehearth serve` attached to the shared engine: the editor's own small process.

The editor still starts `codehearth serve`; this process connects to the user's
engine socket (starting the engine when none runs), sends the handshake with this
editor's options, and then passes LSP messages both ways (shared/supervisor.py, which
also outlives the engine: it starts a new one and replays the editor's state). It holds
no model and imports neither pygls nor llama.cpp, so it starts in a fraction of a second
and costs a few tens of MB.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time

from ..config import ServeOptions
from .paths import lock_path, log_path, socket_path
from .wire import DEFAULT_PARALLEL, PROTOCOL_VERSION

CONNECT_TIMEOUT_S = 30.0
_CHUNK = 65536


class EngineUnreachable(Exception):
    pass


def connect(path: str | None = None) -> socket.socket | None:
    """A connection to a running engine, or None when there is none."""
    try:
        where = path or str(socket_path())
    except OSError as exc:  # a runtime directory we may not use (another user's)
        raise EngineUnreachable(f"no usable runtime directory for the engine: {exc}") from exc
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(where)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except OSError as exc:  # e.g. a path longer than a Unix socket's 107 bytes
        sock.close()
        raise EngineUnreachable(f"cannot use the engine socket {where}: {exc}") from exc
    return sock


def start_engine(idle_timeout: float, parallel: int = DEFAULT_PARALLEL) -> subprocess.Popen:
    """Start `codehearth engine` detached from this editor: it outlives this relay.
    The handle lets the relay that started it say how it ended (a signal, a status)."""
    command = [sys.executable, "-m", "codehearth.cli", "engine"]
    command += ["--idle-timeout", str(idle_timeout), "--parallel", str(parallel)]
    with open(log_path(), "ab") as log_file:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
        )


def connect_or_start(
    idle_timeout: float,
    started: list[subprocess.Popen] | None = None,
    parallel: int = DEFAULT_PARALLEL,
) -> socket.socket:
    """Attach to the running engine, or start one and attach. If several editors start
    at once, each may launch an engine; the lock lets one win and the others exit.
    Engines this call starts are appended to `started`."""
    sock = connect()
    if sock is not None:
        return sock
    child = start_engine(idle_timeout, parallel)
    if started is not None:
        started.append(child)
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
        sock = connect()
        if sock is not None:
            return sock
        # 0: another engine won the race and is coming up; anything else is a failure.
        if child.poll() not in (None, 0):
            raise EngineUnreachable(
                f"the shared engine exited with status {child.returncode}; see {log_path()}"
            )
    raise EngineUnreachable(
        f"the shared engine did not start within {CONNECT_TIMEOUT_S:.0f} s; see {log_path()}"
    )


def handshake(sock: socket.socket, options: ServeOptions) -> None:
    hello = {
        "codehearth": PROTOCOL_VERSION,
        "kind": "lsp",
        "options": options.model_dump(mode="json"),
        "pid": os.getpid(),
        "editor_pid": os.getppid(),
        # The engine sends back what it logs for this editor at this level
        # (shared/editor_log.py), as an in-process server would write it.
        "log_level": logging.getLevelName(logging.getLogger().getEffectiveLevel()),
    }
    sock.sendall((json.dumps(hello) + "\n").encode())


def engine_pid() -> int | None:
    """The running engine's PID, from its lock file (written once it holds the lock)."""
    try:
        text = lock_path().read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def query_engine() -> dict | None:
    """`codehearth ps`: what the running engine holds, or None when none runs."""
    sock = connect()
    if sock is None:
        return None
    with sock:
        sock.sendall((json.dumps({"codehearth": PROTOCOL_VERSION, "kind": "ps"}) + "\n").encode())
        data = b""
        while chunk := sock.recv(_CHUNK):
            data += chunk
    return json.loads(data or b"null")
