"""LSP error responses of our own."""

from __future__ import annotations

from pygls.exceptions import JsonRpcException


class RequestFailed(JsonRpcException):
    """LSP's RequestFailed: the request was valid but the server could not satisfy it."""

    CODE = -32803
    MESSAGE = "Request failed"
