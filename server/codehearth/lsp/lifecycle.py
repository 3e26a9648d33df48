"""initialize / shutdown: read initializationOptions and the workspace folders, start and
stop the model."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pydantic import ValidationError

from ..config import InitOptions
from ..processes import process_alive, watchable
from ..runtime import Runtime
from .loading import download_then_load, watch_load
from .server import CodehearthServer
from .status import StatusPublisher

log = logging.getLogger(__name__)

PROCESS_POLL_S = 0.5


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
        if ls.initialized_once:
            # A second initialize is a client bug; keep the model and documents we have.
            log.warning("initialize received twice; keeping the running model")
            return
        ls.initialized_once = True
        options = ls.cli_options.merged_with(_init_options(ls, params.initialization_options))
        ls.runtime.stop()
        if ls.host_registry is None:
            ls.runtime = Runtime(options)
        else:  # the shared engine: the model may already be resident for another editor
            host = ls.host_registry.host_for(options)
            ls.runtime = Runtime(options, host=host, owns_host=False, registry=ls.host_registry)
        ls.runtime.project.configure(options.project, options.log_content)
        ls.runtime.project.set_folders(workspace_folders(params))
        ls.runtime.start()
        if params.process_id is not None and ls.host_registry is None:
            # Shared engine: the relay process watches the editor, not the engine.
            watch_editor_process(ls, params.process_id)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CodehearthServer, params: types.InitializedParams) -> None:
        start_status_push(ls)
        if ls.runtime.needs_download:
            ls.background = asyncio.ensure_future(download_then_load(ls))
        else:
            ls.background = asyncio.ensure_future(watch_load(ls))

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CodehearthServer, params: None = None) -> None:
        ls.shutdown_received = True
        if ls.status_publisher is not None:
            ls.status_publisher.stop()
        ls.runtime.stop()

    @server.feature(types.EXIT)
    def exit_(ls: CodehearthServer, params: None = None) -> None:
        # LSP: exit code 0 after shutdown, 1 without (the client gave up on us).
        ls.leave(0 if ls.shutdown_received else 1, "exit notification")


def workspace_folders(params: types.InitializeParams) -> list[str]:
    """The folders the editor opened: workspaceFolders, else the older rootUri/rootPath."""
    if params.workspace_folders:
        return [folder.uri for folder in params.workspace_folders]
    if params.root_uri:
        return [params.root_uri]
    if params.root_path:
        return [Path(params.root_path).resolve().as_uri()]
    return []


def watch_editor_process(ls: CodehearthServer, pid: int) -> None:
    """LSP processId: when the editor process is gone, exit even if the pipes stay open
    (an orphaned helper may hold them)."""
    if not watchable(pid):
        log.info("editor process %d is not visible from here; not watching it", pid)
        return

    async def watch() -> None:
        while process_alive(pid):
            await asyncio.sleep(PROCESS_POLL_S)
        ls.leave(0, f"editor process {pid} is gone")

    ls.process_watch = asyncio.ensure_future(watch())


def start_status_push(ls: CodehearthServer) -> None:
    if ls.status_publisher is not None:
        return
    ls.status_publisher = StatusPublisher(ls)
    ls.status_publisher.start()
    ls.runtime.on_change = ls.status_publisher.poke
    ls.status_publisher.poke()
