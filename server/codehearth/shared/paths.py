"""Where the shared engine lives: a private directory in the user's runtime dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

RUNTIME_DIR_ENV = "CODEHEARTH_RUNTIME_DIR"


def runtime_dir() -> Path:
    """$CODEHEARTH_RUNTIME_DIR, else $XDG_RUNTIME_DIR/codehearth, else a per-user temp dir.

    Created 0700: the socket inside is the way into the user's model and code.
    """
    explicit = os.environ.get(RUNTIME_DIR_ENV)
    if explicit:
        path = Path(explicit)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "codehearth"
    else:
        path = Path(tempfile.gettempdir()) / f"codehearth-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user; refusing to use it")
    if info.st_mode & 0o077:
        path.chmod(0o700)
    return path


def socket_path() -> Path:
    return runtime_dir() / "engine.sock"


def lock_path() -> Path:
    return runtime_dir() / "engine.lock"


def log_path() -> Path:
    return runtime_dir() / "engine.log"
