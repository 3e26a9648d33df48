"""A streamed generation that runs as an engine Job and survives pre-emption.

The Job's run() is this object's __call__: it may run several times. When an inline
completion queues behind it, session.generate() returns "preempted" with the text so far;
the text is kept here and Requeue is raised. On the next run the KV cache belongs to
someone else, so the prompt becomes the original prompt tokens plus the tokens of the
text so far, and generation continues with what is left of max_tokens.

A run also gives way while its prompt is still being evaluated (GenerationControl counts
urgency until the first token), and after giving way it resumes only when completions have
paused for RESUME_DELAY_S.

A grammar-constrained generation cannot continue that way (llama.cpp's grammar would
start over at the root in the middle of the JSON), so it starts again from scratch; after
MAX_GRAMMAR_RESTARTS restarts it stops yielding, so a stream of keystrokes cannot starve it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..engine.api import ChatMessageText, ChatPrompt, Session
from ..engine.control import ControlState
from ..engine.session import Cancelled
from ..engine.types import GenerationParams, GenerationStats
from ..engine.worker import Job, Requeue

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
        """From an EncodedPrompt (assist/chat_template.py)."""
        return cls(prompt.tokens, prompt.stop_ids, extra, prompt.messages, prompt.counted)

    @property
    def token_count(self) -> int:
        return self.counted if self.counted is not None else len(self.tokens)

    def chat_prompt(self) -> ChatPrompt:
        messages = tuple(ChatMessageText(role=m.role, content=m.content) for m in self.messages)
        return ChatPrompt(tokens=self.tokens, stop_ids=self.stop_ids, messages=messages)


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
        prepare: Callable[[Session, GenerationParams], PreparedPrompt],
        params: GenerationParams,
        on_delta: Callable[[str], None] | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> None:
        self._prepare = prepare
        # Output constrained to this schema (a llama.cpp grammar locally, structured
        # output on a remote engine).
        self._json_schema = json_schema
        self.params = params
        self._on_delta = on_delta
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

    def __call__(self, session: Session, job: Job) -> StreamedText:
        constrained = self._json_schema is not None
        may_yield = not constrained or self.restarts < MAX_GRAMMAR_RESTARTS
        if self.preemptions and may_yield:
            self._wait_for_quiet(job)
        if self.prompt is None:
            self.prompt = self._prepare(session, self.params)
        remaining = self.params.max_tokens - self.generated
        if remaining <= 0:
            self.stop_reason = "length"
            return self._result()
        emitted: list[str] = []

        def on_text(delta: str) -> None:
            emitted.append(delta)
            self._emit(delta)

        control = job.control(may_yield=may_yield, on_text=on_text)
        text, stats = session.chat(
            self.prompt.chat_prompt(),
            self.params.model_copy(update={"max_tokens": remaining}),
            control,
            continuation=self.text,
            json_schema=self._json_schema,
            slot=self.slot,
        )
        if control.state is ControlState.PREEMPTED and not control.generating:
            self.preemptions += 1  # gave way while evaluating the prompt: nothing lost
            raise Requeue()
        # The stream holds back a tail that might start a stop string; flush it now.
        self._emit(text[len("".join(emitted)) :])
        return self._finish(text, stats, job, constrained)

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
