"""Seeded one-line bugs for the review benchmark: each operator changes exactly one line.

A review is scored by whether it finds a bug we know is there, so the bug must be known
precisely: every mutation rewrites one span of one line (found through the AST, so it is
real code and not text that happens to look like it), the result must still parse, and
its AST must differ. Where a site would break one of those rules it is skipped, never
patched up. The choice of site is a seeded random choice, so a corpus and a seed give
the same bugs on every run.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

OPERATORS = (
    "swap_operator",
    "off_by_one",
    "invert_condition",
    "wrong_variable",
    "missing_return",
)


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) of one line (1-based) with text."""

    line: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Mutation:
    operator: str
    line: int  # 1-based line of the code that differs
    before: str  # that line before and after
    after: str
    code: str  # the whole mutated code


_ARITHMETIC = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
    ast.Mult: ("*", "/"),
    ast.Div: ("/", "*"),
    ast.FloorDiv: ("//", "*"),
    ast.BitAnd: ("&", "|"),
    ast.BitOr: ("|", "&"),
    ast.LShift: ("<<", ">>"),
    ast.RShift: (">>", "<<"),
}
_COMPARE = {
    ast.Eq: (r"==", "!="),
    ast.NotEq: (r"!=", "=="),
    ast.Lt: (r"<", ">="),
    ast.LtE: (r"<=", ">"),
    ast.Gt: (r">", "<="),
    ast.GtE: (r">=", "<"),
    ast.In: (r"\bin\b", "not in"),
    ast.NotIn: (r"\bnot\s+in\b", "in"),
    ast.Is: (r"\bis\b", "is not"),
    ast.IsNot: (r"\bis\s+not\b", "is"),
}
# An expression that stays one operand when "+ 1" is appended to it.
_TIGHT = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant)


