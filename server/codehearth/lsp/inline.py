"""textDocument/inlineCompletion (LSP 3.18)."""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from .errors import lsp_errors, require_model
from .server import CodehearthServer

log = logging.getLogger(__name__)


async def inline_completion(
    ls: CodehearthServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    runtime = require_model(ls)
    uri = params.text_document.uri
    doc = runtime.store.get(uri)
    if doc is None:
        raise JsonRpcInvalidParams(f"document is not open: {uri}")
    pos = params.position
    with lsp_errors(ls):
        doc.offset_at(pos.line, pos.character)
        snap = doc.snapshot()
        assert runtime.completion is not None
        result = await runtime.completion.complete(snap, pos.line, pos.character)
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


def register(server: CodehearthServer) -> None:
    # pygls only advertises inlineCompletionProvider when options are given.
    server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(
        inline_completion
    )
