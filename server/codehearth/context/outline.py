"""The `extra` part of a completion context: imports and signatures above the cut.

Code above the prefix cut is summarised as it would appear with bodies elided: imports
verbatim, functions as their signature plus an elision marker, classes/impls/namespaces as
their header with member signatures, short data definitions verbatim. Definitions the cut
falls inside of contribute their header (left open, since the prefix continues inside them).

Everything here is derived from the tree above the cut only, so the result stays the same
while the user types below it, which keeps the prompt's beginning identical between requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import tree_sitter

from .languages import LanguageSpec

Node = tree_sitter.Node

MAX_VERBATIM_LINES = 12  # data definitions up to this size are shown whole
MAX_MEMBERS = 24  # members listed per container
MAX_RENDERED = 96  # definitions rendered per request, bounds the work on huge files
MAX_SCANNED = 4096  # children looked at per level (generated files can have 100k statements)
# Decorators plus a multi-line signature rarely take more lines than this; a "body" further
# away comes from error recovery gluing unrelated code together, and is not used.
MAX_HEAD_LINES = 16
# A text this many times longer (in characters) than its token allowance cannot fit; it is
# skipped without asking the tokenizer, which is slow on long strings.
MAX_CHARS_PER_TOKEN = 24
IMPORT_SHARE = 0.6  # imports may take this much of the extra budget before signatures


@dataclass(frozen=True)
class _Item:
    start: int  # byte offset, for source order
    text: str
    # For containers: (header, members, closer) to list fewer members when `text` does not
    # fit, and `compact` (signature with the body elided) when not even that fits.
    parts: tuple[str, tuple[str, ...], str] | None = None
    compact: str | None = None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def _brace_block(node: Node, depth: int) -> Node | None:
    """A descendant delimited by { } (struct fields of a typedef or Go type), if any."""
    for child in node.named_children:
        if child.child_count and child.children[0].type == "{" and child.children[-1].type == "}":
            return child
        if depth > 1 and (found := _brace_block(child, depth - 1)) is not None:
            return found
    return None


class _Renderer:
    def __init__(self, spec: LanguageSpec, source: bytes, eol: str) -> None:
        self.spec = spec
        self.source = source
        self.eol = eol

    def text(self, start: int, end: int) -> str:
        return _decode(self.source[start:end])

    def indent_of(self, node: Node) -> str:
        line_start = self.source.rfind(b"\n", 0, node.start_byte) + 1
        lead = self.source[line_start : node.start_byte]
        return _decode(lead) if not lead.strip() else ""

    def lines_of(self, node: Node) -> int:
        return node.end_point.row - node.start_point.row + 1

    def body(self, node: Node) -> Node | None:
        body = self.spec.body_of(node)
        if body is None and node.type in self.spec.type_types:
            body = _brace_block(node, 3)
        if body is not None and body.start_point.row - node.start_point.row > MAX_HEAD_LINES:
            return None
        return body

    def head(self, outer: Node, body: Node) -> str:
        """Decorators/export/template prefix and signature: everything up to the body."""
        return self.indent_of(outer) + self.text(outer.start_byte, body.start_byte).rstrip()

    def header(self, outer: Node, node: Node) -> str | None:
        """The head of a definition the listing continues inside of, with the body's opener."""
        body = self.body(node)
        if body is None:
            return None
        head = self.head(outer, body)
        return head + " {" if body.child_count and body.children[0].type == "{" else head

    def elided(self, outer: Node, body: Node) -> str:
        tail = self.text(body.end_byte, outer.end_byte).strip()
        sep = "" if not tail or tail[0] in ";,)" else " "
        return self.head(outer, body) + self.spec.elision + sep + tail

    def verbatim(self, node: Node, first_line_only: bool = False) -> str:
        end = node.end_byte
        after = node.next_sibling
        if (
            after is not None
            and not after.is_named
            and after.type in (":", ";", ",")
            and after.start_point.row == node.end_point.row
        ):
            end = after.end_byte  # `public` + `:` in C++, enum variants + `,`
        if first_line_only:
            newline = self.source.find(b"\n", node.start_byte, end)
            end = end if newline < 0 else newline
        return self.indent_of(node) + self.text(node.start_byte, end).rstrip()

    def definition(self, outer: Node, node: Node, depth: int = 0) -> str:
        spec = self.spec
        is_type = node.type in spec.type_types
        short = self.lines_of(outer) <= (MAX_VERBATIM_LINES if is_type else 3)
        body = self.body(node)
        if body is None or (is_type and short):
            return self.verbatim(outer, first_line_only=not short)
        if is_type or node.type in spec.container_types:
            return self.container(outer, node, body, depth)
        return self.elided(outer, body)

    def container(self, outer: Node, node: Node, body: Node, depth: int) -> str:
        header, members, closer = self.container_parts(outer, node, body, depth)
        return self.eol.join([header, *members, *([closer] if closer else [])])

    def container_parts(
        self, outer: Node, node: Node, body: Node, depth: int = 0
    ) -> tuple[str, tuple[str, ...], str]:
        header = self.header(outer, node) or self.head(outer, body)
        members: list[str] = []
        if depth < 2:
            is_type = node.type in self.spec.type_types
            for child in body.named_children:
                rendered = self.verbatim(child, True) if is_type else self.member(child, depth)
                if rendered:
                    members.append(rendered)
                    if len(members) >= MAX_MEMBERS:
                        break
        closer = ""
        if body.child_count and body.children[-1].type == "}":
            closer = self.indent_of(outer) + "}"
        return header, tuple(members), closer

    def compact(self, outer: Node, node: Node) -> str | None:
        """Signature with the body elided, for containers too big for the budget left."""
        body = self.body(node)
        return self.elided(outer, body) if body is not None else None

    def member(self, child: Node, depth: int) -> str | None:
        inner = self.spec.unwrap(child)
        if inner is not None:
            return self.definition(child, inner, depth + 1)
        if child.type in self.spec.member_types and self.lines_of(child) <= 2:
            return self.verbatim(child)
        return None


