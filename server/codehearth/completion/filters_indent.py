"""Clean-up filters for whitespace: the suggestion's indentation must fit the cursor's.

A model completing after an indented cursor often starts with a space its tokenizer glued
to the first word (" print" after eight spaces gives nine), or repeats the indentation the
editor already inserted, or indents with tabs in a file of spaces. Accepted as is, each of
these leaves code at a column no block has. The rules: the first line of a suggestion at
a blank line prefix lands on the deepest indentation level that is both reachable from the
cursor and not deeper than the model asked for; the lines after it move with it when they
were consistent with the model's column rather than the corrected one; every line is
indented in the file's own style. Mid-line, a suggestion does not add a second space after
one the user typed.
"""

from __future__ import annotations

from .surroundings import TAB_WIDTH, Surroundings, leading, render_indent, width


def fit_leading_whitespace(text: str, s: Surroundings) -> str:
    ctx = s.ctx
    if ctx.line_prefix.strip():
        return _no_double_space(text, s)
    first, sep, rest = text.partition("\n")
    if not first.strip():
        return text  # the suggestion starts on the next line; lines after are absolute
    lead = leading(first)
    cursor = width(ctx.line_prefix)
    asked = cursor + width(lead)
    reachable = [level for level in s.indent_levels() if cursor <= level <= asked]
    target = max(reachable) if reachable else cursor
    first = render_indent(target - cursor, s.tabs) + first[len(lead) :]
    if rest and target != asked:
        rest = _shift_if_consistent(rest, target - asked, s)
    return first + sep + rest


def _no_double_space(text: str, s: Surroundings) -> str:
    """`x = ` + ` 1`: the space typed already separates; inside a string it is content."""
    if not s.ctx.line_prefix.endswith((" ", "\t")) or text[:1] not in (" ", "\t"):
        return text
    state = s.brackets
    if state is not None and state.string is not None:
        return text
    return text.lstrip(" \t")


def _shift_if_consistent(rest: str, delta: int, s: Surroundings) -> str:
    """Move the following lines by `delta` columns when they sit on the model's grid (off
    by delta from the file's levels) and not already on the file's own."""
    lines = rest.split("\n")
    widths = [width(leading(ln)) for ln in lines if ln.strip()]
    if not widths:
        return rest
    on_file_grid = all(w % s.unit == 0 for w in widths)
    on_model_grid = all(w + delta >= 0 and (w + delta) % s.unit == 0 for w in widths)
    if on_file_grid or not on_model_grid:
        return rest
    shifted = []
    for line in lines:
        if not line.strip():
            shifted.append(line)
            continue
        lead = leading(line)
        shifted.append(render_indent(width(lead) + delta, s.tabs) + line[len(lead) :])
    return "\n".join(shifted)


def normalize_indent_style(text: str, s: Surroundings) -> str:
    """Lines after the first indented with the file's tabs or spaces: a tab the model
    wrote is one level of the file, four spaces are one tab of a tab-indented file."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    out = [lines[0]]
    for line in lines[1:]:
        lead = leading(line)
        if line.strip() and s.tabs and " " * TAB_WIDTH in lead:
            line = render_indent(width(lead), True) + line[len(lead) :]
        elif line.strip() and not s.tabs and "\t" in lead:
            columns = lead.count("\t") * s.unit + lead.count(" ")
            line = " " * columns + line[len(lead) :]
        out.append(line)
    return "\n".join(out)
