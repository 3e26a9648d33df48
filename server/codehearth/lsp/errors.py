"""The one place where our exceptions become LSP errors, and the one readiness gate.

Every request handler runs its work inside `lsp_errors()` and asks `require_model()`
before touching the model, so a given failure reads the same whatever feature hit it:
bad input is `InvalidParams` with what is wrong, a model that cannot answer is
`RequestFailed` starting with "codehearth:", and an unexpected exception is left to pygls
(which answers InternalError and keeps serving).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from jinja2.sandbox import SecurityError
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from ..assist.chat_template import ChatTemplateError
from ..assist.service import AssistInputError
from ..context.documents import PositionError
from ..engine.grammar import GrammarError
from ..engine.worker import EngineBusy, EngineUnavailable

if TYPE_CHECKING:
    from ..runtime import Runtime
    from .server import CodehearthServer


class RequestFailed(JsonRpcException):
    """LSP's RequestFailed: the request was valid but the server could not satisfy it."""

    CODE = -32803
    MESSAGE = "Request failed"


# Exception type -> (LSP error, message prefix). The first matching row wins.
ERROR_TABLE: tuple[tuple[type[BaseException], type[JsonRpcException], str], ...] = (
    (AssistInputError, JsonRpcInvalidParams, ""),
    (PositionError, JsonRpcInvalidParams, "position out of range: "),
    (EngineBusy, RequestFailed, "codehearth: "),
    (EngineUnavailable, RequestFailed, "codehearth: "),
    (ChatTemplateError, RequestFailed, "codehearth: "),
    (SecurityError, RequestFailed, "codehearth: "),
    (GrammarError, RequestFailed, "codehearth: "),
)


def to_lsp_error(exc: BaseException) -> JsonRpcException | None:
    """The LSP error for one of our exceptions; None for anything else."""
    for kind, error, prefix in ERROR_TABLE:
        if isinstance(exc, kind):
            return error(f"{prefix}{exc}")
    return None


@contextlib.contextmanager
def lsp_errors(ls: CodehearthServer) -> Iterator[None]:
    """Translate our exceptions into LSP errors (one table, one message style)."""
    try:
        yield
    except JsonRpcException:
        raise
    except Exception as exc:
        error = to_lsp_error(exc)
        if error is None:
            raise
        if isinstance(exc, EngineUnavailable):
            report_startup_error(ls)  # the engine died or never loaded: say so once
        raise error from exc


def require_model(ls: CodehearthServer) -> Runtime:
    """The readiness gate: the runtime when its model can take work, else RequestFailed."""
    runtime = ls.runtime
    if report_startup_error(ls) or runtime.engine is None:
        if runtime.state() == "downloading":
            raise RequestFailed("codehearth: the model is still downloading")
        raise RequestFailed(f"codehearth: {runtime.error() or 'model not started'}")
    return runtime


def report_startup_error(ls: CodehearthServer) -> bool:
    """Tell the user once, in the editor, why the model is unavailable."""
    error = ls.runtime.error()
    if error and not ls.error_shown:
        ls.error_shown = True
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Error, message=f"codehearth: {error}")
        )
    return error is not None
