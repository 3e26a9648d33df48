"""The top-level definitions of a file, each by name and rendered for a prompt.

What another file contributes to a completion is what the code at the cursor calls: the
signature of a function with its docstring (or the whole function when it is small), a
class's header with its members' signatures, a constant or a type alias as written. The
renderings reuse outline.py's (bodies elided the way the file's own outline elides them);
this module adds names, docstrings and doc comments, and the forms a module exports that
are not definitions in the outline's sense (constants, C prototypes and macros).

Results are kept per file text (a small LRU), so a block that is rebuilt reparses only
the files that changed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import tree_sitter

from .languages import LanguageSpec
from .outline import Renderer

Node = tree_sitter.Node

SMALL_LINES = 12  # a definition up to this many lines is shown whole
DOC_LINES = 6  # docstring / doc comment lines kept
MAX_DEFINITIONS = 512  # definitions read per file
MEMO_FILES = 64
# Top-level statements that are not definitions for the outline but are for a caller.
_EXTRA_KINDS = {
    "python": frozenset({"expression_statement"}),
    "c": frozenset({"declaration", "preproc_def", "preproc_function_def"}),
    "cpp": frozenset({"declaration", "preproc_def", "preproc_function_def"}),
    "go": frozenset({"const_declaration", "var_declaration"}),
    "rust": frozenset({"const_item", "static_item"}),
    "javascript": frozenset({"lexical_declaration", "variable_declaration"}),
    "typescript": frozenset({"lexical_declaration", "variable_declaration"}),
    "tsx": frozenset({"lexical_declaration", "variable_declaration"}),
}
_COMMENT_TYPES = frozenset({"comment", "line_comment", "block_comment"})
_NAMED_CHILDREN = frozenset(
    {"type_spec", "type_alias", "variable_declarator", "const_spec", "var_spec", "assignment"}
)
_NAME_LEAVES = frozenset({"identifier", "field_identifier", "type_identifier", "name"})


@dataclass(frozen=True)
class Definition:
    name: str
    text: str
    start: int  # byte offset: file order
    default_export: bool = False


def _text(source: bytes, node: Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def name_of(node: Node, source: bytes) -> str | None:
    """A definition's name: its `name` field, a declarator's identifier, the spec of a Go
    type or const, the target of an assignment; `M.greet` gives `greet`."""
    name = node.child_by_field_name("name")
    if name is None:
        for child in node.named_children:
            if child.type in _NAMED_CHILDREN:
                name = child.child_by_field_name("name") or child.child_by_field_name("left")
                break
    if name is None:
        name = node.child_by_field_name("declarator")
        for _ in range(6):
            if name is None or name.type in _NAME_LEAVES:
                break
            name = name.child_by_field_name("declarator") or (
                name.named_children[0] if name.named_children else None
            )
    if name is None:
        return None
    text = _text(source, name)
    return text.replace(":", ".").rsplit(".", 1)[-1] if text else None


class _Reader:
    def __init__(self, spec: LanguageSpec, source: bytes) -> None:
        self.spec = spec
        self.source = source
        self.renderer = Renderer(spec, source, "\n")

    def docstring(self, node: Node) -> str | None:
        """Python: the body's leading string."""
        body = self.spec.body_of(node)
        if self.spec.name != "python" or body is None or not body.named_children:
            return None
        first = body.named_children[0]
        is_string = first.named_children and first.named_children[0].type == "string"
        if first.type == "expression_statement" and is_string:
            return self.renderer.indent_of(first) + _cap(_text(self.source, first))
        return None

    def doc_comment(self, node: Node) -> str:
        """Comments right above the definition (`///`, `/** */`, `--`, `//`)."""
        lines: list[str] = []
        previous, row = node.prev_named_sibling, node.start_point.row
        while previous is not None and previous.type in _COMMENT_TYPES:
            if previous.end_point.row < row - 1:
                break
            lines.insert(0, _text(self.source, previous))
            row, previous = previous.start_point.row, previous.prev_named_sibling
        return _cap("\n".join(lines)) + "\n" if lines else ""

    def render(self, outer: Node, inner: Node) -> str:
        lines = outer.end_point.row - outer.start_point.row + 1
        comment = self.doc_comment(outer)
        body = self.renderer.body(inner)
        if lines <= SMALL_LINES or body is None:
            if lines <= SMALL_LINES:
                return comment + _text(self.source, outer)
            return comment + self.renderer.verbatim(outer, first_line_only=True)
        if inner.type in self.spec.container_types or inner.type in self.spec.type_types:
            return comment + self.renderer.container(outer, inner, body, 0)
        doc = self.docstring(inner)
        if doc is not None:
            indent = doc[: len(doc) - len(doc.lstrip())]
            return comment + self.renderer.head(outer, body) + "\n" + doc + "\n" + indent + "..."
        return comment + self.renderer.elided(outer, body)

    def definitions(self, root: Node) -> list[Definition]:
        found: list[Definition] = []
        extra = _EXTRA_KINDS.get(self.spec.name, frozenset())
        for node in root.named_children[:MAX_DEFINITIONS]:
            default = (
                node.type == "export_statement"
                and b"default" in self.source[node.start_byte : node.start_byte + 24]
            )
            inner = self.spec.unwrap(node)
            if inner is None:
                inner = _unwrap_extra(node, extra)
            if inner is None:
                continue
            name = name_of(inner, self.source)
            if name:
                found.append(Definition(name, self.render(node, inner), node.start_byte, default))
        return found


def _unwrap_extra(node: Node, kinds: frozenset[str]) -> Node | None:
    if node.type in kinds:
        return node
    if node.type == "export_statement":
        inner = node.child_by_field_name("declaration")
        if inner is not None and inner.type in kinds:
            return inner
    return None


def _cap(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= DOC_LINES:
        return text
    return "\n".join(lines[:DOC_LINES])


_MEMO: OrderedDict[tuple[str, str], list[Definition]] = OrderedDict()
_MEMO_LOCK = threading.Lock()


def file_definitions(spec: LanguageSpec, text: str) -> list[Definition]:
    """The file's top-level definitions in file order (memoized per text)."""
    key = (
        spec.name,
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest(),
    )
    with _MEMO_LOCK:
        found = _MEMO.get(key)
        if found is not None:
            _MEMO.move_to_end(key)
            return found
    source = text.encode("utf-8", "surrogatepass")
    tree = spec.parse(source)
    found = _Reader(spec, source).definitions(tree.root_node)
    with _MEMO_LOCK:
        _MEMO[key] = found
        while len(_MEMO) > MEMO_FILES:
            _MEMO.popitem(last=False)
    return found
