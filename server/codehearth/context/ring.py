"""A ring of chunks from the files the user works in, like llama.vim's extra context.

Chunks (up to `chunk_lines` lines) are taken from other open documents when they open,
and from the region the user was editing when the editing moves elsewhere (another
document, or more than MOVE_LINES lines away). A chunk's text is copied when it is taken
and never changes afterwards, so the ring changes only when a chunk comes or goes, not
per keystroke: that keeps the prompt's beginning, and so the KV cache, stable.

A new chunk evicts every chunk more than EVICT_SIMILARITY similar to it (the same region
taken twice, a file and its copy), then the oldest ones while the ring is over capacity.
At request time chunks of the document being completed, and chunks more than
CURSOR_SIMILARITY similar to the text at the cursor (it is in the prompt already), are
left out. Similarity is Dice's coefficient over the sets of words (runs of \\w).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

EVICT_SIMILARITY = 0.9
CURSOR_SIMILARITY = 0.5
MOVE_LINES = 32  # editing this far from the pending region commits it to the ring
MIN_CHUNK_LINES = 3
_WORD = re.compile(r"\w+")


def words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


def dice(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


@dataclass(frozen=True)
class Chunk:
    uri: str
    name: str  # workspace-relative path, the label in the prompt
    start_line: int
    text: str
    words: frozenset[str] = field(compare=False, repr=False)


@dataclass
class _Pending:
    """The region being edited in one document: first and last edited line."""

    uri: str
    first: int
    last: int


def chunk_of(uri: str, name: str, text: str, first: int, last: int, lines: int) -> Chunk | None:
    """Up to `lines` lines of `text` around [first, last]; None when too small."""
    all_lines = text.splitlines(keepends=True)
    if not all_lines:
        return None
    middle = (first + last) // 2
    start = max(0, min(middle - lines // 2, len(all_lines) - lines))
    body = all_lines[start : start + lines]
    if sum(1 for ln in body if ln.strip()) < MIN_CHUNK_LINES:
        return None
    joined = "".join(body)
    return Chunk(uri, name, start, joined, words(joined))


class ChunkRing:
    """The ring; its methods may be called from the event loop and the worker thread."""

    def __init__(self, capacity: int = 16, chunk_lines: int = 64) -> None:
        self.capacity = capacity
        self.chunk_lines = chunk_lines
        self._chunks: list[Chunk] = []
        self._pending: _Pending | None = None
        self._lock = threading.Lock()
        # Bumped whenever the chunks change: what a cross-file block is keyed by.
        self.generation = 0

    def chunks(self) -> list[Chunk]:
        with self._lock:
            return list(self._chunks)

    def add(self, chunk: Chunk | None) -> bool:
        """Put a chunk in (oldest-first order: the new one goes last). False when it was
        not added (nothing to add, or it repeats the newest chunk)."""
        if chunk is None or self.capacity <= 0:
            return False
        with self._lock:
            if self._chunks and self._chunks[-1].text == chunk.text:
                return False
            kept = [c for c in self._chunks if dice(c.words, chunk.words) <= EVICT_SIMILARITY]
            kept.append(chunk)
            self._chunks = kept[-self.capacity :]
            self.generation += 1
        return True

    def forget(self, uris: Iterable[str]) -> None:
        """Drop the chunks of documents that may no longer be used (a folder removed)."""
        gone = set(uris)
        with self._lock:
            kept = [c for c in self._chunks if c.uri not in gone]
            if len(kept) != len(self._chunks):
                self._chunks = kept
                self.generation += 1

    def note_edit(self, uri: str, line: int) -> _Pending | None:
        """An edit at `line` of `uri`; returns the region to commit when editing moved
        away from it (the caller takes its chunk from the document's text)."""
        with self._lock:
            pending = self._pending
            near = pending is not None and pending.uri == uri
            if near and pending.first - MOVE_LINES <= line <= pending.last + MOVE_LINES:
                pending.first, pending.last = min(pending.first, line), max(pending.last, line)
                return None
            self._pending = _Pending(uri, line, line)
            return pending

    def take_pending(self, uri: str) -> _Pending | None:
        """The region being edited in `uri`, no longer pending (the document closes)."""
        with self._lock:
            pending = self._pending
            if pending is None or pending.uri != uri:
                return None
            self._pending = None
            return pending

    def pick(self, exclude_uri: str, cursor_text: str) -> list[Chunk]:
        """The chunks for a prompt in `exclude_uri`, oldest first (see module doc)."""
        near = words(cursor_text)
        return [
            c
            for c in self.chunks()
            if c.uri != exclude_uri and dice(c.words, near) <= CURSOR_SIMILARITY
        ]
