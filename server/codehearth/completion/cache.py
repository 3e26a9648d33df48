"""The suggestion cache: what was suggested where, so the model is not asked twice.

An entry is a cursor state (the text just before and just after the cursor) and the
suggestion made there. Two kinds of lookup answer from it without the model:

* the same state again (returning to a spot, a re-trigger, deleting back to where a
  suggestion was made): the state's own key;
* typing along: the user typed characters that begin a suggestion made a few characters
  back. The state then is "that earlier state plus the typed text", so for each i up to
  `look_back` the key of "the text before the cursor minus its last i characters, the same
  text after" is looked up, and a suggestion that starts with those i characters answers
  with its rest (llama.vim's look-back).

Keys hash short windows (cheap to compute 129 times per keystroke); an entry keeps longer
windows and is only used when those match too, so a distant edit that happens to leave the
short windows alike does not bring back a stale suggestion. What the suggestion depends on
beyond the text (model, settings) is the cache's `tag`: one cache per completion service,
cleared when the tag changes.

Entries are written from the engine's worker thread (when a generation ends, even if
nobody waits for it any more) and read on the event loop: one lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

# Characters of text before / after the cursor that a key hashes.
KEY_BEFORE = 256
KEY_AFTER = 256
# Characters an entry checks before it answers (about the prompt's reach on typical code).
CHECK_BEFORE = 4096
CHECK_AFTER = 1024

Source = Literal["model", "speculative"]


@dataclass(frozen=True)
class CursorState:
    """Where a suggestion applies: the document's text and the cursor's offset in it."""

    text: str
    offset: int

    def key(self, back: int = 0) -> tuple[str, str]:
        """The key of the state `back` characters earlier, with the same text after."""
        end = self.offset - back
        before = self.text[max(0, end - KEY_BEFORE) : end]
        return before, self.text[self.offset : self.offset + KEY_AFTER]

    def before(self, back: int = 0) -> str:
        end = self.offset - back
        return self.text[max(0, end - CHECK_BEFORE) : end]

    def after(self) -> str:
        return self.text[self.offset : self.offset + CHECK_AFTER]

    def typed(self, back: int) -> str:
        """The last `back` characters before the cursor."""
        return self.text[self.offset - back : self.offset]


@dataclass(frozen=True)
class Entry:
    before: str
    after: str
    suggestion: str
    source: Source

    def matches(self, state: CursorState, back: int) -> bool:
        return self.before == state.before(back) and self.after == state.after()


@dataclass(frozen=True)
class Hit:
    """A suggestion answered from the cache: `text` is what to show at the cursor."""

    text: str
    typed: int  # characters typed along since the suggestion was made (0: the same spot)
    source: Source


class SuggestionCache:
    """An LRU of suggestions by cursor state (see the module docstring)."""

    def __init__(self, size: int = 250, look_back: int = 128) -> None:
        self.size = size
        self.look_back = look_back
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._tag: object = None

    def __len__(self) -> int:
        return len(self._entries)

    def retag(self, tag: object) -> None:
        """What suggestions depend on besides the text changed: forget them all."""
        with self._lock:
            if tag != self._tag:
                self._entries.clear()
                self._tag = tag

    def put(self, state: CursorState, suggestion: str, source: Source = "model") -> None:
        """Remember `suggestion` at `state`; "" remembers that there is none (answered only
        there, to automatic requests: see lookup)."""
        if self.size <= 0 or (suggestion and not suggestion.strip()):
            return
        entry = Entry(state.before(), state.after(), suggestion, source)
        key = state.key()
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def lookup(self, state: CursorState, *, empty: bool = False) -> Hit | None:
        """The suggestion that applies at `state`: made there, or typed along since.
        `empty`: a remembered "no suggestion here" answers too (Hit.text "")."""
        if self.size <= 0:
            return None
        reach = min(self.look_back, state.offset)
        with self._lock:
            for back in range(reach + 1):
                entry = self._entries.get(state.key(back))
                if entry is None:
                    continue
                if not entry.suggestion:
                    if back == 0 and empty and entry.matches(state, 0):
                        return Hit("", 0, entry.source)
                    continue
                hit = _continue(entry, state, back)
                if hit is not None:
                    self._entries.move_to_end(state.key(back))
                    return hit
        return None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _continue(entry: Entry, state: CursorState, back: int) -> Hit | None:
    """The rest of `entry`'s suggestion when the `back` characters typed begin it."""
    typed = state.typed(back)
    suggestion = entry.suggestion
    if len(suggestion) <= back or not suggestion.startswith(typed):
        return None
    rest = suggestion[back:]
    if not rest.strip() or not entry.matches(state, back):
        return None
    return Hit(rest, back, entry.source)
