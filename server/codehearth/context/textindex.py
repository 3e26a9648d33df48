"""Line bookkeeping and LSP position conversion for document text.

Positions on the wire are (line, UTF-16 code unit) pairs; Python strings are indexed by code
point. Line breaks are \\n, \\r\\n and \\r, as the LSP spec says. Tree-sitter, on the other
hand, wants UTF-8 byte offsets and (row, byte column) points where only \\n starts a row.
Everything that translates between those worlds lives here so it can be tested on its own.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Code points above the BMP take two UTF-16 code units; lines without them map 1:1.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

_SURROGATE = re.compile("[\ud800-\udfff]")

# Lone surrogates can reach us from JSON; "surrogatepass" encodes them as 3 bytes, the same
# length every time, so byte offsets computed piecewise stay consistent with the whole.
ENCODING_ERRORS = "surrogatepass"


class PositionError(ValueError):
    """A position that is negative, malformed or (in strict mode) out of range."""


def encode(text: str) -> bytes:
    return text.encode("utf-8", ENCODING_ERRORS)


def scrub_surrogates(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD, for consumers that encode strictly.

    Both are one UTF-16 unit, so positions computed on the original stay valid.
    """
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub("\ufffd", text)


def byte_len(text: str) -> int:
    # isascii() is O(1) on CPython str objects, which makes the common case free.
    return len(text) if text.isascii() else len(encode(text))


def compute_line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in LINE_BREAK.finditer(text))]


def line_of(line_starts: Sequence[int], offset: int) -> int:
    return bisect_right(line_starts, offset) - 1


def line_end(text: str, line_starts: Sequence[int], line: int) -> int:
    """Offset of the end of `line`, before its line break."""
    if line + 1 < len(line_starts):
        end = line_starts[line + 1]
        if text[end - 1] == "\n":
            end -= 2 if end >= 2 and text[end - 2] == "\r" else 1
        else:
            end -= 1
        return end
    return len(text)


def splice_line_starts(
    old_starts: list[int], start: int, end: int, inserted: str, new_text: str
) -> list[int]:
    """Line starts of `new_text`, the result of replacing old[start:end] with `inserted`.

    Only the lines around the edit are rescanned; the tail is shifted. One extra line on each
    side is rescanned because an edit can join or split a "\\r\\n" pair at its borders.
    A new list is returned so snapshots may keep the old one.
    """
    first = max(line_of(old_starts, start) - 1, 0)
    region_start = old_starts[first]
    k = bisect_right(old_starts, end + 1)
    delta = len(inserted) - (end - start)
    tail = [s + delta for s in old_starts[k:]]
    if tail:
        limit = tail[0]
        middle = [
            m.end() for m in LINE_BREAK.finditer(new_text, region_start, limit) if m.end() < limit
        ]
    else:
        middle = [m.end() for m in LINE_BREAK.finditer(new_text, region_start)]
    return old_starts[: first + 1] + middle + tail


def utf16_to_index(line_text: str, character: int) -> tuple[int, bool]:
    """Index into `line_text` for a UTF-16 column, and whether the column was past the end.

    A column inside a surrogate pair snaps back to the start of that character.
    """
    if line_text.isascii() or not _ASTRAL.search(line_text):
        if character > len(line_text):
            return len(line_text), True
        return character, False
    units = 0
    for i, ch in enumerate(line_text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > character:
            return i, False
        units += width
    return len(line_text), character > units


def index_to_utf16(line_text: str, index: int) -> int:
    head = line_text[:index]
    if head.isascii() or not _ASTRAL.search(head):
        return len(head)
    return len(head) + len(_ASTRAL.findall(head))


def check_position(line: int, character: int) -> None:
    if not isinstance(line, int) or not isinstance(character, int):
        raise PositionError(f"position must be integers, got ({line!r}, {character!r})")
    if line < 0 or character < 0:
        raise PositionError(f"negative position ({line}, {character})")


def offset_at(
    text: str, line_starts: Sequence[int], line: int, character: int, *, strict: bool
) -> int:
    """String index of an LSP position.

    strict: out-of-range lines or columns raise PositionError (completion requests).
    lenient: a line past the end means the end of the document and a column past the end of
    its line means the end of that line (how LSP asks edits to be treated).
    """
    check_position(line, character)
    if line >= len(line_starts):
        if strict:
            raise PositionError(f"line {line} out of range (document has {len(line_starts)})")
        return len(text)
    start = line_starts[line]
    end = line_end(text, line_starts, line)
    index, past_end = utf16_to_index(text[start:end], character)
    if past_end and strict:
        raise PositionError(f"character {character} out of range on line {line}")
    return start + index


def position_at(text: str, line_starts: Sequence[int], offset: int) -> tuple[int, int]:
    """LSP (line, UTF-16 character) of a string index (clamped to the document)."""
    offset = min(max(offset, 0), len(text))
    line = line_of(line_starts, offset)
    start = line_starts[line]
    end = min(offset, line_end(text, line_starts, line))
    return line, index_to_utf16(text[start:end], end - start)


def ts_point(text: str, offset: int) -> tuple[int, int]:
    """Tree-sitter (row, byte column) of a string index: only \\n starts a row there."""
    row = text.count("\n", 0, offset)
    row_start = text.rfind("\n", 0, offset) + 1
    return row, byte_len(text[row_start:offset])


def ts_point_after(start: tuple[int, int], inserted: str) -> tuple[int, int]:
    """Point reached after `inserted` is placed at `start`."""
    newlines = inserted.count("\n")
    if not newlines:
        return start[0], start[1] + byte_len(inserted)
    return start[0] + newlines, byte_len(inserted[inserted.rfind("\n") + 1 :])
