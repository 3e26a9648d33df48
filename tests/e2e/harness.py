"""A real LSP client (pygls) driving a real `codehearth serve` subprocess over stdio."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient


class ServerSession:
    """One server process, initialized, with helpers for the requests tests make."""

    def __init__(self) -> None:
        self.client = LanguageClient("codehearth-tests", "0")
        self.messages: list[types.ShowMessageParams] = []
        self.log_messages: list[types.LogMessageParams] = []
        self.stderr = bytearray()
        self.init_result: types.InitializeResult | None = None
        self.progress: list[types.ProgressParams] = []
        self._stderr_task: asyncio.Task | None = None
        self._versions: dict[str, int] = {}
        # (monotonic arrival time, status object) of each codehearth/status push.
        self.statuses: list[tuple[float, dict[str, Any]]] = []

        @self.client.feature("codehearth/status")
        def _status(params: Any) -> None:
            self.statuses.append((asyncio.get_running_loop().time(), _unstructure(params)))

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def _show(params: types.ShowMessageParams) -> None:
            self.messages.append(params)

        @self.client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def _create(params: types.WorkDoneProgressCreateParams) -> None:
            return None

        @self.client.feature(types.PROGRESS)
        def _progress(params: types.ProgressParams) -> None:
            self.progress.append(params)

        @self.client.feature(types.WINDOW_LOG_MESSAGE)
        def _log(params: types.LogMessageParams) -> None:
            self.log_messages.append(params)

    async def start(
        self, *args: str, init_options: dict[str, Any] | None = None, env: dict | None = None
    ) -> types.InitializeResult:
        full_env = {**os.environ, **(env or {})}
        await self.client.start_io(
            sys.executable, "-m", "codehearth.cli", "serve", *args, env=full_env
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self.init_result = await asyncio.wait_for(
            self.client.initialize_async(
                types.InitializeParams(
                    process_id=os.getpid(),
                    root_uri=None,
                    capabilities=types.ClientCapabilities(
                        general=types.GeneralClientCapabilities(
                            position_encodings=[types.PositionEncodingKind.Utf8]
                        ),
                        window=types.WindowClientCapabilities(work_done_progress=True),
                    ),
                    initialization_options=init_options,
                )
            ),
            timeout=60,
        )
        self.client.initialized(types.InitializedParams())
        return self.init_result

    async def _drain_stderr(self) -> None:
        stream = self.client._server.stderr  # pygls pipes stderr; unread, it would fill up
        while chunk := await stream.read(65536):
            self.stderr.extend(chunk)

    @property
    def process(self) -> asyncio.subprocess.Process:
        return self.client._server

    def open(self, uri: str, text: str, language_id: str = "python") -> None:
        self._versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=1, text=text
                )
            )
        )

    def open_file(self, path: Path, language_id: str = "python") -> str:
        uri = path.resolve().as_uri()
        self.open(uri, path.read_text(encoding="utf-8"), language_id)
        return uri

    def change(self, uri: str, line: int, character: int, text: str, end=None) -> None:
        self._versions[uri] = self._versions.get(uri, 0) + 1
        start = types.Position(line=line, character=character)
        end_pos = types.Position(line=end[0], character=end[1]) if end else start
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self._versions[uri]
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=start, end=end_pos), text=text
                    )
                ],
            )
        )

    async def complete(
        self, uri: str, line: int, character: int, timeout: float = 60
    ) -> types.InlineCompletionList | list | None:
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
        return await asyncio.wait_for(
            self.client.text_document_inline_completion_async(params), timeout
        )

    async def status(self) -> dict[str, Any]:
        result = await asyncio.wait_for(
            self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="codehearth.status", arguments=[])
            ),
            30,
        )
        return _plain(result)

    async def wait_state(self, wanted: str, timeout: float = 60) -> dict[str, Any]:
        """Poll codehearth.status until the model reaches a state (or fails)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = await self.status()
            if status["state"] in (wanted, "error") or loop.time() > deadline:
                return status
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            try:
                await asyncio.wait_for(self.client.shutdown_async(None), 10)
                self.client.exit(None)
            except Exception:
                self.process.kill()
        try:
            await asyncio.wait_for(self.client.stop(), 10)
        except TimeoutError:
            self.process.kill()
        if self._stderr_task is not None:
            await asyncio.wait_for(self._stderr_task, 5)


