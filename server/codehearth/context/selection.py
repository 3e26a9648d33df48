"""Code around a selection, read with tree-sitter, and fitted to a token budget.

What a model needs to explain (or discuss) a selection: the selected code, the definition
it sits in, the definitions of the same file it uses (identifiers in the selection that
name top-level functions or classes) and the file's imports. Gathering runs on any thread
(it reads an immutable snapshot); fitting counts tokens with the model, so it runs on the
engine's worker thread.

When everything does not fit, pieces degrade in order of usefulness: the selection is
kept (cut at line ends if it alone is too long), the enclosing definition and then the
referenced ones shrink to their signatures or go, imports are cut last-first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import tree_sitter

from .documents import DocumentSnapshot
from .languages import LanguageSpec
from .textindex import byte_len

CountTokens = Callable[[str], int]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SURROUNDING_LINES = 12  # without a syntax tree: this many lines either side
_BLOCK_OVERHEAD = 12  # tokens of a heading and a code fence


@dataclass(frozen=True)
class CodePiece:
    text: str
    first_line: int  # 0-based document line of text's first line
    short: str | None = None  # a signature to fall back on
    name: str | None = None

    @property
    def last_line(self) -> int:
        return self.first_line + self.text.count("\n")


@dataclass(frozen=True)
class CodeContext:
    path: str
    language: str
    selection: CodePiece
    enclosing: CodePiece | None = None
    references: tuple[CodePiece, ...] = ()
    imports: tuple[str, ...] = ()
    surrounding: CodePiece | None = None


def display_path(uri: str) -> str:
    path = unquote(urlparse(uri).path) if ":" in uri else uri
    return os.path.basename(path) or uri


def gather_context(snap: DocumentSnapshot, start: int, end: int) -> CodeContext:
    """Context for the text between string offsets start and end of a snapshot.

    An empty selection stands for the definition around it (or its line).
    """
    language = snap.language.name if snap.language else (snap.language_id or "text")
    path = display_path(snap.uri)
    spec, tree = snap.language, snap.tree
    if spec is None or tree is None or snap.source is None:
        selection = _plain_selection(snap, start, end)
        return CodeContext(path, language, selection, surrounding=_surrounding(snap, selection))
    reader = _TreeReader(snap, spec, tree.root_node)
    sel_start, sel_end = _stripped(snap.text, start, end)
    sb, eb = byte_len(snap.text[:sel_start]), byte_len(snap.text[:sel_end])
    enclosing = reader.enclosing(sb, eb)
    if sel_start == sel_end:
        selection = reader.piece(enclosing) if enclosing else _plain_selection(snap, start, end)
        if enclosing is not None:
            sb, eb = enclosing.start_byte, enclosing.end_byte
            enclosing = reader.enclosing(sb, eb)
    else:
        selection = _selected_piece(snap, sel_start, sel_end)
    words = dict.fromkeys(_WORD.findall(selection.text))
    references = reader.references(words, sb, eb)
    return CodeContext(
        path,
        language,
        selection,
        enclosing=reader.piece(enclosing) if enclosing is not None else None,
        references=tuple(references),
        imports=tuple(reader.imports()),
    )


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _line_span(snap: DocumentSnapshot, first: int, last: int) -> str:
    return "\n".join(snap.line_text(i) for i in range(first, last + 1))


def _selected_piece(snap: DocumentSnapshot, start: int, end: int) -> CodePiece:
    """The selected text; a multi-line selection is widened to whole lines so its first
    line keeps its indentation."""
    first, last = snap.position_at(start)[0], snap.position_at(end)[0]
    if first == last:
        return CodePiece(snap.text[start:end], first)
    return CodePiece(_line_span(snap, first, last), first)


def _plain_selection(snap: DocumentSnapshot, start: int, end: int) -> CodePiece:
    if start == end:
        line = snap.position_at(start)[0]
        return CodePiece(snap.line_text(line), line)
    start, end = _stripped(snap.text, start, end)
    return _selected_piece(snap, start, end)


def _surrounding(snap: DocumentSnapshot, selection: CodePiece) -> CodePiece | None:
    first = max(0, selection.first_line - SURROUNDING_LINES)
    last = min(snap.line_count - 1, selection.last_line + SURROUNDING_LINES)
    if first == selection.first_line and last == selection.last_line:
        return None
    lines = [snap.line_text(i) for i in range(first, last + 1)]
    return CodePiece("\n".join(lines), first)


class _TreeReader:
    def __init__(self, snap: DocumentSnapshot, spec: LanguageSpec, root: tree_sitter.Node):
        self.snap = snap
        self.spec = spec
        self.root = root
        self.source: bytes = snap.source or b""

    def text(self, node: tree_sitter.Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def piece(self, node: tree_sitter.Node) -> CodePiece:
        outer = node.parent if node.parent and node.parent.type in self.spec.wrapper_types else node
        short = self.spec.signature(node, self.source) if self.spec.body_of(node) else None
        if short is not None:
            indent = self.snap.line_text(node.start_point.row)[: node.start_point.column]
            short = indent + short if not indent.strip() else short
        first, last = outer.start_point.row, outer.end_point.row
        if outer.end_point.column == 0 and last > first:
            last -= 1
        return CodePiece(_line_span(self.snap, first, last), first, short, self.name(node))

    def enclosing(self, sb: int, eb: int) -> tree_sitter.Node | None:
        """The innermost definition that contains the selection and is larger than it."""
        node = self.root.descendant_for_byte_range(sb, max(sb, eb - 1))
        while node is not None:
            larger = node.start_byte < sb or node.end_byte > eb
            if larger and self.spec.is_definition(node) and node.start_byte <= sb:
                return node
            node = node.parent
        return None

    def top_level(self) -> list[tuple[tree_sitter.Node, tree_sitter.Node]]:
        """(outer node, definition) for each top-level definition."""
        found = []
        for child in self.root.named_children:
            inner = self.spec.unwrap(child)
            if inner is not None:
                found.append((child, inner))
        return found

    def references(self, words: dict[str, None], sb: int, eb: int) -> list[CodePiece]:
        by_name: dict[str, CodePiece] = {}
        for outer, inner in self.top_level():
            name = self.name(inner)
            overlaps = outer.start_byte < eb and outer.end_byte > sb
            if name and name in words and not overlaps and name not in by_name:
                by_name[name] = self.piece(inner)
        return [by_name[w] for w in words if w in by_name]

    def imports(self) -> list[str]:
        return [
            self.text(child)
            for child in self.root.named_children
            if self.spec.is_import(child, self.source)
        ]

    def name(self, node: tree_sitter.Node) -> str | None:
        target = node.child_by_field_name("name")
        if target is None:
            target = node.child_by_field_name("declarator")  # C, C++: nested declarators
            while target is not None and target.child_by_field_name("declarator") is not None:
                target = target.child_by_field_name("declarator")
        if target is None:
            for child in node.named_children:
                if child.type in {"variable_declarator", "type_spec"}:
                    target = child.child_by_field_name("name")
                    break
        return self.text(target) if target is not None else None


def _block(heading: str, language: str, text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{heading}\n{fence}{language}\n{text}\n{fence}"


def fit_text(text: str, count: CountTokens, budget: int) -> tuple[str, bool]:
    """The longest head of text (whole lines when possible) within budget tokens."""
    if count(text) <= budget:
        return text, False
    lines = text.split("\n")
    lo, hi = 0, len(lines)
    while lo < hi:  # the most lines that fit
        mid = (lo + hi + 1) // 2
        if count("\n".join(lines[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo > 0:
        return "\n".join(lines[:lo]), True
    lo, hi = 0, len(lines[0])
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(lines[0][:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lines[0][:lo], True


def _lines(piece: CodePiece) -> str:
    if piece.first_line == piece.last_line:
        return f"line {piece.first_line + 1}"
    return f"lines {piece.first_line + 1}-{piece.last_line + 1}"


def render_context(ctx: CodeContext, count: CountTokens, budget: int) -> tuple[str, bool]:
    """Markdown blocks for ctx within budget tokens; True when the selection was cut."""
    lang = ctx.language
    sel_budget = max(16, budget - _BLOCK_OVERHEAD)
    selection, cut = fit_text(ctx.selection.text, count, sel_budget)
    note = " (cut to fit the model's window)" if cut else ""
    sel_block = _block(
        f"Selected code ({_lines(ctx.selection)} of `{ctx.path}`){note}:", lang, selection
    )
    left = budget - count(sel_block) - _BLOCK_OVERHEAD

    def take(heading: str, piece: CodePiece) -> str | None:
        nonlocal left
        for text in (piece.text, piece.short):
            if text:
                block = _block(heading, lang, text)
                cost = count(block)
                if cost <= left:
                    left -= cost
                    return block
        return None

    blocks: list[str | None] = []
    if ctx.enclosing is not None:
        blocks.append(take(f"The selection is inside ({_lines(ctx.enclosing)}):", ctx.enclosing))
    if ctx.surrounding is not None:
        blocks.append(take(f"Code around it ({_lines(ctx.surrounding)}):", ctx.surrounding))
    refs = [take(f"`{p.name}`, used by the selection:", p) for p in ctx.references]
    imports = _fit_imports(ctx, count, left)
    ordered = [imports, *refs, *blocks, sel_block]
    return "\n\n".join(b for b in ordered if b), cut


def _fit_imports(ctx: CodeContext, count: CountTokens, budget: int) -> str | None:
    if not ctx.imports or budget <= _BLOCK_OVERHEAD:
        return None
    text, _ = fit_text("\n".join(ctx.imports), count, budget - _BLOCK_OVERHEAD)
    return _block(f"Imports of `{ctx.path}`:", ctx.language, text) if text.strip() else None
