"""Memoized token counting.

Counting with the model's tokenizer costs tens of microseconds per line, and the builder asks
for the same lines on every keystroke, so counts are remembered per string.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from .textindex import scrub_surrogates

CountTokens = Callable[[str], int]

# Longer strings (whole prompts, minified lines) are not worth keeping: they rarely repeat.
MAX_MEMO_CHARS = 16_384
# The memo is dropped wholesale past this many characters; the working set refills fast.
MAX_MEMO_TOTAL_CHARS = 2_000_000


class CachedTokenCounter:
    """A count_tokens function that remembers its answers.

    Text reaches the wrapped function with lone surrogates replaced (see scrub_surrogates),
    as the builder's output does, so a counter that encodes strictly cannot fail on them.
    """

    def __init__(self, count: CountTokens, max_total_chars: int = MAX_MEMO_TOTAL_CHARS) -> None:
        self.count = count
        self.max_total_chars = max_total_chars
        self._memo: dict[str, int] = {}
        self._chars = 0

    def __call__(self, text: str) -> int:
        if len(text) > MAX_MEMO_CHARS:
            return self.uncached(text)
        cached = self._memo.get(text)
        if cached is not None:
            return cached
        value = self.uncached(text)
        if self._chars + len(text) > self.max_total_chars:
            self._memo.clear()
            self._chars = 0
        self._memo[text] = value
        self._chars += len(text)
        return value

    def uncached(self, text: str) -> int:
        return self.count(scrub_surrogates(text))


_WRAPPERS: OrderedDict[object, CachedTokenCounter] = OrderedDict()
_WRAPPERS_LOCK = threading.Lock()
_MAX_WRAPPERS = 8


def cached_counter(count: CountTokens) -> CachedTokenCounter:
    """The memoizing wrapper for `count`, reused across calls with the same function.

    Bound methods compare equal when they bind the same object, so passing `tok.count`
    each time still hits the same memo.
    """
    if isinstance(count, CachedTokenCounter):
        return count
    try:
        hash(count)
    except TypeError:
        return CachedTokenCounter(count)
    with _WRAPPERS_LOCK:
        wrapper = _WRAPPERS.get(count)
        if wrapper is None:
            wrapper = CachedTokenCounter(count)
            _WRAPPERS[count] = wrapper
            while len(_WRAPPERS) > _MAX_WRAPPERS:
                _WRAPPERS.popitem(last=False)
        else:
            _WRAPPERS.move_to_end(count)
        return wrapper