# Shared with definitions.py, which renders other files' definitions the same way.
Renderer = _Renderer


def _children_before(node: Node, limit: int) -> list[Node]:
    """Named children of `node` starting before byte `limit`.

    ERROR nodes that end before `limit` are replaced by their children: error recovery
    while a line is being typed may wrap whole regions in one, and what is inside still
    is what the user wrote above the cut.
    """
    result: list[Node] = []
    cursor = node.walk()
    if not cursor.goto_first_child():
        return result
    for _ in range(MAX_SCANNED):
        child = cursor.node
        if child is None or child.start_byte >= limit:
            break
        if child.is_error and child.end_byte <= limit:
            result.extend(_children_before(child, limit))
        elif child.is_named:
            result.append(child)
        if not cursor.goto_next_sibling():
            break
    return result


def _collect(
    renderer: _Renderer, root: Node, cut: int
) -> tuple[list[_Item], list[_Item], list[tuple[Node, Node | None]]]:
    """Open headers of definitions around the cut, imports, and definitions above it.

    Definitions are (outer node, definition) pairs; a None definition marks a member (a
    field of a class the cut is inside of) shown verbatim.
    """
    spec = renderer.spec
    headers: list[_Item] = []
    imports: list[_Item] = []
    definitions: list[tuple[Node, Node | None]] = []
    node: Node | None = root
    in_body = False
    while node is not None:
        spanning: Node | None = None
        for child in _children_before(node, cut):
            if child.end_byte > cut:
                spanning = child
            elif spec.is_import(child, renderer.source):
                imports.append(_Item(child.start_byte, renderer.verbatim(child)))
            elif (inner := spec.unwrap(child)) is not None:
                definitions.append((child, inner))
            elif in_body and child.type in spec.member_types and renderer.lines_of(child) <= 2:
                definitions.append((child, None))
        node = spanning
        inner = spec.unwrap(spanning) if spanning is not None else None
        if spanning is not None and inner is not None:
            body = renderer.body(inner)
            header = renderer.header(spanning, inner)
            if body is None or header is None or body.start_byte > cut:
                break  # the cut is inside a signature: nothing above it to summarise
            headers.append(_Item(spanning.start_byte, header))
            node = body
            in_body = True
    return headers, imports, definitions


