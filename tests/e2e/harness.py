"""Drive a real `codehearth serve` subprocess over stdio the way an editor does.

The client is pytest-lsp's `LanguageClient`: it records what the server sends an editor
(showMessage, logMessage, progress, diagnostics) and checks server-to-client messages
against the capabilities the client declared. ServerSession wraps it with the few
requests the tests make and initializes with a client capability set recorded from a real
editor (capabilities/, see its README.md), so the server sees what Neovim or VS Code send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import converters, types
from pygls.lsp.client import LanguageClient as PyglsClient
from pygls.protocol import default_converter
from pytest_lsp.client import register_lsp_features

CAPABILITIES = Path(__file__).parent / "capabilities"
# The capability sets recorded from real editors; e2e tests marked `editors` run per set.
EDITORS = ("neovim-0.12", "vscode")
DEFAULT_EDITOR = "neovim-0.12"


@cache
def _recorded(editor: str) -> dict[str, Any]:
    return json.loads((CAPABILITIES / f"{editor}.json").read_text(encoding="utf-8"))


def initialize_params(editor: str, init_options: dict[str, Any] | None) -> types.InitializeParams:
    """What `editor` sends in `initialize`, with our initializationOptions."""
    recorded = _recorded(editor)
    converter = converters.get_converter()
    return types.InitializeParams(
        process_id=os.getpid(),
        root_uri=None,
        client_info=converter.structure(recorded["clientInfo"], types.ClientInfo),
        capabilities=converter.structure(recorded["capabilities"], types.ClientCapabilities),
        initialization_options=init_options,
    )

# initializationOptions for tests that need a generation still running: a block at every
# position, thousands of tokens, sampled hot so the model does not end its turn early,
# and no time budget.
LONG_GENERATION = {
    "completion": {
        "multiline": "always",
        "maxTokensMulti": 4096,
        "temperature": 1.5,
        "timeBudgetMs": 0,
        "firstTimeBudgetMs": 0,
    }
}


class CheckedProtocol(pytest_lsp.LanguageClientProtocol):
    """pytest-lsp's protocol, keeping its spec warnings (a server message the declared
    capabilities do not allow) as a list to assert on rather than warnings to overlook."""

    def _handle_request(self, msg_id, method_name, params):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pytest_lsp.LspSpecificationWarning)
            result = super()._handle_request(msg_id, method_name, params)
        self._keep(method_name, caught)
        return result

    def _handle_notification(self, method_name, params):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pytest_lsp.LspSpecificationWarning)
            super()._handle_notification(method_name, params)
        self._keep(method_name, caught)

    def _keep(self, method: str, caught: list[warnings.WarningMessage]) -> None:
        for warning in caught:
            if issubclass(warning.category, pytest_lsp.LspSpecificationWarning):
                self._server.spec_problems.append(f"{method}: {warning.message}")
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )


class CodehearthClient(pytest_lsp.LanguageClient):
    """pytest-lsp's client plus codehearth's own notifications and the server's stderr."""

    def __init__(self) -> None:
        super().__init__(protocol_cls=CheckedProtocol, converter_factory=default_converter)
        register_lsp_features(self)  # pytest-lsp's recording handlers
        # (monotonic arrival time, status object) of each codehearth/status push.
        self.statuses: list[tuple[float, dict[str, Any]]] = []
        self.streams: list[dict[str, Any]] = []  # codehearth/stream notifications, in order
        self.stderr = bytearray()
        self.spec_problems: list[str] = []

        @self.feature("codehearth/status")
        def _status(params: Any) -> None:
            self.statuses.append((asyncio.get_running_loop().time(), unstructure(params)))

        @self.feature("codehearth/stream")
        def _stream(params: Any) -> None:
            self.streams.append(unstructure(params))

    async def start_io(self, cmd: str, *args, **kwargs) -> None:
        # pygls's start; our stderr reader stands in for pytest-lsp's forwarder, keeping a
        # copy (tests look for user code in it) as it passes it on to pytest's capture.
        await PyglsClient.start_io(self, cmd, *args, **kwargs)
        self._stderr_forwarder = asyncio.create_task(self._keep_stderr())

    async def _keep_stderr(self) -> None:
        assert self._server is not None and self._server.stderr is not None
        sink = getattr(sys.stderr, "buffer", None)
        while chunk := await self._server.stderr.read(65536):
            self.stderr.extend(chunk)
            if sink is not None:
                sink.write(chunk)


