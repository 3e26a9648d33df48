"""pygls protocol tweaks.

Documents are kept by codehearth's own store (context/documents.py), which keeps
tree-sitter trees in step with every edit; pygls's built-in workspace copy is
skipped so a 10 MB file is held once. Positions are UTF-16 (the LSP default
every client supports), so the server always announces UTF-16.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

log = logging.getLogger(__name__)


def _invalid_params_reason(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, cattrs.ClassValidationError):
        return "; ".join(cattrs.transform_error(cause, path="params"))[:500]
    return "malformed message"


class CodehearthProtocol(LanguageServerProtocol):
    def structure_message(self, data: Any) -> Any:
        """json.loads calls this for every object, nested ones included: leave them raw.

        pygls would structure any nested object that happens to have a "jsonrpc" key
        (user data in params) as a message of its own; the top-level message is
        structured in handle_message instead.
        """
        return data

    def handle_message(self, message: Any) -> None:
        if isinstance(message, dict):
            try:
                message = self._structure_top_level(message)
            except JsonRpcException:
                return
        if not hasattr(message, "jsonrpc"):
            log.warning("ignored a message that is not JSON-RPC")
            return
        super().handle_message(message)

    def _structure_top_level(self, data: dict[str, Any]) -> Any:
        """Answer a request whose params do not validate instead of dropping it.

        pygls raises from inside json.loads and the request would never get a
        response, leaving the editor waiting.
        """
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            msg_id = data.get("id")
            if isinstance(msg_id, int | str) and "method" in data:
                method = str(data.get("method"))[:100]
                self._send_response(
                    msg_id,
                    error=types.ResponseError(
                        code=types.ErrorCodes.InvalidParams,
                        message=f"invalid params for {method}: {_invalid_params_reason(exc)}",
                    ),
                )
            raise

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Any:
        general = params.capabilities.general
        if general is not None:
            general.position_encodings = None
        return (yield from super().lsp_initialize(params))

    def _user_handler(self, method: str, params: Any) -> None:
        # A plain function, not a generator as in pygls: pygls files every generator
        # handler's future under a fresh id and never removes it for notifications,
        # about 2.5 KB per keystroke for as long as the server runs.
        if (handler := self.fm.features.get(method)) is not None:
            handler(params)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> None:
        # Our exit handler decides (lifecycle.py): end the process, or in the shared
        # engine only this editor's connection. pygls would sys.exit() either way.
        self._user_handler(types.EXIT, None)


class _LenientJson:
    """json for pygls's reader: a body with invalid UTF-8 is decoded with U+FFFD.

    pygls parses message bodies with json.loads(bytes), which raises on invalid
    UTF-8 before any handler runs, so such a request would never be answered and the
    editor would wait forever. Decoding with replacement keeps the message (and the
    request id) intact.
    """

    JSONDecodeError = json.JSONDecodeError

    @staticmethod
    def loads(data: Any, **kwargs: Any) -> Any:
        if isinstance(data, bytes | bytearray):
            data = bytes(data).decode("utf-8", errors="replace")
        return json.loads(data, **kwargs)

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, **kwargs)


def install_lenient_json() -> None:
    import pygls.io_

    pygls.io_.json = _LenientJson  # type: ignore[assignment]
