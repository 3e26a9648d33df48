"""Clean-up filters for what a suggestion says: its extent, repetition and overlap.

Each filter takes the suggestion so far and the surroundings, and returns the text to keep
(None: drop the suggestion). They follow the rules the strongest completers converged on
(Tabby's post-processing filters, Continue's stream filters): one line mid-line; a block
stops where the cursor's block ends; a suggestion never repeats the line above, the lines
below, a closing line the suffix already has, or brackets and quotes the editor already
inserted after the cursor; it never closes a bracket nobody opened; a model's loop
(the same lines or the same few characters over and over) is cut off.
"""

from __future__ import annotations

import re

from .brackets import CLOSERS, BracketState, Scanner, first_unmatched_closer, left_open_by
from .surroundings import Surroundings, leading, width

MIN_CHARS = 2  # at a blank line, shorter is noise unless it only closes or ends something
_CLOSING_ONLY = re.compile(r"^[\s)\]};:,>]+$")
_CLOSING_LINE = re.compile(r"^\s*(?:[)\]}]+[;,)]*|end\)?[;,]?)\s*$")
_LINE_END_LOOP = re.compile(r"(.{2,}?)\1{4,}$")  # a pattern repeated 5+ times at the end
_AUTO_CLOSED = set(CLOSERS) | {'"', "'", "`"}
MIN_REPEAT_CHARS = 6  # a repeat of the line above shorter than this may be meant


def first_line_only(text: str, s: Surroundings) -> str:
    return text if s.ctx.multiline else text.split("\n", 1)[0]


def stop_at_block_end(text: str, s: Surroundings) -> str:
    """A block suggestion ends before the first line indented less than the cursor."""
    ctx = s.ctx
    if not ctx.multiline or "\n" not in text:
        return text
    base = width(ctx.indent) if not ctx.line_prefix.strip() else 0
    lines = text.split("\n")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() and width(leading(line)) < base:
            return "\n".join(lines[:i])
    return text


