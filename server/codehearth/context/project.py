"""One editor connection's view of its project: workspace folders, open documents, the
ring of chunks, and the cross-file block each completion gets.

Events arrive on the event loop (documents opened, changed, closed; workspace folders
announced or changed); blocks are built on the engine's worker thread, inside the
completion job, because they count tokens. The two meet in a few small structures behind
a lock. A block is remembered per document with the key of what it was made of
(crossfile.py explains the key), so between events every keystroke gets the same block
without rebuilding it.

`listeners` are told when the next block may differ (the idle pre-warmer listens), and
`focus` is where the user was last seen editing or completing.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ProjectSettings
from ..engine.api import InfillRequest
from ..engine.infill import path_comments
from .crossfile import (
    EMPTY,
    REGION_LINES,
    BlockInputs,
    CrossFileBlock,
    build_block,
    cursor_window,
    import_statements,
    resolve_imports,
)
from .ring import ChunkRing, chunk_of
from .workspace import ReadBudget, Workspace

if TYPE_CHECKING:
    from ..engine.api import Session
    from .builder import CompletionContext
    from .documents import Document, DocumentSnapshot

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")
_PREAMBLE = ("#", "//", "/*", "*", "--", "import ", "from ", "package ", "use ", "require")
_PREAMBLE_LINES = 200


@dataclass
class ProjectStats:
    blocks_built: int = 0
    prewarms: int = 0
    prewarm_tokens: int = 0
    prewarm_ms: float = 0.0


@dataclass
class _Built:
    key: tuple
    block: CrossFileBlock
    targets: tuple[Path, ...] = ()


@dataclass
class Focus:
    uri: str
    line: int
    character: int


def first_code_line(text: str) -> int:
    """The first line after the file's preamble (comments, imports, package clause)."""
    for number, line in enumerate(text.splitlines()[:_PREAMBLE_LINES]):
        stripped = line.strip()
        if stripped and not stripped.startswith(_PREAMBLE):
            return number
    return 0


