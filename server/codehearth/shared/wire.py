"""LSP framing for the relay: whole messages out of a byte stream, without the LSP library.

The relay between an editor and the shared engine has to see message boundaries (an
engine that dies mid-message must not leave half a message in the editor's stream) and
read a few messages (initialize, the open documents, request ids) to replay them to a new
engine. It forwards the original bytes, never a re-encoding, so whatever the engine's
lenient JSON accepts still reaches it unchanged. Kept free of pygls and llama_cpp: the
relay is a small process per editor window.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The handshake line's protocol version (shared/engine.py checks it).
PROTOCOL_VERSION = 1
# Sequences a model of the shared engine decodes together: two editors' completions and
# chats without waiting for each other (engine/parallel.py); `--parallel` changes it.
DEFAULT_PARALLEL = 4
# LSP's error code for "the request was valid but could not be satisfied".
REQUEST_FAILED = -32803
_HEADER_END = b"\r\n\r\n"
_CHUNK = 65536
# A header block this long without its blank line is not LSP.
_MAX_HEADER = 8192


@dataclass
class Frame:
    """One framed message: its exact bytes and, when they parse, the JSON object."""

    raw: bytes
    message: dict[str, Any] | None


class FrameReader:
    """Splits a stream of bytes (from `read`, b"" at the end) into LSP frames."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._buffer = b""
        self.eof = False

    def _fill(self) -> bool:
        chunk = self._read(_CHUNK)
        if not chunk:
            self.eof = True
            return False
        self._buffer += chunk
        return True

    def next(self) -> Frame | None:
        """The next whole frame; None at the end of the stream. Bytes that are not a
        frame (no Content-Length) come back as a frame without a message, so they are
        passed on for the engine to reject as it always has."""
        while True:
            end = self._buffer.find(_HEADER_END)
            if end != -1:
                length = _content_length(self._buffer[:end])
                if length is None:
                    raw, self._buffer = self._buffer[: end + 4], self._buffer[end + 4 :]
                    return Frame(raw, None)
                total = end + 4 + length
                while len(self._buffer) < total:
                    if not self._fill():
                        return None
                raw, self._buffer = self._buffer[:total], self._buffer[total:]
                return Frame(raw, _parse(raw[end + 4 :]))
            if len(self._buffer) > _MAX_HEADER:
                raw, self._buffer = self._buffer, b""
                return Frame(raw, None)
            if not self._fill():
                return None


def _content_length(header: bytes) -> int | None:
    for line in header.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None
            return length if length >= 0 else None
    return None


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(body.decode("utf-8", errors="surrogatepass"))
    except (ValueError, UnicodeDecodeError):
        return None
    return message if isinstance(message, dict) else None


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def failure(request_id: Any, message: str) -> dict[str, Any]:
    """A RequestFailed error response (what lsp/errors.py answers for an engine that
    cannot answer), with the same "codehearth: " prefix."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {"code": REQUEST_FAILED, "message": f"codehearth: {message}"},
    }


def result(request_id: Any, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def notification(method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}
