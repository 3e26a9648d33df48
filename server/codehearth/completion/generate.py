"""One completion generation, as it runs on the engine's worker thread.

Everything that touches the model (token counting for the budget, prompt assembly,
generation) happens here, in one job. The stop rule joins the block rule (a multi-line
suggestion is done once it leaves the cursor's block) and the time budget: once the
generation has run for its budget, a single line is returned as far as it got and a
block keeps its complete lines (llama.cpp's `t_max_predict_ms`, counted from the first
token as there: a long prompt is not the generation's fault).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import BaseModel

from ..config import CompletionSettings
from ..context.builder import CompletionContext, ContextBudget, build_context
from ..context.project import ProjectContext, infill_request
from ..engine.api import Session
from ..engine.session import Cancelled
from ..engine.types import GenerationParams, GenerationStats
from ..engine.worker import Job
from ..models.manifest import Sampling
from .postprocess import block_finished, clean_suggestion
from .target import Target

AnswerSource = Literal["model", "cache", "in-flight", "gated"]


class CompletionResult(BaseModel):
    items: list[str]
    mode: str = "prefix"
    multiline: bool = False
    stats: GenerationStats | None = None
    latency_ms: float = 0.0
    superseded: bool = False
    # Where the answer came from; `speculative`: a speculative generation computed it.
    source: AnswerSource = "model"
    speculative: bool = False
    # The generation stopped at its time budget (stats.stop_reason is then "stop").
    budget_stopped: bool = False


def context_budget(settings: CompletionSettings, n_ctx: int, max_new_tokens: int) -> ContextBudget:
    """The prompt's share of the context window: what the settings allow, within n_ctx."""
    room = max(64, n_ctx - max_new_tokens - 8)
    return ContextBudget(
        max_prompt_tokens=min(settings.max_prompt_tokens, room),
        max_lines_before=settings.max_lines_before,
        max_lines_after=settings.max_lines_after,
    )


def generation_params(
    settings: CompletionSettings, sampling: Sampling, multiline: bool
) -> GenerationParams:
    temperature = settings.temperature
    return GenerationParams(
        max_tokens=settings.max_tokens_multi if multiline else settings.max_tokens_single,
        temperature=temperature if temperature is not None else sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        repeat_penalty=sampling.repeat_penalty,
        stop=list(sampling.stop),
        stop_at_newline=not multiline,
    )


def is_multiline(settings: CompletionSettings, auto: bool) -> bool:
    mode = settings.multiline
    return auto if mode == "auto" else mode == "always"


@dataclass
class StopRule:
    """The control's `finished`: the block rule and the time budget (see module doc)."""

    ctx: CompletionContext
    budget_ms: int
    deadline: float | None = None
    budget_hit: bool = False

    def __call__(self, text: str) -> bool:
        now = time.perf_counter()
        if self.deadline is None:  # the first piece of text: the generation has begun
            self.deadline = now + self.budget_ms / 1000
        if self.ctx.multiline and block_finished(text, self.ctx):
            return True
        if self.budget_ms <= 0 or now < self.deadline:
            return False
        if self.ctx.multiline and "\n" not in text.lstrip("\n"):
            return False  # not one whole line yet: a block keeps going until it has one
        self.budget_hit = True
        return True

    def trim(self, text: str) -> str:
        """A block cut by the budget keeps its complete lines only."""
        if not (self.budget_hit and self.ctx.multiline) or text.endswith("\n"):
            return text
        head, newline, _partial = text.rpartition("\n")
        return head if newline and head.strip() else text


def run_generation(
    target: Target,
    session: Session,
    job: Job,
    settings: CompletionSettings,
    sampling: Sampling,
    *,
    budget_ms: int,
    owner: str | None,
    on_text: Callable[[str], None] | None = None,
    on_context: Callable[[CompletionContext], None] | None = None,
    project: ProjectContext | None = None,
) -> CompletionResult:
    """Build the context at `target`, generate, clean up: one suggestion or none."""
    started = time.perf_counter()
    snap = target.snapshot()
    line, character = snap.position_at(target.cursor)
    probe = generation_params(settings, sampling, multiline=True)
    budget = context_budget(settings, session.n_ctx, probe.max_tokens)
    ctx = build_context(snap, line, character, session.count_tokens, budget)
    # The user's multi-line policy decides once; generation stop and clean-up follow it.
    multiline = is_multiline(settings, ctx.multiline)
    ctx = replace(ctx, multiline=multiline)
    if on_context is not None:
        on_context(ctx)
    rule = StopRule(ctx, budget_ms)
    reserved = budget.max_prompt_tokens + probe.max_tokens  # cross-file block: the rest
    request = infill_request(project, ctx, snap, (line, character), session, reserved)
    control = job.control(finished=rule, on_text=on_text)
    params = generation_params(settings, sampling, multiline)
    text, stats = session.infill(request, params, control, slot=owner)
    if stats.stop_reason == "cancelled" or job.is_cancelled():
        raise Cancelled()
    stats.queue_ms = (started - job.submitted_at) * 1000
    suggestion = clean_suggestion(rule.trim(text), ctx)
    return CompletionResult(
        items=[suggestion] if suggestion else [],
        mode=session.infill_mode,
        multiline=multiline,
        stats=stats,
        latency_ms=(time.perf_counter() - job.submitted_at) * 1000,
        budget_stopped=rule.budget_hit,
    )