class _Source:
    """The code's lines as UTF-8 bytes: AST columns count bytes."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.lines = [line.encode("utf-8") for line in code.split("\n")]

    def span(self, node: ast.AST) -> tuple[int, int, int] | None:
        """(line, start, end) of a node that sits on one line."""
        line, end_line = node.lineno, node.end_lineno  # type: ignore[attr-defined]
        if end_line != line:
            return None
        return line, node.col_offset, node.end_col_offset  # type: ignore[attr-defined]

    def text(self, node: ast.AST) -> str | None:
        span = self.span(node)
        if span is None:
            return None
        line, start, end = span
        return self.lines[line - 1][start:end].decode("utf-8")

    def gap(self, left: ast.AST, right: ast.AST) -> tuple[int, int, int, str] | None:
        """The text between two nodes on one line (where a binary operator is)."""
        a, b = self.span(left), self.span(right)
        if a is None or b is None or a[0] != b[0]:
            return None
        line = a[0]
        return line, a[2], b[1], self.lines[line - 1][a[2] : b[1]].decode("utf-8")

    def apply(self, edit: Edit) -> str:
        lines = list(self.lines)
        raw = lines[edit.line - 1]
        lines[edit.line - 1] = raw[: edit.start] + edit.text.encode("utf-8") + raw[edit.end :]
        return "\n".join(line.decode("utf-8") for line in lines)


def _outside_fstrings(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those inside f-strings (their inner columns are unreliable)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.JoinedStr):
            stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _token_edit(src: _Source, left: ast.AST, right: ast.AST, pattern: str, new: str):
    found = src.gap(left, right)
    if found is None:
        return None
    line, start, end, gap = found
    match = re.search(pattern, gap)
    if match is None:
        return None
    prefix = len(gap[: match.start()].encode("utf-8"))
    suffix = len(gap[match.end() :].encode("utf-8"))
    return Edit(line, start + prefix, end - suffix, new)


def _swap_operator(src: _Source, fn: ast.FunctionDef) -> list[Edit]:
    edits = []
    for node in _outside_fstrings(fn):
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            symbol, new = _ARITHMETIC[type(node.op)]
            edit = _token_edit(src, node.left, node.right, re.escape(symbol), new)
            if edit is not None:
                edits.append(edit)
    return edits


def _plus_one(src: _Source, node: ast.expr) -> Edit | None:
    """n -> n + 1 (a constant: its successor); n - 1 -> n."""
    span = src.span(node)
    if span is None:
        return None
    line, start, end = span
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Edit(line, start, end, str(node.value + 1))
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Sub)
        and isinstance(node.right, ast.Constant)
        and node.right.value == 1
    ):
        left = src.text(node.left)
        return Edit(line, start, end, left) if left is not None else None
    if isinstance(node, _TIGHT):
        text = src.text(node)
        return Edit(line, start, end, f"{text} + 1") if text is not None else None
    return None


def _off_by_one(src: _Source, fn: ast.FunctionDef) -> list[Edit]:
    places: list[ast.expr] = []
    for node in _outside_fstrings(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "range" and node.args and not node.keywords:
                places.append(node.args[-1])
        elif isinstance(node, ast.Subscript):
            index = node.slice
            if isinstance(index, ast.Slice):
                places += [part for part in (index.lower, index.upper) if part is not None]
            elif isinstance(index, ast.Constant | ast.Name | ast.BinOp):
                places.append(index)
    return [edit for node in places if (edit := _plus_one(src, node)) is not None]


def _invert(src: _Source, test: ast.expr) -> Edit | None:
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _COMPARE:
        pattern, new = _COMPARE[type(test.ops[0])]
        return _token_edit(src, test.left, test.comparators[0], pattern, new)
    span = src.span(test)
    if span is None:
        return None
    line, start, end = span
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = src.text(test.operand)
        if inner is None or isinstance(test.operand, ast.BoolOp | ast.Compare):
            return None  # "not (a or b)" loses its parentheses in the operand's span
        return Edit(line, start, end, inner)
    text = src.text(test)
    return Edit(line, start, end, f"not ({text})") if text is not None else None


def _invert_condition(src: _Source, fn: ast.FunctionDef) -> list[Edit]:
    tests = [
        node.test
        for node in _outside_fstrings(fn)
        if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert)
    ]
    return [edit for test in tests if (edit := _invert(src, test)) is not None]


def _local_names(fn: ast.FunctionDef) -> list[str]:
    names = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)]
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
    return sorted(set(names))


def _wrong_variable(src: _Source, fn: ast.FunctionDef, rng: random.Random) -> list[Edit]:
    local = _local_names(fn)
    edits = []
    for statement in fn.body:
        for node in _outside_fstrings(statement):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in local:
                others = [name for name in local if name != node.id]
                span = src.span(node)
                if others and span is not None:
                    edits.append(Edit(span[0], span[1], span[2], rng.choice(others)))
    return edits


def _missing_return(src: _Source, fn: ast.FunctionDef) -> list[Edit]:
    edits = []
    for node in _outside_fstrings(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            ret, value = src.span(node), src.span(node.value)
            if ret is not None and value is not None and ret[0] == value[0]:
                edits.append(Edit(ret[0], ret[1], value[1], ""))  # "return x" -> "x"
    return edits


def _sites(operator: str, src: _Source, fn: ast.FunctionDef, rng: random.Random) -> list[Edit]:
    if operator == "wrong_variable":
        return _wrong_variable(src, fn, rng)
    finders: dict[str, Callable[[_Source, ast.FunctionDef], list[Edit]]] = {
        "swap_operator": _swap_operator,
        "off_by_one": _off_by_one,
        "invert_condition": _invert_condition,
        "missing_return": _missing_return,
    }
    return finders[operator](src, fn)


def _checked(src: _Source, edit: Edit, operator: str) -> Mutation | None:
    """The mutation an edit makes, if the code still parses, means something else, and
    differs from the original on exactly that line."""
    code = src.apply(edit)
    try:
        mutated_tree = ast.parse(code)
    except SyntaxError:
        return None
    if ast.dump(mutated_tree) == ast.dump(ast.parse(src.code)):
        return None
    before, after = src.code.split("\n"), code.split("\n")
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    if changed != [edit.line - 1]:
        return None
    return Mutation(operator, edit.line, before[edit.line - 1], after[edit.line - 1], code)


def mutations_of(code: str, operator: str, seed: str) -> list[Mutation]:
    """Every valid mutation of the code's first function by one operator, in a seeded
    order (the first is the benchmark's choice)."""
    if operator not in OPERATORS:
        raise ValueError(f"unknown mutation operator {operator!r} (known: {OPERATORS})")
    tree = ast.parse(code)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
    if fn is None:
        raise ValueError("the code defines no function")
    rng = random.Random(f"{seed}:{operator}")
    src = _Source(code)
    sites = _sites(operator, src, fn, rng)
    rng.shuffle(sites)
    return [m for edit in sites if (m := _checked(src, edit, operator)) is not None]
