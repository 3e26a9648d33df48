"""What hole punching reads from a file's syntax tree: code tokens per line, definitions.

A line is a hole candidate only where it has code: tokens that are neither comments nor
inside string literals (docstrings included). Files without a grammar get a plain
heuristic (comment markers, word starts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import tree_sitter

from ..context.languages import LanguageSpec, language_for

_COMMENT_OR_STRING = re.compile(r"comment|string|heredoc|char_literal|rune_literal")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMENT_MARKERS = ("#", "//", "/*", "*", "--", ";")
_IMPORT_LINE = re.compile(r"^\s*(import\b|from\s+\S+\s+import\b|#include\b|use\b|package\b)")


@dataclass(frozen=True)
class Token:
    """A code token on one line: start and end as str indices into that line."""

    start: int
    end: int
    text: str

    @property
    def is_word(self) -> bool:
        return bool(_WORD.fullmatch(self.text))


@dataclass
class FileSyntax:
    """One file's lines, their code tokens, its function bodies and the names it defines."""

    lines: list[str]
    tokens: dict[int, list[Token]] = field(default_factory=dict)
    # (first row, last row) of small function bodies that can be removed whole.
    bodies: list[tuple[int, int]] = field(default_factory=list)
    defined: set[str] = field(default_factory=set)
    import_rows: set[int] = field(default_factory=set)
    language: str | None = None


def analyse(text: str, uri: str) -> FileSyntax:
    lines = text.split("\n")
    spec = language_for("", uri)
    syntax = FileSyntax(lines=lines, language=spec.name if spec else None)
    if spec is None:
        _plain_tokens(syntax)
        return syntax
    source = text.encode("utf-8")
    tree = spec.parse(source)
    _tree_tokens(syntax, tree.root_node)
    for node in _walk(tree.root_node):
        if spec.is_import(node, source):
            syntax.import_rows.update(range(node.start_point.row, node.end_point.row + 1))
        if node.type in spec.definition_types:
            name = _definition_name(node)
            if name:
                syntax.defined.add(name)
            if node.type in spec.function_types:
                _add_body(syntax, spec, node)
    syntax.defined |= _python_globals(tree.root_node) if spec.name == "python" else set()
    syntax.import_rows |= {i for i, line in enumerate(lines) if _IMPORT_LINE.match(line)}
    return syntax


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _char_col(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def _tree_tokens(syntax: FileSyntax, root: tree_sitter.Node) -> None:
    """Leaves outside comments and strings, per line (leaves spanning lines are skipped)."""
    stack: list[tuple[tree_sitter.Node, bool]] = [(root, False)]
    while stack:
        node, quoted = stack.pop()
        quoted = quoted or bool(_COMMENT_OR_STRING.search(node.type))
        if node.child_count:
            stack.extend((child, quoted) for child in reversed(node.children))
            continue
        row = node.start_point.row
        if quoted or node.end_point.row != row or row >= len(syntax.lines):
            continue
        line = syntax.lines[row]
        start = _char_col(line, node.start_point.column)
        end = _char_col(line, node.end_point.column)
        if end > start:
            syntax.tokens.setdefault(row, []).append(Token(start, end, line[start:end]))
    for row_tokens in syntax.tokens.values():
        row_tokens.sort(key=lambda token: token.start)


def _plain_tokens(syntax: FileSyntax) -> None:
    for row, line in enumerate(syntax.lines):
        if line.strip().startswith(_COMMENT_MARKERS):
            continue
        found = [Token(m.start(), m.end(), m.group()) for m in re.finditer(r"\w+|[^\w\s]", line)]
        if found:
            syntax.tokens[row] = found


def _definition_name(node: tree_sitter.Node) -> str | None:
    """The defined name: a `name` field, or the identifier inside a declarator/type spec."""
    for _ in range(4):
        name = node.child_by_field_name("name")
        if name is not None and name.text is not None:
            return name.text.decode("utf-8", "replace")
        inner = node.child_by_field_name("declarator")
        if inner is None:
            inner = next((c for c in node.named_children if c.type == "type_spec"), None)
        if inner is None:
            return None
        if inner.type in ("identifier", "field_identifier") and inner.text is not None:
            return inner.text.decode("utf-8", "replace")
        node = inner
    return None


def _python_globals(root: tree_sitter.Node) -> set[str]:
    names = set()
    for statement in root.named_children:
        child = statement.named_children[0] if statement.named_children else None
        if statement.type == "expression_statement" and child and child.type == "assignment":
            left = child.child_by_field_name("left")
            if left is not None and left.type == "identifier" and left.text:
                names.add(left.text.decode("utf-8", "replace"))
    return names


def _add_body(syntax: FileSyntax, spec: LanguageSpec, node: tree_sitter.Node) -> None:
    """Record a function body of 2-10 lines that starts and ends on lines of its own."""
    body = spec.body_of(node)
    if body is None:
        return
    if spec.name == "python":
        statements = list(body.named_children)
        if statements and _is_docstring(statements[0]):
            statements = statements[1:]
        if not statements or statements[0].start_point.row <= node.start_point.row:
            return
        first, last = statements[0].start_point.row, body.end_point.row
    else:
        first, last = body.start_point.row + 1, body.end_point.row - 1
        opening = syntax.lines[body.start_point.row].rstrip()
        closing = syntax.lines[body.end_point.row].lstrip()
        if not opening.endswith("{") or not closing.startswith("}"):
            return
    if 2 <= last - first + 1 <= 10:
        syntax.bodies.append((first, last))


def _is_docstring(statement: tree_sitter.Node) -> bool:
    children = statement.named_children
    return statement.type == "expression_statement" and len(children) == 1 and (
        children[0].type == "string"
    )
