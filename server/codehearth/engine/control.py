"""How a running generation is steered and why it stopped: one object, named states.

llama.cpp's server gives each slot a state (idle, processing prompt, generating, done)
instead of letting callbacks decide. A generation here has one `GenerationControl`: the
session asks it between prompt chunks and between tokens whether to go on, hands it the
text as it grows, and leaves the reason in `state`:

* CANCELLED — the job was cancelled or superseded (a newer keystroke): drop the result;
* PREEMPTED — more urgent work waits and this generation may yield (a chat behind a
  keystroke): keep the text so far, run again later;
* FINISHED — the caller's own rule says the text is complete (a block suggestion left
  its block);
* RUNNING — none of these: the session stopped for its own reasons (length, EOG, stop
  string), which GenerationStats.stop_reason names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class ControlState(StrEnum):
    RUNNING = "running"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"
    FINISHED = "finished"


def _never() -> bool:
    return False


@dataclass
class GenerationControl:
    """Cancellation, pre-emption, streaming and an early-finish rule for one generation."""

    # True once the work is no longer wanted (job cancelled or superseded).
    cancelled: Callable[[], bool] = _never
    # True while more urgent work waits; only consulted when `may_yield`.
    urgent: Callable[[], bool] = _never
    may_yield: bool = False
    # Gets each new piece of text as it is decoded (stop strings already held back).
    on_text: Callable[[str], None] | None = None
    # Given the whole text so far: True when it is complete.
    finished: Callable[[str], bool] | None = None
    state: ControlState = ControlState.RUNNING
    _generating: bool = field(default=False, repr=False)

    def stop_before_prompt_chunk(self) -> bool:
        """Asked between prompt chunks. Until the first token, urgency counts too: a
        continuation's prompt can take a second to evaluate, and a keystroke queued
        meanwhile must not wait for all of it."""
        if self.cancelled():
            self.state = ControlState.CANCELLED
        elif self.may_yield and self.urgent():
            self.state = ControlState.PREEMPTED
        return self.state is not ControlState.RUNNING

    def stop_before_token(self) -> bool:
        """Asked before each generated token is kept."""
        self._generating = True
        if self.cancelled():
            self.state = ControlState.CANCELLED
        elif self.may_yield and self.urgent():
            self.state = ControlState.PREEMPTED
        return self.state is not ControlState.RUNNING

    def emit(self, delta: str) -> None:
        """Stream a new piece of text."""
        if delta and self.on_text is not None:
            self.on_text(delta)

    def is_finished(self, delta: str, text: str) -> bool:
        """After new text: True when the caller's rule says the whole text is complete."""
        if delta and self.finished is not None and self.finished(text):
            self.state = ControlState.FINISHED
            return True
        return False

    @property
    def generating(self) -> bool:
        """True once the prompt was evaluated and the first token asked for."""
        return self._generating
