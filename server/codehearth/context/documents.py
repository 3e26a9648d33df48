"""Open documents kept in sync with the editor, with an incrementally updated syntax tree.

Edits arrive as LSP ranges in UTF-16 code units. Each one is applied to the text, the line
index is patched around the edit and the tree-sitter tree is told about it in bytes and
points (tree.edit), so the next parse can reuse everything outside the edit. Parsing is
lazy: a burst of keystrokes costs one incremental parse, when a snapshot is taken.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import tree_sitter

from .languages import LanguageSpec, language_for
from .textindex import (
    PositionError,
    byte_len,
    compute_line_starts,
    encode,
    line_end,
    offset_at,
    position_at,
    splice_line_starts,
    ts_point,
    ts_point_after,
)

__all__ = ["MAX_PARSE_CHARS", "Document", "DocumentSnapshot", "DocumentStore", "PositionError"]

log = logging.getLogger(__name__)

# Above this size a document gets no syntax tree: parsing would cost hundreds of ms per
# keystroke burst and the builder falls back to line windows, which is good enough there.
MAX_PARSE_CHARS = 2_000_000


class EditPosition(Protocol):
    """A (line, UTF-16 character) position; lsprotocol's Position is one."""

    line: int
    character: int


class EditRange(Protocol):
    """A range of two positions; lsprotocol's Range is one (no LSP import needed here)."""

    start: EditPosition
    end: EditPosition


@dataclass(frozen=True)
class DocumentSnapshot:
    """An immutable view of a document at one version; safe to hand to another thread.

    tree is a private copy matching `text` (None without a grammar or above the size limit).
    line_starts (string offsets of line starts) and source (the UTF-8 bytes the tree was
    parsed from) are derived data; they are computed when not given.
    """

    uri: str
    language_id: str
    version: int
    text: str
    tree: tree_sitter.Tree | None = None
    language: LanguageSpec | None = None
    line_starts: Sequence[int] = field(default=(), compare=False, repr=False)
    source: bytes | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.line_starts:
            object.__setattr__(self, "line_starts", compute_line_starts(self.text))
        if self.tree is not None and self.source is None:
            object.__setattr__(self, "source", encode(self.text))

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    def line_text(self, line: int) -> str:
        """Text of a line without its line break."""
        return self.text[self.line_starts[line] : line_end(self.text, self.line_starts, line)]

    def line_end(self, line: int) -> int:
        return line_end(self.text, self.line_starts, line)

    def offset_at(self, line: int, character: int) -> int:
        """String index of a UTF-16 position; PositionError if it is out of range."""
        return offset_at(self.text, self.line_starts, line, character, strict=True)

    def position_at(self, offset: int) -> tuple[int, int]:
        return position_at(self.text, self.line_starts, offset)


class Document:
    """One open document: text, line index and (lazily parsed) syntax tree."""

    def __init__(
        self,
        uri: str,
        language_id: str,
        version: int,
        text: str,
        *,
        max_parse_chars: int = MAX_PARSE_CHARS,
    ) -> None:
        self.uri = uri
        self.language_id = language_id
        self.version = version
        self.language: LanguageSpec | None = language_for(language_id, uri)
        self._max_parse_chars = max_parse_chars
        self._text = text
        self._line_starts = compute_line_starts(text)
        self._tree: tree_sitter.Tree | None = None
        self._source: bytes | None = None
        self._stale = False  # the tree was edited and needs a reparse

    @property
    def text(self) -> str:
        return self._text

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    @property
    def tree(self) -> tree_sitter.Tree | None:
        """The current syntax tree (parsed now if edits are pending). Do not edit it."""
        return self._ensure_tree()

    def offset_at(self, line: int, character: int) -> int:
        """String index of a UTF-16 position; PositionError if it is out of range."""
        return offset_at(self._text, self._line_starts, line, character, strict=True)

    def position_at(self, offset: int) -> tuple[int, int]:
        """UTF-16 (line, character) of a string index."""
        return position_at(self._text, self._line_starts, offset)

    def apply_change(self, range_: EditRange | None, new_text: str) -> None:
        """Apply one content change (LSP incremental sync; range None replaces everything).

        Positions past the end are clamped as the spec asks; negative ones raise PositionError.
        """
        if range_ is None:
            self._replace_all(new_text)
            return
        start = self._lenient_offset(range_.start)
        end = self._lenient_offset(range_.end)
        if end < start:
            start, end = end, start
        self._replace(start, end, new_text)

    def snapshot(self) -> DocumentSnapshot:
        tree = self._ensure_tree()
        return DocumentSnapshot(
            uri=self.uri,
            language_id=self.language_id,
            version=self.version,
            text=self._text,
            tree=tree.copy() if tree is not None else None,
            language=self.language,
            line_starts=self._line_starts,
            source=self._source if tree is not None else None,
        )

    def _lenient_offset(self, position: EditPosition) -> int:
        return offset_at(
            self._text, self._line_starts, position.line, position.character, strict=False
        )

    def _replace_all(self, text: str) -> None:
        # No edit can describe a wholesale replacement usefully; the next parse starts over.
        self._text = text
        self._line_starts = compute_line_starts(text)
        self._tree = None
        self._source = None
        self._stale = False

    def _replace(self, start: int, end: int, inserted: str) -> None:
        old = self._text
        removed = old[start:end]
        if not removed and not inserted:
            return
        new = old[:start] + inserted + old[end:]
        if self._tree is not None:
            if len(new) > self._max_parse_chars:
                self._tree = None
                self._source = None
            else:
                self._edit_tree(old, start, removed, inserted)
        self._line_starts = splice_line_starts(self._line_starts, start, end, inserted, new)
        self._text = new

    def _edit_tree(self, old: str, start: int, removed: str, inserted: str) -> None:
        assert self._tree is not None
        start_byte = start if old.isascii() else byte_len(old[:start])
        start_point = ts_point(old, start)
        self._tree.edit(
            start_byte=start_byte,
            old_end_byte=start_byte + byte_len(removed),
            new_end_byte=start_byte + byte_len(inserted),
            start_point=start_point,
            old_end_point=ts_point_after(start_point, removed),
            new_end_point=ts_point_after(start_point, inserted),
        )
        self._stale = True

    def _ensure_tree(self) -> tree_sitter.Tree | None:
        if self.language is None or len(self._text) > self._max_parse_chars:
            self._tree = None
            self._source = None
            return None
        if self._tree is None or self._stale:
            source = encode(self._text)
            self._tree = self.language.parse(source, self._tree)
            self._source = source
            self._stale = False
        return self._tree


class DocumentStore:
    """Documents by URI, as opened, changed and closed by the editor."""

    def __init__(self, *, max_parse_chars: int = MAX_PARSE_CHARS) -> None:
        self._documents: dict[str, Document] = {}
        self._max_parse_chars = max_parse_chars

    def open(self, uri: str, language_id: str, version: int, text: str) -> Document:
        document = Document(uri, language_id, version, text, max_parse_chars=self._max_parse_chars)
        self._documents[uri] = document
        log.debug("opened %s (%s, %d chars)", uri, language_id, len(text))
        return document

    def change(
        self, uri: str, version: int, changes: list[tuple[EditRange | None, str]]
    ) -> Document:
        document = self._documents.get(uri)
        if document is None:
            raise KeyError(uri)
        for range_, text in changes:
            document.apply_change(range_, text)
        document.version = version
        return document

    def close(self, uri: str) -> None:
        self._documents.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        return self._documents.get(uri)

    def __contains__(self, uri: object) -> bool:
        return uri in self._documents

    def __len__(self) -> int:
        return len(self._documents)
