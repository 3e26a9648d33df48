"""Turn raw model text into a suggestion the editor can show as ghost text.

The clean-up is a fixed pipeline of named filters (filters.py, filters_indent.py), each a
rule the strongest peers apply too: single line when the cursor is mid-line; indentation
that fits the cursor's block, in the file's tabs or spaces; a block that stops where the
cursor's block ends; no repeated lines, no rewrite of the lines above or below, no closing
line or auto-inserted bracket the text after the cursor already has, no unmatched closing
bracket; nothing too short. The order matters: the extent is settled (one line, one block)
before repetition and overlap are judged, and emptiness last.

`clean_suggestion(..., changed=counter)` counts the filters that changed the text, which
is how the benchmarks report what each rule does to real model output. The golden cases
in tests/fixtures/postprocess/ pin the behaviour per language.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ..context.builder import CompletionContext
from . import filters as f
from .filters_indent import fit_leading_whitespace, normalize_indent_style
from .surroundings import Surroundings, leading, width

Filter = Callable[[str, Surroundings], str | None]

FILTERS: tuple[tuple[str, Filter], ...] = (
    ("single_line", f.first_line_only),
    ("leading_whitespace", fit_leading_whitespace),
    ("indent_style", normalize_indent_style),
    ("block_scope", f.stop_at_block_end),
    ("repetitive_lines", f.drop_repetitive_tail),
    ("line_end_repetition", f.drop_line_end_repetition),
    ("suffix_lines", f.stop_before_suffix_lines),
    ("closing_line", f.drop_duplicated_closing_line),
    ("suffix_overlap", f.drop_line_suffix_overlap),
    ("unmatched_closer", f.stop_at_unmatched_closer),
    ("line_above", f.drop_repeat_of_line_above),
    ("trailing_whitespace", f.trim_trailing),
    ("minimum", f.drop_too_short),
)
FILTER_NAMES = tuple(name for name, _ in FILTERS)


def clean_suggestion(
    text: str, ctx: CompletionContext, changed: Counter[str] | None = None
) -> str | None:
    """The text to insert at the cursor, or None when nothing useful remains.

    `changed`, when given, counts each filter that changed (or dropped) the text."""
    current: str | None = text.replace("\r\n", "\n").replace("\r", "\n")
    around = Surroundings(ctx)
    for name, rule in FILTERS:
        assert current is not None
        result = rule(current, around)
        if changed is not None and result != current:
            changed[name] += 1
        if result is None or not result.strip():
            return None
        current = result
    return current


def block_finished(text: str, ctx: CompletionContext) -> bool:
    """True once the generated text has left the cursor's block: no need to generate more."""
    if not ctx.multiline or ctx.line_prefix.strip():
        return False
    base = width(ctx.indent)
    *complete, _partial = text.split("\n")
    return any(line.strip() and width(leading(line)) < base for line in complete[1:])
