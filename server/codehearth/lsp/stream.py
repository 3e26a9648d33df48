"""LSP plumbing for streamed commands: progress or stream notifications, and cancellation.

pygls gives a command handler only its arguments, not the ExecuteCommandParams, so the
client's workDoneToken is captured by wrapping pygls's built-in executeCommand handler
(it runs synchronously right before ours, in the same context) into a context variable.

$/cancelRequest cancels pygls's future for the executeCommand request, not the task
running our coroutine (which pygls registered under an id of its own), so the handler
watches that future and cancels its own task when it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..assist.payloads import StreamNotification

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

STREAM_NOTIFICATION = "codehearth/stream"

_WORK_DONE_TOKEN: contextvars.ContextVar[types.ProgressToken | None] = contextvars.ContextVar(
    "codehearth_work_done_token", default=None
)


def capture_work_done_tokens(server: LanguageServer) -> None:
    """Make the current request's workDoneToken readable with current_work_done_token()."""
    fm = server.protocol.fm
    original = fm.builtin_features.get(types.WORKSPACE_EXECUTE_COMMAND)
    if original is None or getattr(original, "_codehearth_wrapped", False):
        return

    def execute_command(params: types.ExecuteCommandParams) -> Generator[Any, Any, Any]:
        _WORK_DONE_TOKEN.set(getattr(params, "work_done_token", None))
        return (yield from original(params))

    execute_command._codehearth_wrapped = True  # type: ignore[attr-defined]
    fm.add_builtin_feature(types.WORKSPACE_EXECUTE_COMMAND, execute_command)


def current_work_done_token() -> types.ProgressToken | None:
    return _WORK_DONE_TOKEN.get()


def current_request_id(server: LanguageServer) -> Any:
    return server.protocol.msg_id


def cancel_task_on_request_cancel(server: LanguageServer) -> None:
    """Cancel the running task when the client cancels the current request."""
    task = asyncio.current_task()
    msg_id = server.protocol.msg_id
    futures = getattr(server.protocol, "_request_futures", None)
    request = futures.get(msg_id) if isinstance(futures, dict) and msg_id is not None else None
    if task is None or not isinstance(request, Future | asyncio.Future):
        return
    loop = asyncio.get_running_loop()

    def on_done(future: Any) -> None:
        if future.cancelled() and not task.done():
            loop.call_soon_threadsafe(task.cancel)

    request.add_done_callback(on_done)


class Stream:
    """Partial text of one request, sent as $/progress reports on the client's token when
    it gave one, else as ``codehearth/stream`` notifications.

    push() is called on the engine's worker thread; pieces are buffered and sent from the
    event loop, so a burst of tokens becomes one message when the loop is busy.
    """

    def __init__(
        self,
        server: LanguageServer,
        command: str,
        stream_id: str | int,
        token: types.ProgressToken | None,
        session: str | None = None,
    ) -> None:
        self.server = server
        self.command = command
        self.id = stream_id
        self.token = token
        self.session = session
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._scheduled = False
        self._ended = False

    def begin(self, title: str, on_cancel: Callable[[], None] | None = None) -> None:
        if self.token is None:
            return
        progress = self.server.work_done_progress
        progress.begin(self.token, types.WorkDoneProgressBegin(title=title, cancellable=True))
        future = progress.tokens.get(self.token)
        if future is not None and on_cancel is not None:
            future.add_done_callback(lambda f: on_cancel() if f.cancelled() else None)

    def push(self, delta: str) -> None:
        """Queue text from any thread."""
        with self._lock:
            self._pending.append(delta)
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self.flush)

    def flush(self) -> None:
        with self._lock:
            text = "".join(self._pending)
            self._pending.clear()
            self._scheduled = False
        if text and not self._ended:
            self._send(text)

    def _send(self, delta: str) -> None:
        if self.token is not None:
            report = types.WorkDoneProgressReport(message=delta)
            self.server.work_done_progress.report(self.token, report)
            return
        note = StreamNotification(
            id=self.id, command=self.command, delta=delta, session=self.session
        )
        self.server.protocol.notify(STREAM_NOTIFICATION, note.dump())

    def end(
        self, stop_reason: str | None, *, cancelled: bool = False, failed: bool = False
    ) -> None:
        if self._ended:
            return
        self.flush()
        self._ended = True
        outcome = "failed" if failed else "cancelled" if cancelled else "done"
        if self.token is not None:
            self.server.work_done_progress.end(
                self.token, types.WorkDoneProgressEnd(message=outcome)
            )
            self.server.work_done_progress.tokens.pop(self.token, None)
            return
        note = StreamNotification(
            id=self.id,
            command=self.command,
            done=True,
            session=self.session,
            stop_reason=stop_reason or outcome,
        )
        self.server.protocol.notify(STREAM_NOTIFICATION, note.dump())
