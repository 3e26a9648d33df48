"""Turn raw model text into a suggestion the editor can show as ghost text.

Rules: single line when the cursor is mid-line; at an empty line the suggestion
may span lines but stops where the block ends; text that already follows the
cursor is never repeated; empty or whitespace-only suggestions are dropped.
"""

from __future__ import annotations

from ..context.builder import CompletionContext


def _indent_width(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def _strip_overlap_with_line_suffix(suggestion: str, line_suffix: str) -> str:
    """Drop the end of the suggestion that the rest of the line already contains."""
    tail = line_suffix.strip()
    if not tail:
        return suggestion
    stripped = suggestion.rstrip()
    if stripped.endswith(tail):
        return stripped[: len(stripped) - len(tail)]
    for k in range(min(len(stripped), len(tail)), 0, -1):
        if stripped.endswith(tail[:k]) and not tail[:k].isalnum():
            return stripped[: len(stripped) - k]
    return suggestion


def _following_lines(suffix: str, line_suffix: str) -> list[str]:
    rest = suffix[len(line_suffix) :].lstrip("\r\n")
    return [ln for ln in rest.splitlines() if ln.strip()][:8]


def _cut_multiline(text: str, ctx: CompletionContext) -> str:
    base = _indent_width(ctx.indent) if ctx.line_prefix.strip() == "" else 0
    following = _following_lines(ctx.suffix, ctx.line_suffix)
    kept: list[str] = []
    for i, line in enumerate(text.split("\n")):
        if i > 0 and line.strip():
            if _indent_width(line) < base:
                break  # the enclosing block ended
            if following and line.strip() == following[0].strip():
                break  # the model is rewriting code that is already there
        kept.append(line.rstrip())
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def clean_suggestion(text: str, ctx: CompletionContext) -> str | None:
    """The text to insert at the cursor, or None when nothing useful remains."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if ctx.multiline:
        if not ctx.line_prefix.strip():
            # The cursor sits after indentation; the model may repeat it.
            first, sep, rest = text.partition("\n")
            text = first.lstrip(" \t") + sep + rest if first.startswith(ctx.indent) else text
        text = _cut_multiline(text, ctx)
    else:
        text = text.split("\n", 1)[0].rstrip()
        text = _strip_overlap_with_line_suffix(text, ctx.line_suffix)
        if ctx.line_suffix.strip() and ctx.line_suffix.lstrip().startswith(text.strip()):
            return None  # everything suggested is already there
    if not text.strip():
        return None
    return text


def block_finished(text: str, ctx: CompletionContext) -> bool:
    """True once the generated text has left the cursor's block: no need to generate more."""
    if not ctx.multiline or ctx.line_prefix.strip():
        return False
    base = _indent_width(ctx.indent)
    *complete, _partial = text.split("\n")
    return any(line.strip() and _indent_width(line) < base for line in complete[1:])
