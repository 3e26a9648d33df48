"""The assist service: explain, chat and review, minus the LSP.

Each request becomes one Job at PRIORITY_CHAT on the engine, so inline completions
(priority 0) pre-empt it. Streaming callbacks (on_delta) are called on the engine's worker
thread; the caller hops to its own thread. Requests can be cancelled two ways:

* hard: the awaiting task is cancelled (LSP $/cancelRequest). The job is cancelled and
  CancelledError propagates; nothing is recorded.
* soft: cancel() by session or stream id (``codehearth.cancel``, a progress bar's cancel
  button, or a newer message in the same chat). Generation stops between tokens and the
  request returns the text so far with cancelled=True.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..context.documents import DocumentSnapshot, DocumentStore, PositionError
from ..context.selection import CodeContext
from ..engine.session import Cancelled
from ..engine.worker import PRIORITY_CHAT, Engine, EngineUnavailable, Job
from ..models.manifest import Sampling
from .chat import ChatStore, chat_prepare
from .explain import explain_prepare
from .generation import StreamedText, StreamingRun
from .grounding import SMALL_MODEL_NOTICE, Grounding, cap_severity, describe, ground_findings
from .payloads import (
    ChatArgs,
    ChatResult,
    ExplainArgs,
    PromptRecord,
    RangeArg,
    ReviewArgs,
    SamplingOverride,
)
from .review import (
    PlacedFinding,
    ReviewPrompt,
    ReviewTarget,
    document_target,
    findings_schema,
    parse_findings,
    place_findings,
    prompt_only_texts,
    review_prepare,
)
from .sampling import Role, generation_params

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

DEBUG_PROMPTS_ENV = "CODEHEARTH_DEBUG_PROMPTS"
PAUSE_POLL_S = 0.005
OnDelta = Callable[[str], None]


class AssistInputError(ValueError):
    """The request names a document or range that does not exist."""


@dataclass
class ActiveRequest:
    stream_id: str
    session: str | None = None
    job: Job | None = None
    soft_cancelled: bool = False


@dataclass
class ReviewOutcome:
    target: ReviewTarget
    placed: list[PlacedFinding]
    dropped: int
    truncated: bool
    stop_reason: str | None
    cancelled: bool
    # Why findings were dropped (invalid, misplaced, or a grounding.REASONS entry): counts.
    dropped_reasons: dict[str, int] = field(default_factory=dict)
    notice: str | None = None  # said once per review: e.g. the model is too small to trust


def resolve_range(
    store: DocumentStore, uri: str, rng: RangeArg | None
) -> tuple[DocumentSnapshot, int, int]:
    """Snapshot and string offsets of a range (the whole document when rng is None)."""
    doc = store.get(uri)
    if doc is None:
        raise AssistInputError(f"document is not open: {uri}")
    snap = doc.snapshot()
    if rng is None:
        return snap, 0, len(snap.text)
    try:
        start = snap.offset_at(rng.start.line, rng.start.character)
        end = snap.offset_at(rng.end.line, rng.end.character)
    except PositionError as exc:
        raise AssistInputError(f"range is outside the document: {exc}") from exc
    return snap, start, end


class AssistService:
    def __init__(
        self,
        engine: Engine | None,
        sampling: Sampling | None,
        *,
        debug_prompts: bool = False,
        owner: str | None = None,
        reviews_reliably: bool = False,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.sampling = sampling
        # The manifest's word that this model reviews well; otherwise severities are capped
        # and the review result carries SMALL_MODEL_NOTICE.
        self.reviews_reliably = reviews_reliably
        self.debug_prompts = debug_prompts or os.environ.get(DEBUG_PROMPTS_ENV, "") == "1"
        # The completion model's engine when chat runs on another model (for_runtime).
        self.gives_way_to: Engine | None = None
        self.chats = ChatStore()
        self._active: dict[str, ActiveRequest] = {}
        self._published: dict[str, tuple[int, list[Any]]] = {}
        self._reviews: dict[str, ActiveRequest] = {}

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> AssistService:
        """The runtime's service, created on first use (the runtime is replaced at initialize)."""
        chat = runtime.chat_model  # the completion model's host, or a chat model's
        entry = chat.entry
        service = getattr(runtime, "assist", None)
        if service is None:
            service = cls(
                chat.engine,
                entry.sampling if entry is not None else None,
                debug_prompts=runtime.options.log_content,
                owner=runtime.client_id,
                reviews_reliably=entry is not None and entry.reviews_reliably,
            )
            runtime.assist = service
        elif service.engine is not chat.engine:
            # Created before the model had an engine (a download was still running).
            service.engine = chat.engine
            service.sampling = entry.sampling if entry is not None else None
            service.reviews_reliably = entry is not None and entry.reviews_reliably
        # A chat model of its own: typing, on the completion model, still comes first.
        service.gives_way_to = runtime.engine if chat is not runtime.model else None
        return service

    def params(self, role: Role, override: SamplingOverride | None):
        return generation_params(self.sampling, role, override)

    # -- running jobs -------------------------------------------------------
    def begin(self, stream_id: str | None, session: str | None = None) -> ActiveRequest:
        active = ActiveRequest(stream_id or uuid.uuid4().hex, session)
        self._active[active.stream_id] = active
        return active

    def finish(self, active: ActiveRequest) -> None:
        if self._active.get(active.stream_id) is active:
            del self._active[active.stream_id]

    def cancel(self, *, session: str | None = None, stream_id: str | None = None) -> bool:
        """Soft-cancel in-flight requests of a chat session and/or with a stream id."""
        hit = False
        for active in list(self._active.values()):
            if (stream_id is not None and active.stream_id == stream_id) or (
                session is not None and active.session == session
            ):
                self._soft_cancel(active)
                hit = True
        return hit

    def _soft_cancel(self, active: ActiveRequest) -> None:
        active.soft_cancelled = True
        job = active.job
        if job is None:
            return
        job.cancel()  # a running generation stops at its next token
        # A job that never started is dropped from the queue at once. One that was
        # pre-empted and requeued has a running future that Engine.cancel() cannot
        # cancel (it would never resolve); the worker ends it with Cancelled when it
        # picks it up again, right after the completions it yielded to.
        if self.engine is not None and not job.future.running():
            self.engine.cancel(job)

    async def run(self, run: StreamingRun, active: ActiveRequest) -> tuple[StreamedText, bool]:
        """Run a generation as a chat-priority job: (result, cancelled).

        Jobs carry no key: the engine's supersede-by-key cannot end a pre-empted job
        (see _soft_cancel), so newer requests replace older ones with a soft cancel.
        """
        if self.engine is None:
            raise EngineUnavailable("the model is not started")
        job = Job(run=run, key=None, priority=PRIORITY_CHAT, owner=self.owner)
        if self.owner is not None:
            # Its own KV slot: a completion in between does not cost the reply its prompt,
            # nor the reply the completion's.
            run.slot = f"{self.owner}:assist"
        active.job = job
        if active.soft_cancelled:
            return run.partial(), True
        future = self.engine.submit(job)
        if self.gives_way_to is not None:
            pause_behind(job, self.gives_way_to)
        try:
            return await asyncio.wrap_future(future), False
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                job.cancel()
                if not job.future.running():
                    self.engine.cancel(job)
                raise
            # Our task was not cancelled: the job's future was (soft cancel while queued,
            # superseded, or engine shutdown).
            return run.partial(), True
        except Cancelled:
            return run.partial(), True

    # -- commands -----------------------------------------------------------
    async def explain(
        self, args: ExplainArgs, ctx: CodeContext, active: ActiveRequest, on_delta: OnDelta | None
    ) -> tuple[StreamedText, bool]:
        run = StreamingRun(explain_prepare(ctx), self.params("explain", args.sampling), on_delta)
        return await self.run(run, active)

    async def chat(
        self,
        args: ChatArgs,
        attachment: CodeContext | None,
        active: ActiveRequest,
        on_delta: OnDelta | None,
    ) -> ChatResult:
        chat = self.chats.get_or_create(active.session or uuid.uuid4().hex)
        if isinstance(chat.active, ActiveRequest):
            self._soft_cancel(chat.active)  # a new message supersedes a running reply
        async with chat.lock:
            chat.active = active
            if attachment is not None:
                chat.attachment = attachment

            def keep(record: PromptRecord) -> None:
                chat.record = record

            prepare = chat_prepare(chat.id, chat.turns, args.message, chat.attachment, keep)
            run = StreamingRun(prepare, self.params("chat", args.sampling), on_delta)
            try:
                out, cancelled = await self.run(run, active)
            finally:
                if chat.active is active:
                    chat.active = None
            reply = out.text.strip()
            if reply or not cancelled:
                chat.add_turn(args.message, reply)
            return ChatResult(
                session=chat.id, reply=reply, stop_reason=out.stop_reason, cancelled=cancelled
            )

    def merge_diagnostics(
        self, uri: str, version: int, new: list[Any], lines: tuple[int, int] | None
    ) -> list[Any]:
        """What to publish for uri: a range review replaces the findings on its lines and
        keeps the rest (while the document is unchanged); a whole-file review replaces all."""
        keep: list[Any] = []
        old = self._published.get(uri)
        if lines is not None and old is not None and old[0] == version:
            first, last = lines
            keep = [d for d in old[1] if d.range.end.line < first or d.range.start.line > last]
        merged = keep + list(new)
        self._published[uri] = (version, merged)
        return merged

    def reset(self, session: str) -> bool:
        self.cancel(session=session)
        return self.chats.reset(session) is not None

    def prompt_record(self, session: str) -> PromptRecord | None:
        chat = self.chats.get(session)
        return chat.record if chat is not None else None

    async def review(
        self, args: ReviewArgs, target: ReviewTarget, key: str, active: ActiveRequest
    ) -> ReviewOutcome:
        """Review target; a newer review with the same key (a document) cancels this one."""
        older = self._reviews.get(key)
        if older is not None:
            self._soft_cancel(older)
        self._reviews[key] = active
        try:
            return await self._review(args, target, active)
        finally:
            if self._reviews.get(key) is active:
                del self._reviews[key]

    async def _review(
        self, args: ReviewArgs, target: ReviewTarget, active: ActiveRequest
    ) -> ReviewOutcome:
        if not any(line.strip() for line in target.lines):
            # Nothing to review: no model call, and the (empty) result still clears.
            return ReviewOutcome(target, [], 0, False, None, False)
        params = self.params("review", args.sampling)
        run = StreamingRun(
            review_prepare(target),
            params,
            None,
            json_schema=findings_schema(),
        )
        out, cancelled = await self.run(run, active)
        info = out.extra if isinstance(out.extra, ReviewPrompt) else ReviewPrompt(0, False)
        placed, reasons = self._checked_findings(out.text, target, info.reviewed_lines)
        if reasons:
            log.info("review: %d findings kept, dropped %s", len(placed), describe(reasons))
        return ReviewOutcome(
            target,
            placed,
            len(reasons),
            info.truncated,
            out.stop_reason,
            cancelled,
            dropped_reasons=dict(Counter(reasons)),
            notice=None if self.reviews_reliably else SMALL_MODEL_NOTICE,
        )

    def _checked_findings(
        self, answer: str, target: ReviewTarget, reviewed_lines: int
    ) -> tuple[list[PlacedFinding], list[str]]:
        """The findings of an answer that are valid, placed and grounded (see
        grounding.py), severities capped unless the model is trusted; and the reason for
        each dropped one."""
        findings, invalid = parse_findings(answer)
        placed, misplaced = place_findings(findings, target, reviewed_lines)
        reviewed = "\n".join(target.lines[:reviewed_lines])
        kept, ungrounded = ground_findings(placed, Grounding(reviewed, prompt_only_texts()))
        if not self.reviews_reliably:
            kept = cap_severity(kept)
        return kept, ["invalid"] * invalid + ["misplaced"] * misplaced + ungrounded


def pause_behind(job: Job, other: Engine) -> None:
    """A chat on a model of its own gives way to typing too: while the completion model's
    engine has a completion to run, the chat's generation waits between tokens (its KV
    cache kept), instead of both models computing at once on the same cores."""
    own = job.urgent_waiting

    def urgent() -> bool:
        while other.has_work_above(PRIORITY_CHAT) and not job.is_cancelled():
            time.sleep(PAUSE_POLL_S)
        return own()

    job.urgent_waiting = urgent


def document_review_target(
    snap: DocumentSnapshot, start: int, end: int, whole: bool
) -> ReviewTarget:
    """The lines of a document a review covers: all, or those a range touches (a range
    ending at a line's start does not take that line)."""
    if whole or snap.line_count == 0:
        return document_target(snap, 0, max(0, snap.line_count - 1))
    first = snap.position_at(start)[0]
    last_line, last_char = snap.position_at(end)
    if last_char == 0 and last_line > first:
        last_line -= 1
    return document_target(snap, first, last_line)
