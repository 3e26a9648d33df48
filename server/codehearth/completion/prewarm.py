"""Pre-warming: while the user is idle, evaluate a changed cross-file block into the KV
cache, so the next keystroke pays only for what follows it (llama.vim's `n_predict: 0`).

The project context (context/project.py) says when the next block may differ (a document
opened, the edited region moved, a file changed). After `project.prewarmIdleMs` without
another such event or a completion, one background job builds the prompt a completion at
the user's focus would get and, when its cross-file block is not the one last evaluated,
runs `Session.prewarm` on it. The job has the lowest priority: any real request drops it
from the queue or stops it between prompt chunks, and what it evaluated so far stays
valid. Its time and tokens are counted in the project's stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from ..context.builder import build_context
from ..context.project import Focus, ProjectContext, infill_request
from ..engine.jobs import PRIORITY_BACKGROUND, EngineBusy, EngineUnavailable, Job
from .generate import context_budget, generation_params

if TYPE_CHECKING:
    from ..context.documents import DocumentSnapshot
    from ..engine.api import Session
    from .service import CompletionService

log = logging.getLogger(__name__)


class Prewarmer:
    def __init__(self, service: CompletionService, project: ProjectContext) -> None:
        self.service = service
        self.project = project
        self._timer: asyncio.TimerHandle | None = None
        project.listeners.append(self.poke)

    def poke(self) -> None:
        """Something changed: pre-warm once the user has been idle for a while."""
        settings = self.project.settings
        if not (settings.enabled and settings.prewarm):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (a one-shot command): nobody is idle here
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(settings.prewarm_idle_ms / 1000, self._fire)

    def _fire(self) -> None:
        self._timer = None
        focus = self.project.focus
        engine = self.service.engine
        if focus is None or not engine.ready:
            return
        if engine.queue_depth:
            self.poke()  # not idle after all: try again later
            return
        snap = self.project.snapshot_of(focus.uri)
        if snap is None:
            return

        def run(session: Session, job: Job) -> int:
            return self._run(snap, focus, session, job)

        owner = self.service.owner
        job = Job(run=run, key=f"{owner}|prewarm", priority=PRIORITY_BACKGROUND, owner=owner)
        with contextlib.suppress(EngineBusy, EngineUnavailable):
            future = engine.submit(job)
            future.add_done_callback(_retrieve)

    def _run(self, snap: DocumentSnapshot, focus: Focus, session: Session, job: Job) -> int:
        """On the worker: the prompt a completion at the focus would get, evaluated."""
        if not session.capabilities.token_prompts:
            # A remote engine keeps its own cache, and building the prompt would cost it
            # tokenizer calls that can interrupt the request it is streaming.
            return 0
        started = time.perf_counter()
        settings = self.service.settings
        line = min(focus.line, snap.line_count - 1)
        character = min(focus.character, len(snap.line_text(line).encode("utf-16-le")) // 2)
        probe = generation_params(settings, self.service.sampling, multiline=True)
        budget = context_budget(settings, session.n_ctx, probe.max_tokens)
        ctx = build_context(snap, line, character, session.count_tokens, budget)
        reserved = budget.max_prompt_tokens + probe.max_tokens
        project = self.project
        position = (line, character)
        request = infill_request(project, ctx, snap, position, session, reserved, record=False)
        if not request.files or request.files == project.evaluated_files:
            return 0
        evaluated = session.prewarm(request, job.control(), slot=self.service.owner)
        stopped = job.is_cancelled()
        if not stopped:
            project.evaluated_files = request.files
        elapsed = (time.perf_counter() - started) * 1000
        stats = self.project.stats
        stats.prewarms += 1
        stats.prewarm_tokens += evaluated
        stats.prewarm_ms += elapsed
        # Stopped by real work: what it evaluated stays in the cache, but is not counted.
        outcome = " (stopped by a request)" if stopped else ""
        log.info(
            "pre-warmed the cross-file block: %d tokens in %.0f ms%s", evaluated, elapsed, outcome
        )
        return evaluated


def attach_prewarmer(service: CompletionService) -> Prewarmer | None:
    """The service's pre-warmer, when it has a project context."""
    project = getattr(service, "project", None)
    return Prewarmer(service, project) if project is not None else None


def _retrieve(future) -> None:
    if not future.cancelled():
        future.exception()