class _Selection:
    """Items chosen for the extra, within a token budget."""

    def __init__(self, count_tokens: Callable[[str], int], budget: int, eol: str) -> None:
        self.count = count_tokens
        self.left = budget
        self.eol = eol
        self.chosen: list[_Item] = []

    def cost(self, text: str) -> int:
        return self.count(text + self.eol)

    def take(self, item: _Item, allowance: int | None = None) -> bool:
        """Add the richest rendering of `item` that fits; False if none does."""
        allowance = self.left if allowance is None else allowance
        for text in self._renderings(item, allowance):
            if len(text) > allowance * MAX_CHARS_PER_TOKEN:
                continue
            cost = self.cost(text)
            if cost <= allowance:
                self.chosen.append(_Item(item.start, text))
                self.left -= cost
                return True
        return False

    def _renderings(self, item: _Item, allowance: int) -> Iterator[str]:
        yield item.text
        if item.parts is not None:
            header, members, closer = item.parts
            used = self.cost(header) + (self.cost(closer) if closer else 0)
            kept: list[str] = []
            for member in members:
                used += self.cost(member)
                if used > allowance:
                    break
                kept.append(member)
            if kept and len(kept) < len(members):
                yield self.eol.join([header, *kept, *([closer] if closer else [])])
        if item.compact is not None:
            yield item.compact

    def text(self) -> str:
        if not self.chosen:
            return ""
        self.chosen.sort(key=lambda item: item.start)
        return self.eol.join(item.text for item in self.chosen) + self.eol


def build_extra(
    spec: LanguageSpec,
    tree: tree_sitter.Tree,
    source: bytes,
    cut_byte: int,
    count_tokens: Callable[[str], int],
    budget: int,
    eol: str = "\n",
) -> str:
    """Imports and signatures from above `cut_byte`, within `budget` tokens, in source order.

    Priority: headers of definitions the cut is inside of, then imports (up to
    IMPORT_SHARE of the budget), then definitions nearest to the cut first.
    """
    if cut_byte <= 0 or budget <= 0:
        return ""
    renderer = _Renderer(spec, source, eol)
    headers, imports, definitions = _collect(renderer, tree.root_node, cut_byte)
    selection = _Selection(count_tokens, budget, eol)
    for item in headers:
        selection.take(item)
    import_left = min(selection.left, int(budget * IMPORT_SHARE) if definitions else budget)
    for item in imports:
        before = selection.left
        if not selection.take(item, import_left):
            break
        import_left -= before - selection.left
    for rendered, (outer, inner) in enumerate(reversed(definitions)):
        if selection.left <= 0 or rendered >= MAX_RENDERED:
            break
        selection.take(_definition_item(renderer, outer, inner))
    return selection.text()


def _definition_item(renderer: _Renderer, outer: Node, inner: Node | None) -> _Item:
    if inner is None:
        return _Item(outer.start_byte, renderer.verbatim(outer))
    spec = renderer.spec
    text = renderer.definition(outer, inner)
    body = renderer.body(inner)
    is_type = inner.type in spec.type_types
    if body is None or not (is_type or inner.type in spec.container_types):
        return _Item(outer.start_byte, text)
    parts = renderer.container_parts(outer, inner, body)
    return _Item(outer.start_byte, text, parts, renderer.compact(outer, inner))
