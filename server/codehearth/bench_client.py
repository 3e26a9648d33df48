"""A minimal real LSP client for the benchmarks: pygls's LanguageClient over stdio."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

# Set to a file path: the benchmarked servers log at debug level and their log is
# appended there (for instance to see which keystrokes re-evaluated their prompt).
LOG_ENV = "CODEHEARTH_BENCH_LOG"


class BenchClient:
    def __init__(self) -> None:
        self.client = LanguageClient("codehearth-bench", "0")
        self.versions: dict[str, int] = {}
        self._drain: asyncio.Task | None = None
        self.statuses: list[Any] = []
        self._asked = 0

        @self.client.feature("codehearth/status")
        def _status(params: Any) -> None:
            self.statuses.append(params)

    async def start(
        self, args: argparse.Namespace, init_options: dict[str, Any], extra: list[str] = ()
    ) -> None:
        # The model in the server's own process unless the run asks for the shared
        # engine (bench --shared starts a private one): one process to measure.
        mode = [] if "--shared" in extra else ["--in-process"]
        cmd = [sys.executable, "-m", "codehearth.cli", "serve", *mode, *extra]
        if LOG_ENV in os.environ:  # where the time goes: the server's debug log, kept
            cmd += ["--log-level", "debug"]
        for flag, value in (
            ("--manifest", args.manifest),
            ("--model", args.model),
            ("--context", args.context),
            ("--threads", args.n_threads),
        ):
            if value:
                cmd += [flag, str(value)]
        await self.client.start_io(*cmd, env=dict(os.environ))
        self._drain = asyncio.create_task(self._drain_stderr())
        await self.client.initialize_async(
            types.InitializeParams(
                process_id=os.getpid(),
                capabilities=types.ClientCapabilities(),
                initialization_options=init_options,
            )
        )
        self.client.initialized(types.InitializedParams())

    async def _drain_stderr(self) -> None:
        path = os.environ.get(LOG_ENV)
        sink = open(path, "ab") if path else None  # noqa: SIM115 (open while it runs)
        try:
            while chunk := await self.client._server.stderr.read(65536):
                if sink is not None:
                    sink.write(chunk)
        finally:
            if sink is not None:
                sink.close()

    def open(self, uri: str, text: str, language_id: str) -> None:
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=1, text=text
                )
            )
        )

    async def type_and_complete(self, ks) -> list:
        self.type(ks)
        result = await self.client.text_document_inline_completion_async(self._params(ks))
        if result is None:
            return []
        return result.items if isinstance(result, types.InlineCompletionList) else result

    def ask(self, ks) -> tuple[str, asyncio.Future]:
        """Send the completion request after `ks` without waiting: its id and its answer."""
        self._asked += 1
        msg_id = f"bench-{self._asked}"
        future = self.client.protocol.send_request(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, self._params(ks), msg_id=msg_id
        )
        return msg_id, asyncio.wrap_future(future)

    def cancel(self, msg_id: str) -> None:
        """$/cancelRequest, as VS Code sends for the last request when a key is typed."""
        self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    def type(self, ks) -> None:
        """didChange: one character typed."""
        self.versions[ks.uri] += 1
        at = types.Position(line=ks.line, character=ks.character)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=ks.uri, version=self.versions[ks.uri]
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=at, end=at), text=ks.char
                    )
                ],
            )
        )

    @staticmethod
    def _params(ks) -> types.InlineCompletionParams:
        if ks.char == "\n":
            cursor = types.Position(line=ks.line + 1, character=0)
        else:
            cursor = types.Position(line=ks.line, character=ks.character + 1)
        return types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=ks.uri),
            position=cursor,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )

    async def counters(self) -> dict[str, Any]:
        status = await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codehearth.status", arguments=[])
        )
        counters = status["counters"] if isinstance(status, dict) else status.counters
        return counters if isinstance(counters, dict) else vars(counters)

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()
        if self._drain is not None:
            await self._drain