class ServerSession:
    """One server process, initialized as `editor` would, with the requests tests make."""

    def __init__(self, editor: str = DEFAULT_EDITOR) -> None:
        self.editor = editor
        self.client = CodehearthClient()
        self.init_result: types.InitializeResult | None = None
        self._versions: dict[str, int] = {}

    # What pytest-lsp records, under the names the tests use.
    @property
    def messages(self) -> list[types.ShowMessageParams]:
        return self.client.messages

    @property
    def log_messages(self) -> list[types.LogMessageParams]:
        return self.client.log_messages

    @property
    def statuses(self) -> list[tuple[float, dict[str, Any]]]:
        return self.client.statuses

    @property
    def stderr(self) -> bytearray:
        return self.client.stderr

    @property
    def process(self) -> asyncio.subprocess.Process:
        return self.client._server

    def server_command(self) -> list[str]:
        """How the server is started (before `serve` and its arguments)."""
        return [sys.executable, "-m", "codehearth.cli"]

    def server_env(self, env: dict[str, str] | None) -> dict[str, str]:
        return {**os.environ, **(env or {})}

    async def start(
        self,
        *args: str,
        init_options: dict[str, Any] | None = None,
        env: dict | None = None,
        workspace_folders: list[Path] | None = None,
    ) -> types.InitializeResult:
        command = [*self.server_command(), "serve", *args]
        await self.client.start_io(*command, env=self.server_env(env))
        params = initialize_params(self.editor, init_options)
        if workspace_folders is not None:
            params.workspace_folders = [
                types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)
                for folder in workspace_folders
            ]
        self.init_result = await asyncio.wait_for(self.client.initialize_session(params), 60)
        return self.init_result

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
        self,
        uri: str,
        line: int,
        character: int,
        timeout: float = 60,
        trigger: types.InlineCompletionTriggerKind = types.InlineCompletionTriggerKind.Invoked,
        selected: types.SelectedCompletionInfo | None = None,
    ) -> types.InlineCompletionList | list | None:
        """Ask for a suggestion; by default as the user does (Invoked: never gated, see
        docs/protocol.md), `trigger=Automatic` as an editor does while typing."""
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(
                trigger_kind=trigger, selected_completion_info=selected
            ),
        )
        return await asyncio.wait_for(
            self.client.text_document_inline_completion_async(params), timeout
        )

    async def status(self) -> dict[str, Any]:
        return await execute(self, "codehearth.status", timeout=30)

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
        """shutdown and exit (kill if that fails); all of stderr read; the client closed."""
        process = self.process
        if process is None:
            return await self.client.stop()
        if process.returncode is None:
            # pytest-lsp skips shutdown when initialize never answered: kill then.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.shutdown_session(), 10)
            if process.returncode is None:
                process.kill()
        # pytest-lsp's stop() cancels the stderr reader: let it reach EOF first.
        forwarder = self.client._stderr_forwarder
        if forwarder is not None:
            await asyncio.wait_for(asyncio.shield(forwarder), 10)
        await asyncio.wait_for(self.client.stop(), 10)


def _plain(obj: Any) -> Any:
    """executeCommand results come back as attrs-like objects; make them plain dicts."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: _plain(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return obj


def unstructure(obj: Any) -> Any:
    """lsprotocol (attrs, slotted) objects and pygls's generic params as plain data."""
    if hasattr(obj, "__attrs_attrs__"):
        return converters.get_converter().unstructure(obj)
    if hasattr(obj, "_asdict"):  # pygls turns unknown JSON objects into named tuples
        return {k: unstructure(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list | tuple):
        return [unstructure(v) for v in obj]
    return _plain(obj)


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


class DiagnosticsView:
    """pytest-lsp's diagnostics record (the latest publish per URI) with lists for values;
    pop a URI to wait for its next publish."""

    def __init__(self, record: dict[str, Any]) -> None:
        self._record = record

    def __contains__(self, uri: str) -> bool:
        return uri in self._record

    def __getitem__(self, uri: str) -> list[types.Diagnostic]:
        return list(self._record[uri])

    def pop(self, uri: str) -> list[types.Diagnostic]:
        return list(self._record.pop(uri))


class AssistEvents:
    """What the assist commands sent since watch_assist(): codehearth/stream notes and
    $/progress (each as plain data), and the latest diagnostics per URI."""

    def __init__(self, session: ServerSession) -> None:
        self._client = session.client
        self._streams_from = len(self._client.streams)
        self._progress_from = {t: len(r) for t, r in self._client.progress_reports.items()}
        self.diagnostics = DiagnosticsView(self._client.diagnostics)

    def of(self, kind: str) -> list[Any]:
        if kind == "stream":
            return self._client.streams[self._streams_from :]
        if kind == "progress":
            return [
                {"token": token, "value": unstructure(value)}
                for token, reports in self._client.progress_reports.items()
                for value in reports[self._progress_from.get(token, 0) :]
            ]
        raise ValueError(f"no such event kind: {kind}")


def watch_assist(session: ServerSession) -> AssistEvents:
    """Follow codehearth/stream, $/progress and publishDiagnostics from now on."""
    return AssistEvents(session)


async def execute(
    session: ServerSession,
    command: str,
    *arguments: Any,
    work_done_token: str | None = None,
    timeout: float = 60,
) -> Any:
    """workspace/executeCommand; the result as plain dicts and lists."""
    if work_done_token is not None:
        # A token the client made (not window/workDoneProgress/create's): pytest-lsp must
        # know it, as an editor does, to take its $/progress.
        session.client.progress_reports.setdefault(work_done_token, [])
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


# How `codehearth serve` is started in each of its modes: the default attaches to the
# shared engine (a second process), --in-process is one process.
SERVE_MODES: dict[str, tuple[str, ...]] = {"shared": (), "in-process": ("--in-process",)}


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
