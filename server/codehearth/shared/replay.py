"""What the relay remembers of its editor, so that a new engine can be told all of it.

When the shared engine dies, the editor's client must not notice more than a few failed
requests: it will not send `initialize` or `didOpen` again. So the relay keeps what the
editor said that the engine's state is made of (the initialize request, `initialized`,
the last configuration, and every open document at its current version and text, edits
applied) and, for the requests in flight on either side, whose they are: an editor
request the engine never answered gets a RequestFailed; an answer the editor sends to
a request of the engine that died is dropped, not handed to its successor.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

from ..context.textindex import compute_line_starts, offset_at, splice_line_starts
from .wire import notification

Route = Literal["forward", "local", "drop"]

REPLAY_PREFIX = "codehearth-relay:"
_replays = itertools.count(1)


@dataclass
class TrackedDocument:
    language_id: str
    version: int
    text: str
    line_starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.line_starts:
            self.line_starts = compute_line_starts(self.text)

    def apply(self, change: dict[str, Any]) -> None:
        """One contentChanges entry: a whole new text, or a range replaced (UTF-16)."""
        new_text = change.get("text", "")
        span = change.get("range")
        if not isinstance(new_text, str):
            return
        if not isinstance(span, dict):
            self.text, self.line_starts = new_text, compute_line_starts(new_text)
            return
        start = self._offset(span.get("start"))
        end = max(start, self._offset(span.get("end")))
        text = self.text[:start] + new_text + self.text[end:]
        self.line_starts = splice_line_starts(self.line_starts, start, end, new_text, text)
        self.text = text

    def _offset(self, position: Any) -> int:
        if not isinstance(position, dict):
            return len(self.text)
        line, character = position.get("line", 0), position.get("character", 0)
        try:
            return offset_at(self.text, self.line_starts, line, character, strict=False)
        except ValueError:  # a position the engine rejects too; keep the text as it is
            return len(self.text)


@dataclass
class EditorState:
    """The editor's side of the session, as a new engine needs to hear it."""

    initialize: dict[str, Any] | None = None
    initialized: bool = False
    configuration: dict[str, Any] | None = None
    documents: dict[str, TrackedDocument] = field(default_factory=dict)
    # Editor requests sent to the engine and not yet answered: id -> method.
    pending: dict[Any, str] = field(default_factory=dict)
    # Requests the current engine sent the editor and the editor has not answered.
    engine_requests: set[Any] = field(default_factory=set)
    shutdown: bool = False
    exited: bool = False
    # The id of the replayed initialize, whose answer is for the relay, not the editor.
    replay_id: str | None = None
    # The last codehearth/status the engine pushed (the model's name and device, for the
    # status the relay answers while no engine is there).
    last_status: dict[str, Any] | None = None

    def from_editor(self, message: dict[str, Any] | None, connected: bool) -> Route:
        """Record an editor message; say whether to forward it, answer it here, or drop it."""
        if message is None:
            return "forward" if connected else "drop"
        method, request_id = message.get("method"), message.get("id")
        # JSON-RPC ids are numbers or strings; anything else (a fuzzer's dict) is passed
        # on untracked, for the engine to answer with an error.
        trackable = isinstance(request_id, int | str) and not isinstance(request_id, bool)
        if method is None:  # an answer to one of the engine's requests
            if trackable and request_id in self.engine_requests:
                self.engine_requests.discard(request_id)
                return "forward" if connected else "drop"
            return "drop"
        if not isinstance(method, str):
            return "forward" if connected else "drop"
        self._observe(method, message)
        if "id" in message:
            if not connected:
                return "local"
            if trackable:
                self.pending[request_id] = method
            return "forward"
        return "forward" if connected else "drop"

    def _observe(self, method: str, message: dict[str, Any]) -> None:
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if method == "initialize":
            self.initialize = message
        elif method == "initialized":
            self.initialized = True
        elif method == "shutdown":
            self.shutdown = True
        elif method == "exit":
            self.exited = True
        elif method == "workspace/didChangeConfiguration":
            self.configuration = message
        elif method.startswith("textDocument/did"):
            self._document_event(method, params)

    def _document_event(self, method: str, params: dict[str, Any]) -> None:
        item = params.get("textDocument")
        if not isinstance(item, dict) or not isinstance(item.get("uri"), str):
            return
        uri = item["uri"]
        if method == "textDocument/didOpen" and isinstance(item.get("text"), str):
            self.documents[uri] = TrackedDocument(
                str(item.get("languageId", "")), _version(item), item["text"]
            )
        elif method == "textDocument/didChange" and uri in self.documents:
            document = self.documents[uri]
            for change in params.get("contentChanges") or []:
                if isinstance(change, dict):
                    document.apply(change)
            document.version = _version(item, document.version)
        elif method == "textDocument/didClose":
            self.documents.pop(uri, None)

    def from_engine(self, message: dict[str, Any] | None) -> bool:
        """Record an engine message; False when it is not for the editor."""
        if message is None:
            return True
        if "method" in message:
            if "id" in message:
                self.engine_requests.add(message["id"])
            elif message["method"] == "codehearth/status":
                params = message.get("params")
                self.last_status = params if isinstance(params, dict) else None
            return True
        request_id = message.get("id")
        if request_id is not None and request_id == self.replay_id:
            return False
        self.pending.pop(request_id, None)
        return True

    def engine_lost(self) -> list[Any]:
        """The engine is gone: the editor requests it will never answer (cleared)."""
        lost = list(self.pending)
        self.pending.clear()
        # Its requests to the editor died with it.
        self.engine_requests.clear()
        return lost

    def replay(self) -> list[dict[str, Any]]:
        """The messages that bring a new engine to where the editor thinks it is."""
        if self.initialize is None:
            return []
        self.replay_id = f"{REPLAY_PREFIX}{next(_replays)}"
        messages = [{**self.initialize, "id": self.replay_id}]
        if self.initialized:
            messages.append(notification("initialized", {}))
        if self.configuration is not None:
            messages.append(self.configuration)
        for uri, doc in self.documents.items():
            item = {"uri": uri, "languageId": doc.language_id, "version": doc.version}
            messages.append(
                notification("textDocument/didOpen", {"textDocument": {**item, "text": doc.text}})
            )
        return messages


def _version(item: dict[str, Any], default: int = 0) -> int:
    version = item.get("version")
    return version if isinstance(version, int) else default