def drop_repetitive_tail(text: str, s: Surroundings) -> str:
    """`a\\nb\\na\\nb\\na\\nb` -> `a\\nb`: a tail block repeated (a line 3+ times, a block
    of lines twice) is kept once. Lines compare as they will stand in the file."""
    lines = [ln.rstrip() for ln in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    absolute = [s.ctx.line_prefix + lines[0], *lines[1:]] if lines else []
    keep = _without_repeated_tail(absolute)
    if keep == len(lines):
        return text
    return "\n".join(lines[:keep])


def _without_repeated_tail(lines: list[str]) -> int:
    """How many lines remain once a repeated tail block is kept once."""
    end = len(lines)
    for period in range(1, end // 2 + 1):
        block = lines[end - period : end]
        if not any(len(ln.strip()) >= 3 for ln in block):
            continue
        copies = 1
        while end - period * (copies + 1) >= 0 and (
            lines[end - period * (copies + 1) : end - period * copies] == block
        ):
            copies += 1
        if copies >= (3 if period == 1 else 2):
            return end - period * (copies - 1)
    return end


def drop_line_end_repetition(text: str, s: Surroundings) -> str | None:
    """A last line that ends in a loop (`0, 0, 0, 0, 0, 0`) is dropped."""
    lines = text.split("\n")
    if not _LINE_END_LOOP.search(lines[-1].rstrip()):
        return text
    if len(lines) == 1:
        return None
    return "\n".join(lines[:-1])


def stop_before_suffix_lines(text: str, s: Surroundings) -> str | None:
    """The model rewriting code that is already below the cursor: stop where it starts."""
    if not s.below:
        return text
    nxt = s.below[0]
    lines = text.split("\n")
    first = lines[0].strip()
    if not s.ctx.line_prefix.strip() and first == nxt.strip() and len(first) >= MIN_REPEAT_CHARS:
        return None  # at a blank line, the first line repeats the next one
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == nxt.strip() and _same_line(line, nxt):
            return "\n".join(lines[:i])
    return text


def _same_line(line: str, other: str) -> bool:
    """Equal text; a short line (a lone `}`) must also stand at the same indentation."""
    if len(line.strip()) >= MIN_REPEAT_CHARS:
        return True
    return width(leading(line)) == width(leading(other))


def drop_duplicated_closing_line(text: str, s: Surroundings) -> str | None:
    """A suggestion ending with `}` (or `)`, `end`...) when the next line already is that
    closing line at that indentation."""
    if not s.below:
        return text
    lines = text.rstrip().split("\n")
    last, nxt = lines[-1], s.below[0]
    if len(lines) == 1:
        if s.ctx.line_prefix.strip():
            return text
        last = s.ctx.line_prefix + last
    same_indent = width(leading(last)) == width(leading(nxt))
    if not (_CLOSING_LINE.match(last) and last.strip() == nxt.strip() and same_indent):
        return text
    return "\n".join(lines[:-1]) if len(lines) > 1 else None


def drop_line_suffix_overlap(text: str, s: Surroundings) -> str | None:
    """Text the rest of the line already has is not suggested again: the brackets and
    quotes an editor auto-inserted (`return (lo|)` + ` + high) * 0.5` gives ` + high`),
    and an ending that repeats the line's rest."""
    line_suffix = s.ctx.line_suffix
    if not line_suffix.strip():
        return text
    first, sep, rest = text.partition("\n")
    cut = _auto_closed_overlap(first, line_suffix[0], s) if line_suffix[0] in _AUTO_CLOSED else None
    if cut is not None:
        first, sep, rest = first[:cut].rstrip(), "", ""
    else:
        first = _strip_repeated_ending(first, line_suffix)
    if line_suffix.lstrip().startswith((first + sep + rest).strip()):
        return None  # everything suggested is already there
    return first + sep + rest


def _auto_closed_overlap(first: str, closer: str, s: Surroundings) -> int | None:
    """Where the suggestion itself closes what the character after the cursor closes."""
    state = s.brackets
    language = s.ctx.language if state is not None else None
    if closer in CLOSERS:
        if state is not None and state.string is not None:
            return None  # a bracket typed inside a string closes nothing
        found: list[int] = []

        def at_depth_zero(index: int, char: str, current: BracketState) -> bool:
            if char == closer and not current.stack:
                found.append(index)
                return False
            return True

        Scanner(language).feed(first, at_depth_zero)
        return found[0] if found else None
    if state is not None and state.string == closer:
        index = _unescaped(first, closer)
        return index
    return None


def _unescaped(text: str, quote: str) -> int | None:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return None


def _strip_repeated_ending(suggestion: str, line_suffix: str) -> str:
    """Drop an ending of the suggestion that is the whole rest of the line."""
    tail = line_suffix.strip()
    stripped = suggestion.rstrip()
    if len(stripped) > len(tail) and stripped.endswith(tail):
        return stripped[: len(stripped) - len(tail)]
    return suggestion


def stop_at_unmatched_closer(text: str, s: Surroundings) -> str:
    """Stop before a closing bracket that closes nothing: neither opened by the suggestion
    nor left open before the cursor by everything after it."""
    state = s.brackets
    if state is None or state.broken:
        return text  # the scan started inside something: it cannot tell
    allowed = left_open_by(s.ctx.suffix, s.ctx.language, state)
    index = first_unmatched_closer(text, s.ctx.language, allowed)
    if index is None:
        return text
    return text[:index].rstrip(" \t")


def drop_repeat_of_line_above(text: str, s: Surroundings) -> str | None:
    """The completed cursor line would be a copy of the line above."""
    if not s.above:
        return text
    completed = (s.ctx.line_prefix + text.split("\n", 1)[0]).strip()
    if len(completed) >= MIN_REPEAT_CHARS and completed == s.above[-1].strip():
        return None
    return text


def trim_trailing(text: str, s: Surroundings) -> str:
    lines = [ln.rstrip() for ln in text.split("\n")]
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


def drop_too_short(text: str, s: Surroundings) -> str | None:
    """Whitespace is nothing; at a blank line a single character is noise (mid-line it may
    be the variable the line needs)."""
    kept = text.strip()
    if not kept:
        return None
    at_blank_line = not s.ctx.line_prefix.strip()
    if at_blank_line and len(kept) < MIN_CHARS and not _CLOSING_ONLY.match(kept):
        return None
    return text
