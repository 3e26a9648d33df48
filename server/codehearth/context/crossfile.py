"""The cross-file block of a completion prompt: other files' code, budgeted, kept stable.

Two sources, highest value first:

1. definitions of the names the document imports from other workspace files (imports.py,
   definitions.py), taken from the open document when the file is open, else from disk;
   when they do not all fit, the ones used near the cursor go first;
2. chunks of other open documents and recently edited regions (ring.py).

The block changes only when what it is made of changes: the document's import statements,
an imported file, the ring, the 32-line region the cursor is in, or an imported name
appearing on the cursor line that the block lacks. Between such events every keystroke
gets the identical block (the same object), so the prompt's first tokens, and llama.cpp's
KV cache of them, stay put. In the prompt the ring's chunks come first (oldest first: a
new chunk appends), then the imported definitions, then the current file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine.api import ContextFile
from .definitions import Definition, file_definitions
from .import_resolve import resolve
from .imports import Import, Origin, import_nodes
from .languages import language_for, line_comment
from .ring import Chunk
from .workspace import ReadBudget, path_of_uri

if TYPE_CHECKING:
    from collections.abc import Callable

    from .documents import DocumentSnapshot
    from .project import ProjectContext

REGION_LINES = 32  # the block is rebuilt when the cursor enters another region this tall
WINDOW_LINES = 24  # lines around the cursor whose words rank definitions and drop chunks
IMPORT_SHARE = 0.7  # of the block's budget the imported definitions may take first
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class CrossFileBlock:
    files: tuple[ContextFile, ...] = ()
    path: str = ""  # the current file, workspace-relative
    comment: str = "#"
    repo: str = ""
    tokens: int = 0
    # Names the imports could provide: one of them appearing on the cursor line while
    # missing from the block is a reason to rebuild it.
    offered: frozenset[str] = frozenset()
    taken: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not self.files


EMPTY = CrossFileBlock()


@dataclass
class _Candidate:
    target: Path
    definition: Definition
    near: bool
    order: int
    tokens: int = 0


@dataclass
class BlockInputs:
    """What one block is built from (computed on the worker thread)."""

    snap: DocumentSnapshot
    line: int
    count: Callable[[str], int]
    max_tokens: int
    window: str = ""
    imports: list[Import] = field(default_factory=list)


def cursor_window(snap: DocumentSnapshot, line: int) -> str:
    first = max(0, line - WINDOW_LINES)
    last = min(snap.line_count - 1, line + WINDOW_LINES // 3)
    return snap.text[snap.line_starts[first] : snap.line_end(last)]


def import_statements(snap: DocumentSnapshot) -> list[str]:
    if snap.tree is None or snap.language is None or snap.source is None:
        return []
    return import_nodes(snap.language, snap.tree, snap.source)


def resolve_imports(project: ProjectContext, snap: DocumentSnapshot, statements: list[str]):
    path = path_of_uri(snap.uri)
    if path is None or snap.language is None:
        return []
    roots = tuple(project.workspace.roots)
    if not roots:
        return []
    return resolve(snap.language, statements, Origin(path, roots))


def _wanted(item: Import, definitions: list[Definition], used: set[str], text: str) -> list:
    if item.names:
        wanted = set(item.names)
        return [
            d for d in definitions if d.name in wanted or (d.default_export and "default" in wanted)
        ]
    if item.qualifier:
        pattern = re.compile(rf"\b{re.escape(item.qualifier)}(?:\.|::|:)(\w+)")
        names = set(pattern.findall(text))
        return [d for d in definitions if d.name in names]
    return [d for d in definitions if d.name in used]


def import_candidates(project: ProjectContext, inputs: BlockInputs) -> list[_Candidate]:
    """Definitions the document's imports point at and its text uses, in import order."""
    text = inputs.snap.text
    used = set(_WORD.findall(text))
    near = set(_WORD.findall(inputs.window))
    budget = project.workspace.new_budget()
    found: list[_Candidate] = []
    seen: set[tuple[Path, str]] = set()
    for order, item in enumerate(inputs.imports):
        definitions = _definitions_of(project, item.target, budget)
        for definition in _wanted(item, definitions, used, text):
            if (item.target, definition.name) in seen:
                continue
            seen.add((item.target, definition.name))
            found.append(_Candidate(item.target, definition, definition.name in near, order))
    return found


def _definitions_of(project: ProjectContext, target: Path, budget: ReadBudget) -> list:
    spec = language_for("", target.as_uri())
    if spec is None:
        return []
    text = project.text_of(target, budget)
    return file_definitions(spec, text) if text is not None else []


def build_block(project: ProjectContext, inputs: BlockInputs) -> CrossFileBlock:
    """Choose and lay out the block (see the module doc)."""
    settings = project.settings
    count, limit = inputs.count, inputs.max_tokens
    candidates = import_candidates(project, inputs) if settings.imports else []
    taken = _fit_imports(
        candidates, count, int(limit * IMPORT_SHARE) if settings.open_files else limit
    )
    used = sum(c.tokens for c in taken)
    chunks = project.ring.pick(inputs.snap.uri, inputs.window) if settings.open_files else []
    kept_chunks = _fit_chunks(chunks, count, limit - used)
    used += sum(count(c.text) for c in kept_chunks)
    files = [ContextFile(path=c.name, text=c.text, comment=_comment(c.name)) for c in kept_chunks]
    files += _group(project, taken)
    offered = frozenset(c.definition.name for c in candidates)
    names = frozenset(c.definition.name for c in taken)
    path = path_of_uri(inputs.snap.uri)
    return CrossFileBlock(
        files=tuple(files),
        path=project.workspace.relative_name(path) if path is not None else "",
        comment=_comment(inputs.snap.uri),
        repo=project.repo_name(path),
        tokens=used,
        offered=offered,
        taken=names,
    )


def _fit_imports(candidates: list[_Candidate], count, limit: int) -> list[_Candidate]:
    """Near-the-cursor definitions first, then in import order, while they fit."""
    ranked = sorted(candidates, key=lambda c: (not c.near, c.order, c.definition.start))
    taken, used = [], 0
    for candidate in ranked:
        candidate.tokens = count(candidate.definition.text) + 4
        if used + candidate.tokens <= limit:
            taken.append(candidate)
            used += candidate.tokens
    return sorted(taken, key=lambda c: (c.order, c.definition.start))


def _fit_chunks(chunks: list[Chunk], count, limit: int) -> list[Chunk]:
    """The newest chunks that fit, kept in ring order (oldest first)."""
    kept: list[Chunk] = []
    used = 0
    for chunk in reversed(chunks):
        cost = count(chunk.text) + 4
        if used + cost <= limit:
            kept.insert(0, chunk)
            used += cost
    return kept


def _group(project: ProjectContext, taken: list[_Candidate]) -> list[ContextFile]:
    """One entry per imported file, its definitions in file order."""
    files: dict[Path, list[str]] = {}
    for candidate in taken:
        files.setdefault(candidate.target, []).append(candidate.definition.text)
    return [
        ContextFile(
            path=project.workspace.relative_name(target),
            text="\n\n".join(texts) + "\n",
            comment=_comment(target.name),
        )
        for target, texts in files.items()
    ]


def _comment(name: str) -> str:
    spec = language_for("", name)
    return line_comment(spec.name if spec is not None else None)
