"""Model loading as the editor sees it: download progress, load outcome, fallbacks."""

from __future__ import annotations

import asyncio
import logging
import uuid

from lsprotocol import types

from ..engine.worker import EngineUnavailable
from .errors import report_startup_error
from .server import CodehearthServer

log = logging.getLogger(__name__)


def show(ls: CodehearthServer, kind: types.MessageType, message: str) -> None:
    ls.window_show_message(types.ShowMessageParams(type=kind, message=f"codehearth: {message}"))


async def _progress_token(ls: CodehearthServer) -> str | None:
    """A server-initiated progress token, or None when the client does not do progress."""
    caps = ls.client_capabilities.window if ls.client_capabilities else None
    if caps is None or not caps.work_done_progress:
        return None
    token = f"codehearth-download-{uuid.uuid4()}"
    try:
        await asyncio.wait_for(ls.work_done_progress.create_async(token), 10)
    except Exception as exc:  # the client refused or never answered: download without a bar
        log.info("no progress token: %s", exc)
        return None
    return token


async def download_then_load(ls: CodehearthServer) -> None:
    runtime = ls.runtime
    assert runtime.entry is not None
    name = runtime.entry.name
    token = await _progress_token(ls)
    loop = asyncio.get_running_loop()
    last = {"percent": -1}

    def report(progress) -> None:
        percent = int(progress.percent or 0)
        if token is None or percent == last["percent"]:
            return
        last["percent"] = percent
        value = types.WorkDoneProgressReport(
            percentage=percent, message=f"{progress.downloaded / 2**20:.0f} MiB"
        )
        loop.call_soon_threadsafe(ls.work_done_progress.report, token, value)

    if token is not None:
        ls.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=f"Downloading {name}", percentage=0)
        )
    else:
        show(ls, types.MessageType.Info, f"downloading model {name}…")
    await asyncio.to_thread(runtime.download, report)
    if token is not None:
        outcome = "failed" if runtime.error() else "done"
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=outcome))
    await watch_load(ls)


async def watch_load(ls: CodehearthServer) -> None:
    """Tell the user once the model is loaded, or why it is not."""
    engine = ls.runtime.engine
    if engine is None:
        report_startup_error(ls)
        return
    try:
        await asyncio.to_thread(engine.wait_loaded)
    except EngineUnavailable:
        report_startup_error(ls)
        return
    for note in engine.load_notes:
        show(ls, types.MessageType.Warning, note)
