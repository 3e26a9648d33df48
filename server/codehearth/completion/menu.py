"""Peace with the completion menu: a suggestion that extends the item it has selected.

While VS Code's suggest widget is open it sends `selectedCompletionInfo` (the range the
selected item would replace, and its text) and shows ghost text only when the inline item
extends that item. So the item's text is taken as typed: the suggestion is made in the
document with the range replaced, and the answer replaces the same range with the item's
text plus the suggestion, so ghost text and menu agree instead of fighting.

What the editor sends is checked first; a range off the cursor line, outside it, not
reaching the cursor, or an item that does not match what the range holds (the typed
characters, in order, somewhere in the item: how menus filter) is ignored with a debug log
(never with the text itself), and the request is answered as if the menu were closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..context.documents import DocumentSnapshot, PositionError
from .target import Target

log = logging.getLogger(__name__)

# A menu item longer than this is not a word being completed.
MAX_ITEM_CHARS = 1000


@dataclass(frozen=True)
class MenuSelection:
    """selectedCompletionInfo as plain numbers: a range on one line (UTF-16) and a text."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    text: str


def menu_target(
    snap: DocumentSnapshot, line: int, character: int, selection: MenuSelection
) -> Target | None:
    """The completion target with the selected item taken as typed; None (logged) when
    the selection does not fit the document."""
    reason = _problem(snap, line, character, selection)
    if reason is not None:
        log.debug("selectedCompletionInfo ignored: %s", reason)
        return None
    start = snap.offset_at(selection.start_line, selection.start_character)
    end = snap.offset_at(selection.end_line, selection.end_character)
    return Target(snap, start, end, selection.text)


def _problem(
    snap: DocumentSnapshot, line: int, character: int, selection: MenuSelection
) -> str | None:
    s = selection
    if s.start_line != line or s.end_line != line:
        return "its range is not on the cursor line"
    if not s.start_character <= character <= s.end_character:
        return "its range does not contain the cursor"
    if not s.text or len(s.text) > MAX_ITEM_CHARS or "\n" in s.text or "\r" in s.text:
        return f"its text is empty, multi-line or too long ({len(s.text)} characters)"
    try:
        start = snap.offset_at(line, s.start_character)
        end = snap.offset_at(line, s.end_character)
    except PositionError:
        return "its range is outside the line"
    if not _filters_to(snap.text[start:end], s.text):
        return "its text does not match the text its range replaces"
    return None


def _filters_to(typed: str, item: str) -> bool:
    """True when the typed characters appear in order (any case) in the item."""
    rest = iter(item.casefold())
    return all(char in rest for char in typed.casefold())
