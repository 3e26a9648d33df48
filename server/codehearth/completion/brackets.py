"""A small bracket and string scanner for suggestion clean-up.

Post-processing must know which brackets are open at the cursor (a suggestion may close
those, and no more) and whether the cursor sits inside a string. A syntax tree of the
prefix cut would do, but the clean-up runs on plain text (remote engines, any language
with a C-like or Python-like lexical shape), so this reads the text with the few lexical
rules that matter: string delimiters, escapes and comments per language family. It is an
approximation: where it cannot tell (an unknown language) callers skip the filters that
depend on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}

# Comment syntax per grammar name: (line comment, block start, block end).
_C_LIKE = ("//", "/*", "*/")
_COMMENTS: dict[str, tuple[str | None, str | None, str | None]] = {
    "python": ("#", None, None),
    "lua": ("--", "--[[", "]]"),
    **dict.fromkeys(("c", "cpp", "java", "javascript", "typescript", "tsx", "go", "rust"), _C_LIKE),
}
# String delimiters per grammar name (Rust's ' is a lifetime as often as a char literal).
_QUOTES: dict[str, tuple[str, ...]] = {
    "python": ('"""', "'''", '"', "'"),
    "javascript": ('"', "'", "`"),
    "typescript": ('"', "'", "`"),
    "tsx": ('"', "'", "`"),
    "go": ('"', "'", "`"),
    "rust": ('"',),
}
_DEFAULT_QUOTES = ('"', "'")
# Raw strings (no escapes): Go's backtick strings.
_RAW = {("go", "`")}


def known_language(language: str | None) -> bool:
    return language in _COMMENTS


def line_comment(language: str | None) -> str | None:
    return _COMMENTS.get(language or "", (None, None, None))[0]


@dataclass
class BracketState:
    """What is open after a stretch of text: brackets (innermost last) and a string."""

    stack: list[str] = field(default_factory=list)
    string: str | None = None  # the delimiter of the string the text ends inside
    broken: bool = False  # a closer matched nothing (the scan started mid-construct)


@dataclass
class Scanner:
    """Feeds text through the lexical rules of one language, keeping a BracketState.

    It jumps from one significant character to the next with a regular expression, so a
    few thousand characters of prefix cost well under a millisecond."""

    language: str | None
    state: BracketState = field(default_factory=BracketState)
    _comment_end: str | None = None

    def feed(self, text: str, on_char=None) -> None:
        """Scan `text`; `on_char(index, char, state)` is called for each bracket outside
        strings and comments before it is applied and may return False to stop."""
        line_c, block_start, block_end = _COMMENTS.get(self.language or "", (None, None, None))
        quotes = _QUOTES.get(self.language or "", _DEFAULT_QUOTES)
        significant = _significant(self.language)
        state = self.state
        i, n = 0, len(text)
        while i < n:
            if self._comment_end is not None:
                end = text.find(self._comment_end, i)
                if end < 0:
                    return  # the text ends inside the comment
                i, self._comment_end = end + len(self._comment_end), None
                continue
            if state.string is not None:
                i = self._in_string(text, i)
                continue
            match = significant.search(text, i)
            if match is None:
                return
            i = match.start()
            if block_start and text.startswith(block_start, i):
                self._comment_end, i = block_end, i + len(block_start)
            elif line_c and text.startswith(line_c, i):
                self._comment_end, i = "\n", i + len(line_c)
            elif (quote := next((q for q in quotes if text.startswith(q, i)), None)) is not None:
                state.string, i = quote, i + len(quote)
            else:
                char = text[i]
                if char in OPENERS or char in CLOSERS:
                    if on_char is not None and on_char(i, char, state) is False:
                        return
                    self._apply(char)
                i += 1

    def _in_string(self, text: str, i: int) -> int:
        state = self.state
        delimiter = state.string
        assert delimiter is not None
        raw = (self.language, delimiter) in _RAW
        one_line = len(delimiter) == 1 and delimiter != "`"
        stops = _string_stops(delimiter[0], raw, one_line)
        while True:
            match = stops.search(text, i)
            if match is None:
                return len(text)
            j = match.start()
            if text[j] == "\\":
                i = j + 2
            elif text[j] == "\n":
                state.string = None  # an unterminated one-line string ends at the line
                return j + 1
            elif text.startswith(delimiter, j):
                state.string = None
                return j + len(delimiter)
            else:
                i = j + 1

    def _apply(self, char: str) -> None:
        stack = self.state.stack
        if char in OPENERS:
            stack.append(char)
        elif stack and stack[-1] == CLOSERS[char]:
            stack.pop()
        else:
            self.state.broken = True


@cache
def _significant(language: str | None) -> re.Pattern[str]:
    line_c, block_start, _ = _COMMENTS.get(language or "", (None, None, None))
    quotes = _QUOTES.get(language or "", _DEFAULT_QUOTES)
    starts = {q[0] for q in quotes} | set("()[]{}")
    starts |= {c[0] for c in (line_c, block_start) if c}
    return re.compile("[" + re.escape("".join(sorted(starts))) + "]")


@cache
def _string_stops(quote: str, raw: bool, one_line: bool) -> re.Pattern[str]:
    chars = quote + ("" if raw else "\\") + ("\n" if one_line else "")
    return re.compile("[" + re.escape(chars) + "]")


def state_after(text: str, language: str | None) -> BracketState:
    """Brackets and string open at the end of `text`."""
    scanner = Scanner(language)
    scanner.feed(text)
    return scanner.state


def first_unmatched_closer(text: str, language: str | None, state: BracketState) -> int | None:
    """Index of the first closing bracket in `text` that closes nothing `state` or `text`
    itself opened, or None."""
    scanner = Scanner(language, BracketState(list(state.stack), state.string))
    found: list[int] = []

    def check(index: int, char: str, current: BracketState) -> bool:
        if char in CLOSERS and (not current.stack or current.stack[-1] != CLOSERS[char]):
            found.append(index)
            return False
        return True

    scanner.feed(text, check)
    return found[0] if found else None


def left_open_by(suffix: str, language: str | None, state: BracketState) -> BracketState:
    """The brackets open at the cursor that `suffix` does not close: all a suggestion
    inserted at the cursor may close (a bracket the text after it closes would be closed
    twice). The suffix is read until a closer matches nothing."""
    scanner = Scanner(language, BracketState(list(state.stack), state.string))
    floor = [len(state.stack)]

    def track(index: int, char: str, current: BracketState) -> bool:
        if char in CLOSERS:
            if not current.stack or current.stack[-1] != CLOSERS[char]:
                return False
            floor[0] = min(floor[0], len(current.stack) - 1)
        return True

    scanner.feed(suffix, track)
    return BracketState(state.stack[: floor[0]], state.string)
