"""Where the prefix window starts.

llama.cpp reuses the KV cache only for the part of a prompt identical to the previous one, so
the first line of the prefix (the cut) must not move while the user types, and should move
rarely and by large steps while they walk down the file. Hence:

* The window is measured on lines strictly above the cursor line: what is typed on the
  cursor line never changes it (a reserve of the budget is kept for that line; the builder
  doubles it for a line that outgrows it, so even then the cut moves only now and then).
* The cut is the earliest *candidate* line whose window fits. Candidates are starts of
  syntax nodes: along the path from the root to the cursor, the node containing (or last
  before) the cursor at each depth, plus, among its preceding siblings, only those starting a
  new `group_bytes`-sized chunk of the file. So the cut snaps to the enclosing definition
  when it fits, and otherwise advances a chunk at a time rather than a line at a time.
* Without a tree, candidates are multiples of QUANTUM_LINES.

The tree itself can change shape while a line is half typed (error recovery); the builder
remembers the cut per text above the cursor line (anchors.py) so that cannot move it either.
"""

from __future__ import annotations

from collections.abc import Callable

import tree_sitter

QUANTUM_LINES = 16


def window_start(
    cursor_line: int, line_tokens: Callable[[int], int], budget: int, max_lines: int
) -> int:
    """The earliest line such that lines [line, cursor_line) fit in `budget` and `max_lines`."""
    line = cursor_line
    floor = max(cursor_line - max_lines, 0)
    used = 0
    while line > floor:
        cost = line_tokens(line - 1)
        if used + cost > budget:
            break
        used += cost
        line -= 1
    return line


def quantized_cut(first_line: int, cursor_line: int, quantum: int = QUANTUM_LINES) -> int:
    cut = -(-first_line // quantum) * quantum
    return cut if cut <= cursor_line else cursor_line


def first_named_child_after(node: tree_sitter.Node, byte: int) -> tree_sitter.Node | None:
    """First named child of `node` ending after `byte` (binary search over children).

    Node.first_named_child_for_byte is not used: in py-tree-sitter 0.26 it can hand back an
    invalid node that crashes the interpreter, and the cursor variant finds nothing when
    `byte` falls between two children.
    """
    lo, hi = 0, node.named_child_count
    while lo < hi:
        mid = (lo + hi) // 2
        child = node.named_child(mid)
        if child is not None and child.end_byte > byte:
            hi = mid
        else:
            lo = mid + 1
    return node.named_child(lo) if lo < node.named_child_count else None


def _last_child_before(node: tree_sitter.Node, limit: int) -> tree_sitter.Node | None:
    """The last named child of `node` starting before byte `limit`."""
    child = first_named_child_after(node, limit)
    if child is None:
        count = node.named_child_count
        last = node.named_child(count - 1) if count else None
        return last if last is not None and last.start_byte < limit else None
    if child.start_byte < limit:
        return child
    return child.prev_named_sibling


def _earliest_group_start(
    parent: tree_sitter.Node,
    last: tree_sitter.Node,
    first_line: int,
    first_byte: int,
    group_bytes: int,
) -> int | None:
    """Row of the first child of `parent` before `last`, at or below `first_line`, that
    starts a new chunk of the file; None if there is none."""
    node = first_named_child_after(parent, first_byte)
    prev = node.prev_named_sibling if node is not None else None
    while node is not None and node.start_byte < last.start_byte:
        if node.start_point.row >= first_line and (
            prev is None or node.start_byte // group_bytes != prev.start_byte // group_bytes
        ):
            return int(node.start_point.row)
        prev = node
        node = node.next_named_sibling
    return None


def syntax_cut(
    root: tree_sitter.Node,
    first_line: int,
    first_byte: int,
    cursor_line_byte: int,
    group_bytes: int,
) -> int | None:
    """Earliest candidate line >= first_line (see module doc), None if there is none.

    Rows of the tree must equal document lines (no lone "\r" line breaks). ERROR nodes are
    looked through: while a line is half typed, error recovery may wrap a whole region in
    one, and its start is not a boundary the user sees.
    """
    if first_line == 0:
        return 0
    group_bytes = max(group_bytes, 1)
    node = root
    for _ in range(256):  # depth guard for pathological nesting
        last = _last_child_before(node, cursor_line_byte)
        if last is None:
            return None
        if last.start_point.row >= first_line:
            row = _earliest_group_start(node, last, first_line, first_byte, group_bytes)
            if row is not None:
                return row
            if not last.is_error or _last_child_before(last, cursor_line_byte) is None:
                return int(last.start_point.row)
        node = last
    return None
