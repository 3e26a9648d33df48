"""What every model-using subcommand does first: options to a loaded model.

One way from options to a ready `Runtime`, shared by `complete`, `explain`, `chat`,
`review`, `eval` and `bench`, so they fail the same way with the same words.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..config import ServeOptions
from ..context.languages import language_for
from ..runtime import Runtime


class StartupFailed(Exception):
    """The model could not be started; the message is what the user reads."""


def start_runtime(options: ServeOptions) -> Runtime:
    """A runtime whose model is loaded; raises StartupFailed with the reason otherwise."""
    runtime = Runtime(options)
    runtime.start()
    if runtime.error() or runtime.engine is None:
        runtime.stop()
        if runtime.needs_download and runtime.entry is not None:
            name = runtime.entry.name
            raise StartupFailed(f"model {name!r} is not downloaded yet (codehearth pull {name})")
        raise StartupFailed(runtime.error() or "model not started")
    try:
        runtime.engine.wait_loaded()
    except Exception as exc:
        runtime.stop()
        raise StartupFailed(str(exc)) from exc
    return runtime


def language_id(path: Path) -> str:
    spec = language_for("", path.resolve().as_uri())
    return spec.name if spec else "plaintext"


def open_file(runtime: Runtime, path: Path) -> str:
    """Open a file from disk in the runtime's document store; returns its URI."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    uri = path.resolve().as_uri()
    runtime.store.open(uri, language_id(path), 0, text)
    return uri


def fail(message: str, code: int = 1) -> int:
    print(f"codehearth: {message}", file=sys.stderr)
    return code
