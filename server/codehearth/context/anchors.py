"""Memory of the cut chosen for a given text above the cursor line.

The cut is a function of the text above the cursor line, except through the syntax tree,
which error recovery reshapes while a line is half typed (an unclosed bracket can turn the
rest of the file into one ERROR node). Reusing the first answer for the same text above the
line makes typing within a line leave the prompt's beginning exactly unchanged, and saves
recomputing it on every keystroke.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

ANCHOR_CACHE_SIZE = 64

AnchorKey = tuple[object, ...]


@dataclass
class Anchor:
    cut: int
    # prefix offset -> (extra, exact token count of extra + prefix lines above the cursor line)
    above: dict[int, tuple[str, int]] = field(default_factory=dict)


class AnchorCache:
    """A small thread-safe LRU of anchors."""

    def __init__(self, size: int = ANCHOR_CACHE_SIZE) -> None:
        self._entries: OrderedDict[AnchorKey, Anchor] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: AnchorKey) -> Anchor | None:
        with self._lock:
            anchor = self._entries.get(key)
            if anchor is not None:
                self._entries.move_to_end(key)
            return anchor

    def put(self, key: AnchorKey, anchor: Anchor) -> None:
        with self._lock:
            self._entries[key] = anchor
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
