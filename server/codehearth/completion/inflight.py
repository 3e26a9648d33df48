"""The generation running for a document, and whether a new keystroke may wait for it.

A keystroke normally supersedes the generation running for its document. When what the
user typed since that generation started is the beginning of the text it has produced so
far (Continue's generator reuse), the generation is still right: the keystroke waits for
it and answers with the rest, instead of throwing away the work and starting again.

The worker thread appends to `partial` as text is decoded; the event loop reads it. A
flight may have several waiters (the request that started it and the keystrokes riding
on it); an editor cancelling one of them ($/cancelRequest, sent by VS Code before the next
keystroke's request) does not stop the generation while another waits or may still come:
the last waiter to leave gives it a short grace before it is cancelled.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..context.builder import CompletionContext
from .cache import CursorState
from .postprocess import clean_suggestion

if TYPE_CHECKING:
    from ..engine.jobs import Job
    from .target import Target

# How long a generation nobody waits for keeps running, for the next keystroke to ride on
# it (VS Code cancels the last request before it sends the next one).
ORPHAN_GRACE_S = 0.25
_WORD_TAIL = re.compile(r"\w+$")


@dataclass
class Flight:
    target: Target
    job: Job
    future: asyncio.Future | None = None
    speculative: bool = False
    partial: str = ""
    ctx: CompletionContext | None = None
    waiters: int = 0
    # It answered with its text so far (an early answer or a ride, service.py): the
    # editor shows a part of it, and typing along that part needs no more waiting.
    shown_partial: bool = False
    _orphan_timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def origin(self) -> CursorState:
        return self.target.state

    def add_text(self, delta: str) -> None:
        """Called on the worker thread with each decoded piece."""
        self.partial += delta

    def set_context(self, ctx: CompletionContext) -> None:
        """Called on the worker thread once the context is built."""
        self.ctx = ctx

    def shown_so_far(self) -> str:
        """The text so far as it would be shown: the clean-up decides, for instance, what
        happens to a space the model puts after the space the line ends with."""
        ctx, partial = self.ctx, self.partial
        if ctx is None or not partial:
            return ""
        return clean_suggestion(partial, ctx) or ""

    def words_so_far(self) -> str:
        """The shown text so far without a word it may still be in the middle of."""
        return _WORD_TAIL.sub("", self.shown_so_far())

    @property
    def multiline(self) -> bool:
        return self.ctx is not None and self.ctx.multiline

    def typed_since(self, state: CursorState) -> int | None:
        """How many characters were typed along since the flight started, when `state`
        is its start plus text that begins what it generated so far; None otherwise."""
        origin = self.origin
        typed = state.offset - origin.offset
        if typed < 0 or not self.running:
            return None
        if not self.shown_so_far().startswith(state.typed(typed)):
            return None
        if state.before(typed) != origin.before() or state.after() != origin.after():
            return None
        return typed

    @property
    def running(self) -> bool:
        """Still generating (or queued): not done, not stopped."""
        done = self.future is None or self.future.done()
        return not done and not self.job.is_cancelled()

    def running_at(self, state: CursorState) -> bool:
        """Generating for exactly `state` (so no other generation is needed there)."""
        return self.running and self.typed_since(state) == 0 and state.offset == self.origin.offset

    def join(self) -> None:
        self.waiters += 1
        if self._orphan_timer is not None:
            self._orphan_timer.cancel()
            self._orphan_timer = None

    def leave(self, cancel) -> None:
        """A waiter went away; `cancel` stops the job once the grace passes unclaimed."""
        self.waiters -= 1
        if self.waiters > 0 or self.future is None or self.future.done():
            return
        loop = asyncio.get_running_loop()
        self._orphan_timer = loop.call_later(ORPHAN_GRACE_S, self._orphaned, cancel)

    def _orphaned(self, cancel) -> None:
        self._orphan_timer = None
        if self.waiters == 0 and self.future is not None and not self.future.done():
            cancel(self.job)
