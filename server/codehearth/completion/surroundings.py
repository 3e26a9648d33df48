"""What the clean-up filters need to know about the text around the cursor, read once.

A completion context holds the prefix and suffix as text; every filter asks the same few
questions of them (the lines above and below, the file's indentation unit, what is open at
the cursor), so they are answered here once per suggestion.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

from ..context.builder import CompletionContext
from .brackets import BracketState, known_language, state_after

TAB_WIDTH = 4  # how wide a tab counts when tabs and spaces are compared
SCAN_CHARS = 8000  # the bracket scan reads at most this much of the prefix
NEAR_LINES = 8  # lines above / below kept for the repetition filters


def leading(text: str) -> str:
    return text[: len(text) - len(text.lstrip(" \t"))]


def width(whitespace: str) -> int:
    """Columns of leading whitespace, a tab counting TAB_WIDTH."""
    total = 0
    for char in whitespace:
        if char == "\t":
            total += TAB_WIDTH - total % TAB_WIDTH
        elif char == " ":
            total += 1
        else:
            break
    return total


def render_indent(columns: int, tabs: bool) -> str:
    if tabs:
        return "\t" * (columns // TAB_WIDTH) + " " * (columns % TAB_WIDTH)
    return " " * columns


_OPENER_ENDINGS = (":", "{", "(", "[", "=>", " do", " then", " else", "->")


@dataclass
class Surroundings:
    ctx: CompletionContext

    @cached_property
    def above(self) -> list[str]:
        """Non-blank lines above the cursor line, nearest last."""
        head = self.ctx.prefix[: len(self.ctx.prefix) - len(self.ctx.line_prefix)]
        lines = head.splitlines()
        return [ln for ln in lines[-200:] if ln.strip()][-NEAR_LINES * 8 :]

    @cached_property
    def below(self) -> list[str]:
        """Non-blank lines after the cursor line, nearest first."""
        rest = self.ctx.suffix[len(self.ctx.line_suffix) :].lstrip("\r\n")
        return [ln for ln in rest.splitlines()[:200] if ln.strip()][: NEAR_LINES * 8]

    @cached_property
    def tabs(self) -> bool:
        """The file indents with tabs (more tab-indented lines than space-indented)."""
        counts = Counter(leading(ln)[:1] for ln in self.above + self.below if leading(ln))
        if not counts:
            return "\t" in self.ctx.indent
        return counts["\t"] > counts[" "]

    @cached_property
    def unit(self) -> int:
        """Columns per indentation level: the commonest step between consecutive lines."""
        if self.tabs:
            return TAB_WIDTH
        cursor_line = [width(self.ctx.indent)] if self.ctx.indent else []
        widths = [width(leading(ln)) for ln in self.above]
        widths += cursor_line + [width(leading(ln)) for ln in self.below]
        steps = Counter(b - a for a, b in itertools.pairwise(widths) if b > a)
        if not steps:
            return 4
        step, _ = max(steps.items(), key=lambda kv: (kv[1], -kv[0]))
        return step if 1 < step <= 8 else 4

    @cached_property
    def brackets(self) -> BracketState | None:
        """What is open at the cursor; None in a language the scanner does not know."""
        if not known_language(self.ctx.language):
            return None
        return state_after(self.ctx.prefix[-SCAN_CHARS:], self.ctx.language)

    def indent_levels(self) -> list[int]:
        """The indentations a line at the cursor may have, deepest first: one level deeper
        than the line above when that line opens a block, else its own, and every level
        out from there."""
        if not self.above:
            return [0]
        previous = self.above[-1]
        top = width(leading(previous))
        if previous.rstrip().endswith(_OPENER_ENDINGS):
            top += self.unit
        return list(range(top, -1, -self.unit))
