"""Where a completion is asked for: a document snapshot, possibly with text taken as typed.

Two callers complete in a document that differs from the editor's by one edit on the
cursor line or at the cursor: the completion menu (VS Code's selectedCompletionInfo: the
selected item replaces the word being typed) and speculation (the shown suggestion
accepted). A `Target` names the snapshot and that edit; its text is cheap (the cache key
needs only that, on the event loop), and `snapshot()` makes the edited document with its
syntax tree edited and re-parsed incrementally (on the worker, a millisecond or so), so the
context builder cuts it exactly as it will cut the real document once the user gets there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..context.documents import DocumentSnapshot
from ..context.textindex import byte_len, encode, splice_line_starts, ts_point, ts_point_after
from .cache import CursorState


@dataclass(frozen=True)
class Target:
    snap: DocumentSnapshot
    start: int  # string offsets of the replaced range (start == end: an insertion)
    end: int
    inserted: str = ""

    @classmethod
    def at(cls, snap: DocumentSnapshot, line: int, character: int) -> Target:
        """The cursor at a UTF-16 position of the snapshot; PositionError if out of range."""
        offset = snap.offset_at(line, character)
        return cls(snap, offset, offset)

    @property
    def cursor(self) -> int:
        """The cursor's offset in the edited text: after the inserted text."""
        return self.start + len(self.inserted)

    @cached_property
    def text(self) -> str:
        if self.start == self.end and not self.inserted:
            return self.snap.text
        old = self.snap.text
        return old[: self.start] + self.inserted + old[self.end :]

    @property
    def state(self) -> CursorState:
        return CursorState(self.text, self.cursor)

    def then_typing(self, typed: str) -> Target:
        """This target with `typed` inserted at its cursor (a suggestion accepted)."""
        return Target(self.snap, self.start, self.end, self.inserted + typed)

    def position(self) -> tuple[int, int]:
        """The cursor as a (line, UTF-16 character) of the edited document."""
        return self.snapshot().position_at(self.cursor)

    def snapshot(self) -> DocumentSnapshot:
        """The edited document (the snapshot itself when there is no edit)."""
        return self._edited

    @cached_property
    def _edited(self) -> DocumentSnapshot:
        snap = self.snap
        if self.text is snap.text:
            return snap
        starts = splice_line_starts(
            list(snap.line_starts), self.start, self.end, self.inserted, self.text
        )
        tree, source = None, None
        if snap.tree is not None and snap.language is not None:
            tree, source = self._reparsed()
        return DocumentSnapshot(
            uri=snap.uri,
            language_id=snap.language_id,
            version=snap.version,
            text=self.text,
            tree=tree,
            language=snap.language,
            line_starts=starts,
            source=source,
        )

    def _reparsed(self):
        snap = self.snap
        assert snap.tree is not None and snap.language is not None
        old = snap.text
        removed = old[self.start : self.end]
        start_byte = self.start if old.isascii() else byte_len(old[: self.start])
        start_point = ts_point(old, self.start)
        tree = snap.tree.copy()
        tree.edit(
            start_byte=start_byte,
            old_end_byte=start_byte + byte_len(removed),
            new_end_byte=start_byte + byte_len(self.inserted),
            start_point=start_point,
            old_end_point=ts_point_after(start_point, removed),
            new_end_point=ts_point_after(start_point, self.inserted),
        )
        source = encode(self.text)
        return snap.language.parse(source, tree), source
