"""The completion service: what an inlineCompletion request does, minus the LSP.

The LSP handler hands over a document snapshot; everything that touches the
model (token counting for the budget, prompt assembly, generation) runs as one
job on the engine's worker thread, keyed by the document so that the next
keystroke supersedes it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace

from pydantic import BaseModel

from ..config import CompletionSettings
from ..context.builder import CompletionContext, ContextBudget, build_context
from ..context.documents import DocumentSnapshot
from ..engine.api import InfillRequest, Session
from ..engine.session import Cancelled
from ..engine.types import GenerationParams, GenerationStats
from ..engine.worker import PRIORITY_COMPLETION, Engine, Job
from ..models.manifest import Sampling
from .postprocess import block_finished, clean_suggestion


def context_budget(settings: CompletionSettings, n_ctx: int, max_new_tokens: int) -> ContextBudget:
    """The prompt's share of the context window: what the settings allow, within n_ctx."""
    room = max(64, n_ctx - max_new_tokens - 8)
    return ContextBudget(
        max_prompt_tokens=min(settings.max_prompt_tokens, room),
        max_lines_before=settings.max_lines_before,
        max_lines_after=settings.max_lines_after,
    )


class CompletionResult(BaseModel):
    items: list[str]
    mode: str = "prefix"
    multiline: bool = False
    stats: GenerationStats | None = None
    latency_ms: float = 0.0
    superseded: bool = False


@dataclass
class CompletionService:
    engine: Engine
    sampling: Sampling
    settings: CompletionSettings = field(default_factory=CompletionSettings)
    # The editor connection whose work this is (the shared engine serves several).
    owner: str | None = None
    # Request-to-answer time of the last completion that produced an answer (status item).
    last_latency_ms: float | None = None

    def _params(self, multiline: bool) -> GenerationParams:
        s = self.settings
        return GenerationParams(
            max_tokens=s.max_tokens_multi if multiline else s.max_tokens_single,
            temperature=s.temperature if s.temperature is not None else self.sampling.temperature,
            top_p=self.sampling.top_p,
            top_k=self.sampling.top_k,
            repeat_penalty=self.sampling.repeat_penalty,
            stop=list(self.sampling.stop),
            stop_at_newline=not multiline,
        )

    def _is_multiline(self, auto: bool) -> bool:
        mode = self.settings.multiline
        return auto if mode == "auto" else mode == "always"

    def run_on_worker(
        self, snap: DocumentSnapshot, line: int, character: int, session: Session, job: Job
    ) -> CompletionResult:
        started = time.perf_counter()
        probe = self._params(multiline=True)
        budget = context_budget(self.settings, session.n_ctx, probe.max_tokens)
        ctx = build_context(snap, line, character, session.count_tokens, budget)
        # The user's multi-line policy decides once; generation stop and clean-up follow it.
        multiline = self._is_multiline(ctx.multiline)
        ctx = replace(ctx, multiline=multiline)
        # A block suggestion is done once the text leaves the cursor's block.
        finished = (lambda so_far: block_finished(so_far, ctx)) if multiline else None
        request = InfillRequest(prefix=ctx.prefix, suffix=ctx.suffix, extra=ctx.extra)
        text, stats = session.infill(
            request, self._params(multiline), job.control(finished=finished), slot=self.owner
        )
        if stats.stop_reason == "cancelled" or job.is_cancelled():
            raise Cancelled()
        return _result(text, stats, ctx, session.infill_mode, job, started)

    async def complete(self, snap: DocumentSnapshot, line: int, character: int) -> CompletionResult:
        """Complete at a position; a superseded request resolves to an empty result."""

        def run(session: Session, job: Job) -> CompletionResult:
            return self.run_on_worker(snap, line, character, session, job)

        # Keyed per connection: two editors on the same file do not supersede each other.
        key = f"{self.owner}|{snap.uri}" if self.owner else snap.uri
        job = Job(run=run, key=key, priority=PRIORITY_COMPLETION, owner=self.owner)
        future = self.engine.submit(job)
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if job.superseded:
                return CompletionResult(items=[], superseded=True)
            self.engine.cancel(job)
            raise
        except Cancelled:
            return CompletionResult(items=[], superseded=job.superseded)
        self.last_latency_ms = round(result.latency_ms, 1)
        return result


def _result(
    text: str, stats: GenerationStats, ctx: CompletionContext, mode: str, job: Job, started: float
) -> CompletionResult:
    """The cleaned suggestion and the timings, local or remote alike."""
    stats.queue_ms = (started - job.submitted_at) * 1000
    suggestion = clean_suggestion(text, ctx)
    return CompletionResult(
        items=[suggestion] if suggestion else [],
        mode=mode,
        multiline=ctx.multiline,
        stats=stats,
        latency_ms=(time.perf_counter() - job.submitted_at) * 1000,
    )