def _plain(obj: Any) -> Any:
    """executeCommand results come back as attrs-like objects; make them plain dicts."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: _plain(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return obj


def items_of(result: types.InlineCompletionList | list | None) -> list[str]:
    if result is None:
        return []
    items = result.items if isinstance(result, types.InlineCompletionList) else result
    texts = []
    for item in items:
        text = item.insert_text
        texts.append(text if isinstance(text, str) else text.value)
    return texts


# -- assist commands (explain, chat, review) ----------------------------------------------


def _unstructure(obj: Any) -> Any:
    """lsprotocol (attrs, slotted) objects and pygls's generic params as plain data."""
    if hasattr(obj, "__attrs_attrs__"):
        from lsprotocol.converters import get_converter

        return get_converter().unstructure(obj)
    if hasattr(obj, "_asdict"):  # pygls turns unknown JSON objects into named tuples
        return {k: _unstructure(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list | tuple):
        return [_unstructure(v) for v in obj]
    return _plain(obj)


class AssistEvents:
    """Notifications the assist commands send, in arrival order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []  # ("stream" | "progress", plain params)
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.diagnostic_batches: list[tuple[str, list[types.Diagnostic]]] = []

    def of(self, kind: str) -> list[Any]:
        return [params for k, params in self.events if k == kind]


def _listen(session: ServerSession, method: str, callback) -> None:
    """Handle a server notification, alongside any handler already registered for it."""
    features = session.client.protocol.fm.features
    existing = features.get(method)
    if existing is None:
        session.client.feature(method)(callback)
        return

    def both(params: Any) -> Any:
        existing(params)
        return callback(params)

    features[method] = both


def watch_assist(session: ServerSession) -> AssistEvents:
    """Record codehearth/stream, $/progress and publishDiagnostics from now on."""
    events = AssistEvents()

    def on_stream(params: Any) -> None:
        events.events.append(("stream", _unstructure(params)))

    def on_progress(params: types.ProgressParams) -> None:
        events.events.append(("progress", _unstructure(params)))

    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        events.diagnostics[params.uri] = list(params.diagnostics)
        events.diagnostic_batches.append((params.uri, list(params.diagnostics)))

    _listen(session, "codehearth/stream", on_stream)
    _listen(session, types.PROGRESS, on_progress)
    _listen(session, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, on_diagnostics)
    return events


async def execute(
    session: ServerSession,
    command: str,
    *arguments: Any,
    work_done_token: str | None = None,
    timeout: float = 60,
) -> Any:
    """workspace/executeCommand; the result as plain dicts and lists."""
    params = types.ExecuteCommandParams(
        command=command, arguments=list(arguments), work_done_token=work_done_token
    )
    result = await asyncio.wait_for(session.client.workspace_execute_command_async(params), timeout)
    return _plain(result)


def send_execute(session: ServerSession, command: str, argument: Any, msg_id: str):
    """Start an executeCommand with a known request id (to $/cancelRequest it)."""
    params = types.ExecuteCommandParams(command=command, arguments=[argument])
    return asyncio.wrap_future(
        session.client.protocol.send_request(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=msg_id)
    )


def cancel_request(session: ServerSession, msg_id: str) -> None:
    session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))


async def wait_for(predicate, timeout: float = 30, interval: float = 0.02) -> None:
    """Poll until predicate() is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP TextEdits (UTF-16 positions) to text, last edit first."""
    lines = text.split("\n")

    def offset(pos: types.Position) -> int:
        before = sum(len(line) + 1 for line in lines[: pos.line])
        line = lines[pos.line] if pos.line < len(lines) else ""
        units = line.encode("utf-16-le")[: pos.character * 2].decode("utf-16-le")
        return before + len(units)

    ordered = sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character))
    for edit in reversed(ordered):
        start, end = offset(edit.range.start), offset(edit.range.end)
        text = text[:start] + edit.new_text + text[end:]
    return text
