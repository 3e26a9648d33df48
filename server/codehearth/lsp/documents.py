"""Document sync: didOpen / didChange / didClose into the tree-sitter-backed store, and
workspace folders (didChangeWorkspaceFolders) for cross-file context.

The project context (context/project.py) hears of every document event too: open
documents and the regions being edited become chunks of its ring, and where the user
types is where an idle pre-warm looks."""

from __future__ import annotations

import logging

from lsprotocol import types

from ..context.documents import PositionError
from .server import CodehearthServer

log = logging.getLogger(__name__)


def _cursor_after(change: object) -> tuple[int, int] | None:
    """Where the cursor is after a ranged change: the end of the inserted text."""
    range_ = getattr(change, "range", None)
    if range_ is None:
        return None
    text: str = getattr(change, "text", "")
    start = range_.start
    if "\n" not in text:
        return start.line, start.character + len(text.encode("utf-16-le")) // 2
    last = text.rsplit("\n", 1)[1]
    return start.line + text.count("\n"), len(last.encode("utf-16-le")) // 2


def register(server: CodehearthServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodehearthServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        document = ls.runtime.store.open(doc.uri, doc.language_id, doc.version, doc.text)
        ls.runtime.project.opened(document)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodehearthServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        changes = [
            (getattr(change, "range", None), change.text) for change in params.content_changes
        ]
        try:
            document = ls.runtime.store.change(uri, params.text_document.version, changes)
        except KeyError:
            log.warning("didChange for a document that is not open; ignored")
            return
        except PositionError as exc:
            log.warning("didChange with an invalid range ignored: %s", exc)
            return
        cursor = _cursor_after(params.content_changes[-1]) if params.content_changes else None
        if cursor is not None:
            ls.runtime.project.changed(document, *cursor)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodehearthServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.runtime.store.close(params.text_document.uri)
        ls.runtime.project.closed(params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(
        ls: CodehearthServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        event = params.event
        ls.runtime.project.change_folders(
            [f.uri for f in event.added], [f.uri for f in event.removed]
        )
