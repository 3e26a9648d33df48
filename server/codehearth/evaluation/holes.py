"""Punching holes: what was removed from a file, and the file as the editor would hold it.

Three kinds, as a person meets them while typing:

* single-line: the cursor anywhere after the first code token of a line (after a token,
  before or after a space, or mid-word, as while typing), the rest of the line removed
  (the lines below stay);
* multi-line: the body of a small function removed, the cursor on an empty, indented line
  where it was (the editor's "complete a block" case);
* cross-file: the cursor before a name that is defined in another file of the same
  project (and not in this one), the rest of the line removed.

Selection is deterministic: the same files and seed give the same holes, and each hole's
cursor is drawn from a generator seeded by the seed, the file and the line, so adding a
file does not move the holes in the others.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from .sources import SourceFile
from .syntax import FileSyntax, Token, analyse

HoleKind = Literal["single-line", "multi-line", "cross-file"]
KINDS: tuple[HoleKind, ...] = ("single-line", "multi-line", "cross-file")
# Shares of the holes per kind when every kind has candidates.
SHARES = {"single-line": 0.5, "multi-line": 0.25, "cross-file": 0.25}
MAX_LINE_CHARS = 160
MIN_NAME_CHARS = 3
DEFAULT_SEED = "holes-v1"


class Hole(BaseModel):
    """One hole: where the cursor is, what the document looks like, what was there."""

    kind: HoleKind
    file: str  # path relative to the project root
    path: str  # absolute path (its URI is what the editor would send)
    project: str
    line: int  # 0-based line of the cursor in `text`
    column: int  # str index into that line
    text: str  # the document with the hole punched
    expected: str  # what the hole removed (for multi-line: without the first indent)
    # cross-file: the name defined elsewhere, and where
    name: str | None = None
    defined_in: str | None = None
    # The original file's lines the hole replaced (first, last), for --run-tests.
    removed_lines: tuple[int, int]

    def filled(self, completion: str) -> str:
        """The file with `completion` typed at the cursor (what --run-tests runs)."""
        lines = self.text.split("\n")
        current = lines[self.line]
        lines[self.line] = current[: self.column] + completion + current[self.column :]
        return "\n".join(lines)


def _rng(seed: str, *parts: object) -> random.Random:
    digest = hashlib.sha256("\0".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _good_line(line: str) -> bool:
    return bool(line.strip()) and len(line) <= MAX_LINE_CHARS and "\t" not in line.lstrip("\t")


def _cursor_choices(tokens: list[Token]) -> list[int]:
    """Where a typing cursor can be, past the first token: right after a token, at any
    character of a later one (mid-word too), never inside a comment or string, and
    only where the removed rest still holds a word."""
    choices: set[int] = set()
    for i in range(1, len(tokens)):
        if not any(rest.is_word for rest in tokens[i:]):
            break
        choices.add(tokens[i - 1].end)
        choices.update(range(tokens[i].start, tokens[i].end))
    return sorted(choices)


def single_line_candidates(syntax: FileSyntax) -> list[int]:
    return [
        row
        for row, tokens in sorted(syntax.tokens.items())
        if _good_line(syntax.lines[row]) and _cursor_choices(tokens)
    ]


def cross_file_candidates(
    syntax: FileSyntax, elsewhere: dict[str, str]
) -> list[tuple[int, Token, str]]:
    """(row, token, defining file) for uses of names defined only in another file."""
    found = []
    for row, tokens in sorted(syntax.tokens.items()):
        if row in syntax.import_rows or not _good_line(syntax.lines[row]):
            continue
        for i, token in enumerate(tokens):
            name = token.text
            if i == 0 or not token.is_word or name not in elsewhere or name in syntax.defined:
                continue
            found.append((row, token, elsewhere[name]))
            break
    return found


def _single_hole(src: SourceFile, syntax: FileSyntax, row: int, seed: str) -> Hole:
    column = _rng(seed, src.relative, row).choice(_cursor_choices(syntax.tokens[row]))
    return _line_hole(src, syntax, row, column, "single-line")


def _line_hole(
    src: SourceFile, syntax: FileSyntax, row: int, column: int, kind: HoleKind, **extra
) -> Hole:
    lines = list(syntax.lines)
    line = lines[row]
    lines[row] = line[:column]
    return Hole(
        kind=kind,
        file=src.relative,
        path=str(src.path),
        project=src.project,
        line=row,
        column=column,
        text="\n".join(lines),
        expected=line[column:].rstrip(),
        removed_lines=(row, row),
        **extra,
    )


def _multi_hole(src: SourceFile, syntax: FileSyntax, body: tuple[int, int]) -> Hole:
    first, last = body
    removed = [line.rstrip() for line in syntax.lines[first : last + 1]]
    indent = removed[0][: len(removed[0]) - len(removed[0].lstrip())]
    lines = [*syntax.lines[:first], indent, *syntax.lines[last + 1 :]]
    expected = "\n".join([removed[0][len(indent) :], *removed[1:]])
    return Hole(
        kind="multi-line",
        file=src.relative,
        path=str(src.path),
        project=src.project,
        line=first,
        column=len(indent),
        text="\n".join(lines),
        expected=expected.rstrip(),
        removed_lines=(first, last),
    )


def _definitions(analysed: list[tuple[SourceFile, FileSyntax]]) -> dict[str, dict[str, str]]:
    """project -> name -> the file defining it (names defined in two files are left out:
    they would not show that the model knows the other file)."""
    owners: dict[tuple[str, str], set[str]] = {}
    for src, syntax in analysed:
        for name in syntax.defined:
            if len(name) >= MIN_NAME_CHARS and not name.startswith("__"):
                owners.setdefault((src.project, name), set()).add(src.relative)
    table: dict[str, dict[str, str]] = {}
    for (project, name), files in owners.items():
        if len(files) == 1:
            table.setdefault(project, {})[name] = next(iter(files))
    return table


def candidate_holes(files: Iterable[SourceFile], seed: str) -> dict[HoleKind, list[Hole]]:
    """Every hole the files allow, per kind, in a stable order."""
    analysed = [(src, analyse(src.text, src.path.as_uri())) for src in files]
    names = _definitions(analysed)
    pools: dict[HoleKind, list[Hole]] = {kind: [] for kind in KINDS}
    for src, syntax in analysed:
        pools["single-line"] += [
            _single_hole(src, syntax, row, seed) for row in single_line_candidates(syntax)
        ]
        pools["multi-line"] += [_multi_hole(src, syntax, body) for body in syntax.bodies]
        others = {n: f for n, f in names.get(src.project, {}).items() if f != src.relative}
        for row, token, owner in cross_file_candidates(syntax, others):
            pools["cross-file"].append(
                _line_hole(
                    src, syntax, row, token.start, "cross-file", name=token.text, defined_in=owner
                )
            )
    return pools


def select_holes(files: Iterable[SourceFile], count: int, seed: str = DEFAULT_SEED) -> list[Hole]:
    """`count` holes spread over the kinds (SHARES; a kind short of candidates leaves its
    share to the others), drawn with `seed`, in file order."""
    pools = candidate_holes(files, seed)
    wanted = {kind: round(count * SHARES[kind]) for kind in KINDS}
    wanted["single-line"] = count - wanted["multi-line"] - wanted["cross-file"]
    chosen: dict[HoleKind, list[Hole]] = {}
    spare = 0
    for kind in ("multi-line", "cross-file", "single-line"):
        take = min(len(pools[kind]), wanted[kind] + (spare if kind == "single-line" else 0))
        spare += wanted[kind] - take
        chosen[kind] = _rng(seed, kind).sample(pools[kind], take)
    if spare > 0:  # single-line ran short too: top up with what the others have left
        for kind in ("multi-line", "cross-file"):
            rest = [h for h in pools[kind] if h not in chosen[kind]]
            extra = _rng(seed, kind, "extra").sample(rest, min(spare, len(rest)))
            chosen[kind] += extra
            spare -= len(extra)
    holes = [hole for kind in KINDS for hole in chosen[kind]]
    return sorted(holes, key=lambda h: (h.project, h.file, h.line, h.kind))
