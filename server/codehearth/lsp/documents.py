"""Document sync: didOpen / didChange / didClose into the tree-sitter-backed store."""

from __future__ import annotations

import logging

from lsprotocol import types

from ..context.documents import PositionError
from .server import CodehearthServer

log = logging.getLogger(__name__)


def register(server: CodehearthServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodehearthServer, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        ls.runtime.store.open(doc.uri, doc.language_id, doc.version, doc.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodehearthServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        changes = [
            (getattr(change, "range", None), change.text) for change in params.content_changes
        ]
        try:
            ls.runtime.store.change(uri, params.text_document.version, changes)
        except KeyError:
            log.warning("didChange for a document that is not open; ignored")
        except PositionError as exc:
            log.warning("didChange with an invalid range ignored: %s", exc)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodehearthServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.runtime.store.close(params.text_document.uri)
