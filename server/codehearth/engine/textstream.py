"""Generated text as it grows: UTF-8 pieces decoded, stop strings applied, nothing emitted
past a stop (a tail that could start one is held back until it cannot)."""

from __future__ import annotations


class TextStream:
    """Decodes UTF-8 pieces and applies stop strings without emitting past them."""

    def __init__(self, stop: list[str], stop_at_newline: bool) -> None:
        self._bytes = b""
        self._emitted = 0
        self._stops = [s for s in stop if s]
        self._newline = stop_at_newline
        self.text = ""

    def push(self, piece: bytes) -> tuple[str, str | None]:
        self._bytes += piece
        text = self._bytes.decode("utf-8", errors="ignore")
        reason: str | None = None
        cut = len(text)
        for stop in self._stops:
            idx = text.find(stop)
            if idx != -1 and idx < cut:
                cut, reason = idx, "stop"
        if self._newline:
            idx = text.find("\n")
            if idx != -1 and idx <= cut:
                cut, reason = idx, "newline"
        text = text[:cut]
        # Hold back a tail that could be the start of a stop string.
        hold = 0 if reason else max((len(s) - 1 for s in self._stops), default=0)
        safe = max(self._emitted, len(text) - hold)
        delta = text[self._emitted : safe]
        self._emitted = safe
        self.text = text
        return delta, reason
