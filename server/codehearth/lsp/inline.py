"""textDocument/inlineCompletion (LSP 3.18)."""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..context.documents import PositionError
from ..engine.worker import EngineBusy, EngineUnavailable
from .errors import RequestFailed
from .lifecycle import report_startup_error
from .server import CodehearthServer

log = logging.getLogger(__name__)


def register(server: CodehearthServer) -> None:
    # pygls only advertises inlineCompletionProvider when options are given.
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: CodehearthServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        runtime = ls.runtime
        if report_startup_error(ls) or runtime.completion is None:
            if runtime.state() == "downloading":
                raise RequestFailed("codehearth: the model is still downloading")
            raise RequestFailed(f"codehearth: {runtime.error() or 'model not started'}")
        uri = params.text_document.uri
        doc = runtime.store.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"document is not open: {uri}")
        pos = params.position
        try:
            doc.offset_at(pos.line, pos.character)
        except PositionError as exc:
            raise JsonRpcInvalidParams(f"position out of range: {exc}") from exc
        snap = doc.snapshot()
        try:
            result = await runtime.completion.complete(snap, pos.line, pos.character)
        except EngineBusy as exc:
            raise RequestFailed(str(exc)) from exc
        except EngineUnavailable as exc:
            report_startup_error(ls)
            raise RequestFailed(f"codehearth: {exc}") from exc
        if result.stats is not None:
            log.info(
                "completion %.0f ms, prompt %d tokens (%d reused), %d generated",
                result.latency_ms,
                result.stats.prompt_tokens,
                result.stats.reused_tokens,
                result.stats.generated_tokens,
            )
        here = types.Range(start=pos, end=pos)
        items = [types.InlineCompletionItem(insert_text=text, range=here) for text in result.items]
        return types.InlineCompletionList(items=items)
