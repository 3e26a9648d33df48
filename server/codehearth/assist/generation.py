"""A streamed generation that runs as an engine Job and survives pre-emption.

The Job's run() is this object's __call__: it may run several times. When an inline
completion queues behind it, session.generate() returns "preempted" with the text so far;
the text is kept here and Requeue is raised. On the next run the KV cache belongs to
someone else, so the prompt becomes the original prompt tokens plus the tokens of the
text so far, and generation continues with what is left of max_tokens.

A run also gives way while its prompt is still being evaluated (see _YieldGate), and after
giving way it resumes only when completions have paused for RESUME_DELAY_S.

A grammar-constrained generation cannot continue that way (llama.cpp's grammar would
start over at the root in the middle of the JSON), so it starts again from scratch; after
MAX_GRAMMAR_RESTARTS restarts it stops yielding, so a stream of keystrokes cannot starve it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.session import Cancelled, ModelSession
from ..engine.types import GenerationParams, GenerationStats
from ..engine.worker import Job, Requeue

if TYPE_CHECKING:
    import llama_cpp

MAX_GRAMMAR_RESTARTS = 2
# After giving way to a completion, a run resumes only once no completion has come for
# this long, so a burst of keystrokes is not interleaved with reply tokens. Completion
# and reply keep separate KV slots (engine/slots.py), so resuming costs a cache copy, not
# a re-evaluated prompt; 0.3 s lets replies stream between keystrokes of normal typing
# (benchmarks/typing_with_chat.py, docs/performance.md).
RESUME_DELAY_S = 0.3
_POLL_S = 0.005


@dataclass
class PreparedPrompt:
    tokens: list[int]
    stop_ids: frozenset[int] = frozenset()
    extra: Any = None  # what the caller wants back from prepare (records, line maps)
    # For a remote engine: the conversation itself, and its counted size.
    messages: tuple[Any, ...] = ()
    counted: int | None = None

    @classmethod
    def of(cls, prompt: Any, extra: Any = None) -> PreparedPrompt:
        """From an EncodedPrompt (commands/chat_template.py)."""
        return cls(prompt.tokens, prompt.stop_ids, extra, prompt.messages, prompt.counted)

    @property
    def token_count(self) -> int:
        return self.counted if self.counted is not None else len(self.tokens)


@dataclass
class StreamedText:
    text: str
    stop_reason: str | None
    generated_tokens: int
    prompt_tokens: int
    preemptions: int
    extra: Any = None
    stats: list[GenerationStats] = field(default_factory=list)


class StreamingRun:
    """One generation's state across runs. prepare() builds the prompt on the worker."""

    def __init__(
        self,
        prepare: Callable[[ModelSession, GenerationParams], PreparedPrompt],
        params: GenerationParams,
        on_delta: Callable[[str], None] | None = None,
        grammar: Callable[[ModelSession], llama_cpp.LlamaGrammar] | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> None:
        self._prepare = prepare
        # What the grammar enforces, for remote engines (structured output).
        self._json_schema = json_schema
        self.params = params
        self._on_delta = on_delta
        self._grammar = grammar
        self._lock = threading.Lock()  # text is read by the loop after a cancel
        self.prompt: PreparedPrompt | None = None
        self.text = ""
        self.generated = 0
        self.preemptions = 0
        self.restarts = 0
        self.stop_reason: str | None = None
        self.stats: list[GenerationStats] = []
        # The KV slot this run's cache lives in (engine/slots.py); None: whatever is live.
        self.slot: str | None = None

    def partial(self) -> StreamedText:
        with self._lock:
            return self._result()

    def _result(self) -> StreamedText:
        prompt = self.prompt
        return StreamedText(
            text=self.text,
            stop_reason=self.stop_reason,
            generated_tokens=self.generated,
            prompt_tokens=prompt.token_count if prompt else 0,
            preemptions=self.preemptions,
            extra=prompt.extra if prompt else None,
            stats=list(self.stats),
        )

    def _emit(self, delta: str) -> None:
        if delta and self._on_delta is not None:
            self._on_delta(delta)

    def __call__(self, session: ModelSession, job: Job) -> StreamedText:
        if getattr(session, "remote", False):
            return self._call_remote(session, job)
        may_yield = self._grammar is None or self.restarts < MAX_GRAMMAR_RESTARTS
        if self.preemptions and may_yield:
            self._wait_for_quiet(job)
        if self.prompt is None:
            self.prompt = self._prepare(session, self.params)
        prompt = self.prompt
        tokens = prompt.tokens + (session.tokenize(self.text) if self.text else [])
        remaining = self.params.max_tokens - self.generated
        if remaining <= 0:
            self.stop_reason = "length"
            return self._result()
        grammar = self._grammar(session) if self._grammar is not None else None
        gate = _YieldGate(job, may_yield)
        emitted: list[str] = []

        def on_text(delta: str) -> None:
            emitted.append(delta)
            self._emit(delta)

        try:
            text, stats = session.generate(
                tokens,
                self.params.model_copy(update={"max_tokens": remaining}),
                gate.cancelled,
                on_text=on_text,
                stop_token_ids=prompt.stop_ids,
                preempt=gate.preempt if gate.enabled else None,
                grammar=grammar,
                slot=self.slot,
            )
        except Cancelled:
            if job.is_cancelled():
                raise
            self.preemptions += 1  # gave way while evaluating the prompt: nothing lost
            raise Requeue() from None
        # The stream holds back a tail that might start a stop string; flush it now.
        self._emit(text[len("".join(emitted)) :])
        return self._finish(text, stats, job, grammar is not None)

    def _call_remote(self, session: Any, job: Job) -> StreamedText:
        """A remote engine runs it in one go: it schedules its own work, and completions
        run on other workers meanwhile, so there is nothing to give way to."""
        if self.prompt is None:
            self.prompt = self._prepare(session, self.params)
        messages = [{"role": m.role, "content": m.content} for m in self.prompt.messages]
        text, stats = session.chat(
            messages,
            self.params,
            job.is_cancelled,
            on_delta=self._emit,
            json_schema=self._json_schema,
        )
        with self._lock:
            self.stats.append(stats)
            self.text, self.generated = text, stats.generated_tokens
            self.stop_reason = stats.stop_reason
        if stats.stop_reason == "cancelled" and job.is_cancelled():
            raise Cancelled()
        return self._result()

    def _wait_for_quiet(self, job: Job) -> None:
        deadline = time.monotonic() + RESUME_DELAY_S
        while time.monotonic() < deadline:
            if job.is_cancelled():
                raise Cancelled()
            if job.urgent_waiting():
                self.preemptions += 1
                raise Requeue()
            time.sleep(_POLL_S)

    def _finish(
        self, text: str, stats: GenerationStats, job: Job, constrained: bool
    ) -> StreamedText:
        reason = stats.stop_reason
        if reason == "cancelled" and not job.is_cancelled():
            reason = "preempted"  # the gate yielded on the first token
        with self._lock:
            self.stats.append(stats)
            self.stop_reason = reason
            if reason == "preempted":
                self.preemptions += 1
                if constrained:
                    self.restarts += 1
                    self.text, self.generated = "", 0
                else:
                    self.text += text
                    self.generated += stats.generated_tokens
                raise Requeue()
            self.text += text
            self.generated += stats.generated_tokens
            if reason == "cancelled":
                raise Cancelled()
            return self._result()


class _YieldGate:
    """When a run gives way to more urgent work.

    session.generate() polls `preempt` only between generated tokens; a continuation's
    prompt (the original prompt plus everything generated so far) can take a second to
    re-evaluate, and a completion queued meanwhile would wait for all of it. So until the
    first token, urgency also counts as cancellation, which generate() checks between
    prompt chunks.
    """

    def __init__(self, job: Job, enabled: bool) -> None:
        self.job = job
        self.enabled = enabled
        self._generating = False

    def cancelled(self) -> bool:
        if self.job.is_cancelled():
            return True
        return self.enabled and not self._generating and self.job.urgent_waiting()

    def preempt(self) -> bool:
        self._generating = True
        return self.job.urgent_waiting()