@dataclass
class ProjectContext:
    settings: ProjectSettings = field(default_factory=ProjectSettings)
    log_content: bool = False
    listeners: list[Callable[[], None]] = field(default_factory=list)
    focus: Focus | None = None
    # The block of the prompt last evaluated (by a completion or a pre-warm): the KV cache
    # holds it, so pre-warming it again would gain nothing.
    evaluated_files: tuple = ()
    stats: ProjectStats = field(default_factory=ProjectStats)

    def __post_init__(self) -> None:
        self.workspace = Workspace(self.settings)
        self.ring = ChunkRing(self.settings.ring_chunks, self.settings.chunk_lines)
        self._open: dict[str, Document] = {}
        self._paths: dict[Path, str] = {}
        self._built: dict[str, _Built] = {}
        self._lock = threading.Lock()
        self._folders_generation = 0

    def configure(self, settings: ProjectSettings, log_content: bool = False) -> None:
        self.settings = settings
        self.log_content = log_content
        self.workspace.settings = settings
        self.ring.capacity, self.ring.chunk_lines = settings.ring_chunks, settings.chunk_lines
        self._changed_folders()

    # -- workspace folders (event loop) --------------------------------------------------
    def set_folders(self, uris: list[str]) -> None:
        self.workspace.set_folders(uris)
        self._changed_folders()

    def change_folders(self, added: list[str], removed: list[str]) -> None:
        for uri in removed:
            self.workspace.remove_folder(uri)
        for uri in added:
            self.workspace.add_folder(uri)
        self._changed_folders()

    def _changed_folders(self) -> None:
        gone = [c.uri for c in self.ring.chunks() if self.workspace.allowed_uri(c.uri) is None]
        self.ring.forget(gone)
        with self._lock:
            self._folders_generation += 1
        self._notify()

    def repo_name(self, path: Path | None) -> str:
        roots = self.workspace.roots
        if path is not None:
            for root in roots:
                if root == path or root in path.parents:
                    return root.name
        return roots[0].name if roots else ""

    # -- documents (event loop) ----------------------------------------------------------
    def opened(self, document: Document) -> None:
        self._open[document.uri] = document
        # The user looks at what was just opened; until they edit or complete in it, its
        # top is where a pre-warm evaluates the block (which comes first in any prompt).
        self.focus = Focus(document.uri, 0, 0)
        self._notify()
        path = self.workspace.allowed_uri(document.uri)
        if path is None:
            return
        self._paths[path] = document.uri
        if self.settings.enabled and self.settings.open_files:
            first = first_code_line(document.text)
            self._add_chunk(document, first, first + self.ring.chunk_lines - 1)

    def changed(self, document: Document, line: int, character: int) -> None:
        self.focus = Focus(document.uri, line, character)
        pending = self.ring.note_edit(document.uri, line)
        if pending is not None:
            previous = self._open.get(pending.uri)
            if previous is not None:
                self._add_chunk(previous, pending.first, pending.last)
        self._notify()

    def closed(self, uri: str) -> None:
        document = self._open.pop(uri, None)
        self._paths = {p: u for p, u in self._paths.items() if u != uri}
        with self._lock:
            self._built.pop(uri, None)
        pending = self.ring.take_pending(uri)  # what was being edited goes to the ring
        if document is not None and pending is not None:
            self._add_chunk(document, pending.first, pending.last)

    def _add_chunk(self, document: Document, first: int, last: int) -> None:
        path = self.workspace.allowed_uri(document.uri)
        if path is None or not self.settings.open_files:
            return
        name = self.workspace.relative_name(path)
        chunk = chunk_of(document.uri, name, document.text, first, last, self.ring.chunk_lines)
        if self.ring.add(chunk):
            self._notify()

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()

    def snapshot_of(self, uri: str) -> DocumentSnapshot | None:
        document = self._open.get(uri)
        return document.snapshot() if document is not None else None

    # -- reading (worker thread) ---------------------------------------------------------
    def text_of(self, path: Path, budget: ReadBudget) -> str | None:
        """An imported file's text: the open document's when it is open, else the disk's."""
        resolved = self.workspace.allowed(path)
        if resolved is None:
            return None
        uri = self._paths.get(resolved)
        document = self._open.get(uri) if uri is not None else None
        if document is not None:
            return document.text
        return self.workspace.read(resolved, budget)

    def _target_states(self, targets: tuple[Path, ...]) -> tuple:
        states = []
        for target in targets:
            uri = self._paths.get(target)
            document = self._open.get(uri) if uri is not None else None
            if document is not None:
                states.append(("open", document.version, len(document.text)))
                continue
            try:
                stat = target.stat()
                states.append((stat.st_mtime_ns, stat.st_size))
            except OSError:
                states.append(None)
        return tuple(states)

    # -- the block (worker thread) -------------------------------------------------------
    def block_for(
        self, snap: DocumentSnapshot, line: int, count: Callable[[str], int], max_tokens: int
    ) -> CrossFileBlock:
        """The cross-file block for a completion in `snap` at `line` (see crossfile.py)."""
        settings = self.settings
        if not settings.enabled or max_tokens <= 0 or not self.workspace.roots:
            return EMPTY
        statements = import_statements(snap)
        with self._lock:
            built = self._built.get(snap.uri)
        cursor_words = set(_WORD.findall(snap.line_text(line)))
        key = self._key(snap, line, statements, max_tokens, built, cursor_words)
        if built is not None and built.key == key:
            return built.block
        inputs = BlockInputs(snap, line, count, max_tokens, cursor_window(snap, line))
        inputs.imports = resolve_imports(self, snap, statements) if settings.imports else []
        block = build_block(self, inputs)
        if built is not None and built.block == block:
            block = built.block  # the same content: keep the object (and its tokens' memo)
        targets = tuple(dict.fromkeys(item.target for item in inputs.imports))
        entry = _Built((), block, targets)
        entry.key = self._key(snap, line, statements, max_tokens, entry, cursor_words)
        with self._lock:
            self._built[snap.uri] = entry
        self.stats.blocks_built += 1
        self._log(block)
        return block

    def _key(self, snap, line, statements, max_tokens, built: _Built | None, words) -> tuple:
        missing = frozenset()
        targets: tuple[Path, ...] = ()
        if built is not None:
            missing = frozenset(words & (built.block.offered - built.block.taken))
            targets = built.targets
        with self._lock:
            folders = self._folders_generation
        return (
            self.ring.generation,
            folders,
            hash(tuple(statements)),
            line // REGION_LINES,
            max_tokens,
            missing,
            self._target_states(targets),
        )

    def _log(self, block: CrossFileBlock) -> None:
        log.debug("cross-file block: %d files, %d tokens", len(block.files), block.tokens)
        if self.log_content and log.isEnabledFor(logging.DEBUG):
            for file in block.files:
                log.debug("cross-file block file %s:\n%s", file.path, file.text)


def infill_request(
    project: ProjectContext | None,
    ctx: CompletionContext,
    snap: DocumentSnapshot,
    position: tuple[int, int],
    session: Session,
    reserved_tokens: int,
    *,
    record: bool = True,
) -> InfillRequest:
    """The request for a completion: the context, and the cross-file block when there is
    one. `reserved_tokens` (the file's prompt budget and the new tokens) are kept free of
    the block within the context window. `record`: this request is about to be evaluated
    (a completion; a pre-warm records itself once it is done). On the worker thread."""
    request = InfillRequest(prefix=ctx.prefix, suffix=ctx.suffix, extra=ctx.extra)
    if project is None:
        return request
    room = min(project.settings.max_tokens, session.n_ctx - reserved_tokens - 16)
    block = project.block_for(snap, position[0], session.count_tokens, room)
    if record:
        project.focus = Focus(snap.uri, *position)
        project.evaluated_files = block.files
    if block.empty:
        return request
    update = {"files": block.files, "path": block.path, "comment": block.comment}
    if session.capabilities.token_prompts:
        return request.model_copy(update={**update, "repo": block.repo})
    # An engine that templates text itself gets the block as path comments, first.
    labelled = request.model_copy(update=update)
    return request.model_copy(update={"extra": path_comments(labelled) + ctx.extra})
