"""textDocument/inlineCompletion (LSP 3.18).

The trigger kind says whether the user asked (Invoke: always answered) or the editor did
while typing (Automatic: may be gated); `context.selectedCompletionInfo` (VS Code's open
suggest widget) makes the answer extend the selected menu item (completion/menu.py).
"""

from __future__ import annotations

import logging

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..completion.menu import MenuSelection, menu_target
from ..completion.target import Target
from ..context.documents import DocumentSnapshot
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
    context = params.context
    automatic = context is None or context.trigger_kind != types.InlineCompletionTriggerKind.Invoked
    with lsp_errors(ls):
        doc.offset_at(pos.line, pos.character)
        snap = doc.snapshot()
        menu = _menu(snap, pos, context)
        assert runtime.completion is not None
        result = await runtime.completion.complete(
            snap, pos.line, pos.character, automatic=automatic, target=menu
        )
    if result.stats is not None and result.source == "model":
        log.info(
            "completion %.0f ms, prompt %d tokens (%d reused), %d generated",
            result.latency_ms,
            result.stats.prompt_tokens,
            result.stats.reused_tokens,
            result.stats.generated_tokens,
        )
    else:
        log.debug("completion %.1f ms from %s", result.latency_ms, result.source)
    return types.InlineCompletionList(items=_items(result.items, pos, menu, context))


def _menu(
    snap: DocumentSnapshot, pos: types.Position, context: types.InlineCompletionContext | None
) -> Target | None:
    info = context.selected_completion_info if context is not None else None
    if info is None:
        return None
    selection = MenuSelection(
        start_line=info.range.start.line,
        start_character=info.range.start.character,
        end_line=info.range.end.line,
        end_character=info.range.end.character,
        text=info.text,
    )
    return menu_target(snap, pos.line, pos.character, selection)


def _items(
    texts: list[str],
    pos: types.Position,
    menu: Target | None,
    context: types.InlineCompletionContext | None,
) -> list[types.InlineCompletionItem]:
    """Inserted at the cursor; with a menu item taken as typed, replacing its range with
    the item's text plus the suggestion."""
    if menu is None or context is None or context.selected_completion_info is None:
        here = types.Range(start=pos, end=pos)
        return [types.InlineCompletionItem(insert_text=text, range=here) for text in texts]
    info = context.selected_completion_info
    return [
        types.InlineCompletionItem(insert_text=info.text + text, range=info.range)
        for text in texts
    ]


def register(server: CodehearthServer) -> None:
    # pygls only advertises inlineCompletionProvider when options are given.
    server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(
        inline_completion
    )
