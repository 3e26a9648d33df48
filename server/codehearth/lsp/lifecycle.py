"""initialize / shutdown: read initializationOptions, start and stop the model."""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types
from pydantic import ValidationError

from ..runtime import Runtime
from .options import InitOptions
from .server import CodehearthServer

log = logging.getLogger(__name__)


def _init_options(ls: CodehearthServer, raw: object) -> InitOptions | None:
    if raw is None:
        return None
    try:
        return InitOptions.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message=f"codehearth: ignoring invalid initializationOptions ({problems})",
            )
        )
        return None


def register(server: CodehearthServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: CodehearthServer, params: types.InitializeParams) -> None:
        if ls.runtime.manifest is not None or ls.runtime.startup_error is not None:
            # A second initialize is a client bug; keep the model and documents we have.
            log.warning("initialize received twice; keeping the running model")
            return
        options = ls.cli_options.merged_with(_init_options(ls, params.initialization_options))
        ls.runtime = Runtime(options)
        ls.runtime.start()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CodehearthServer, params: types.InitializedParams) -> None:
        from .loading import download_then_load, watch_load

        start_status_push(ls)
        if ls.runtime.needs_download:
            ls.background = asyncio.ensure_future(download_then_load(ls))
        else:
            ls.background = asyncio.ensure_future(watch_load(ls))

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CodehearthServer, params: None = None) -> None:
        if ls.status_publisher is not None:
            ls.status_publisher.stop()
        ls.runtime.stop()


def start_status_push(ls: CodehearthServer) -> None:
    from .status import StatusPublisher

    if ls.status_publisher is not None:
        return
    ls.status_publisher = StatusPublisher(ls)
    ls.status_publisher.start()
    ls.runtime.on_change = ls.status_publisher.poke
    ls.status_publisher.poke()


def report_startup_error(ls: CodehearthServer) -> bool:
    """Tell the user once, in the editor, why completions are unavailable."""
    error = ls.runtime.error()
    if error and not ls.error_shown:
        ls.error_shown = True
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Error, message=f"codehearth: {error}")
        )
    return error is not None
