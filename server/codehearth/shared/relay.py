"""`codehearth serve --shared`: the editor's server process, relaying to the shared engine.

The editor still starts `codehearth serve`; this process connects to the user's
engine socket (starting the engine when none runs), sends the handshake with this
editor's options, and then copies bytes both ways until either side closes. It
holds no model, so it starts in a fraction of a second and costs a few MB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import BinaryIO

from ..config import ServeOptions
from .engine import PROTOCOL_VERSION
from .paths import log_path, socket_path

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0
_CHUNK = 65536


class EngineUnreachable(Exception):
    pass


def connect(path: str | None = None) -> socket.socket | None:
    """A connection to a running engine, or None when there is none."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path or str(socket_path()))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    return sock


def start_engine(idle_timeout: float) -> None:
    """Start `codehearth engine` detached from this editor: it outlives this relay."""
    with open(log_path(), "ab") as log_file:
        subprocess.Popen(
            [sys.executable, "-m", "codehearth.cli", "engine", "--idle-timeout", str(idle_timeout)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
        )


def connect_or_start(idle_timeout: float) -> socket.socket:
    """Attach to the running engine, or start one and attach. If several editors start
    at once, each may launch an engine; the lock lets one win and the others exit."""
    sock = connect()
    if sock is not None:
        return sock
    start_engine(idle_timeout)
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
        sock = connect()
        if sock is not None:
            return sock
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
    }
    sock.sendall((json.dumps(hello) + "\n").encode())


def relay(sock: socket.socket, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Copy editor→engine on a thread and engine→editor here, until either ends."""

    # Raw reads on the descriptor: a thread blocked in a buffered read would hold its
    # lock and crash the interpreter's shutdown.
    fd = stdin.fileno()

    def upstream() -> None:
        try:
            while chunk := os.read(fd, _CHUNK):
                sock.sendall(chunk)
        except OSError:
            pass
        # The editor is gone (or said exit): tell the engine, which drops this editor's work.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, name="codehearth-relay", daemon=True).start()
    threading.Thread(target=_exit_with_editor, name="codehearth-parent", daemon=True).start()
    try:
        while chunk := sock.recv(_CHUNK):
            stdout.write(chunk)
            stdout.flush()
    except OSError as exc:
        log.error("lost the shared engine: %s", exc)
        return 1
    finally:
        sock.close()
    return 0


def _exit_with_editor() -> None:
    """The engine cannot see the editor: this relay ends when its parent (the editor)
    does, even if an orphaned helper keeps the pipes open; the engine then drops this
    editor's work when the socket closes."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def serve_shared(options: ServeOptions, idle_timeout: float) -> int:
    try:
        sock = connect_or_start(idle_timeout)
    except EngineUnreachable as exc:
        print(f"codehearth: {exc}", file=sys.stderr)
        return 1
    handshake(sock, options)
    return relay(sock, sys.stdin.buffer, sys.stdout.buffer)


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
