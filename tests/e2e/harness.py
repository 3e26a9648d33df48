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
        self._stderr_task: asyncio.Task | None = None
        self._versions: dict[str, int] = {}

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def _show(params: types.ShowMessageParams) -> None:
            self.messages.append(params)

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
                        )
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
