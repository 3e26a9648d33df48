"""What the engine's queue holds: jobs with a priority, a key and a future, and the
exceptions a job or a submitter may see."""

from __future__ import annotations

import contextvars
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .control import GenerationControl
from .session import Cancelled

if TYPE_CHECKING:
    from .api import Session

PRIORITY_COMPLETION = 0
PRIORITY_CHAT = 10
# Work nobody waits for (speculative suggestions, pre-warming the KV cache while the user
# is idle): runs only when nothing else is queued, and any other job that arrives drops it
# from the queue or stops it at its next prompt chunk or token.
PRIORITY_BACKGROUND = 20


class Requeue(Exception):
    """Raised by a job that gave way to more urgent work; it runs again later."""


class EngineBusy(Exception):
    """The queue is full."""


class EngineUnavailable(Exception):
    """The model could not be loaded or the engine is shut down."""


_sequence = itertools.count()


@dataclass
class Job:
    """One unit of work run on the worker thread with the loaded model."""

    run: Callable[[Session, Job], Any]
    key: str | None = None
    priority: int = PRIORITY_COMPLETION
    future: Future = field(default_factory=Future)
    cancel_event: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.perf_counter)
    seq: int = field(default_factory=lambda: next(_sequence))
    superseded: bool = False
    # The editor connection that asked; its jobs end when it goes (Engine.release).
    owner: str | None = None
    # The asker's context variables, which the job runs in on the worker thread: what it
    # logs is that editor's (the shared engine sends it back, shared/editor_log.py).
    context: contextvars.Context = field(default_factory=contextvars.copy_context)

    # Set by the engine: True while a more urgent job waits (a keystroke behind a chat).
    urgent_waiting: Callable[[], bool] = field(default=lambda: False)

    def cancel(self) -> None:
        self.cancel_event.set()

    def control(
        self,
        *,
        may_yield: bool = False,
        on_text: Callable[[str], None] | None = None,
        finished: Callable[[str], bool] | None = None,
    ) -> GenerationControl:
        """The control of one generation this job runs: stops when the job is cancelled,
        and (if it may yield) while a more urgent job waits."""
        return GenerationControl(
            cancelled=self.is_cancelled,
            urgent=lambda: self.urgent_waiting(),
            may_yield=may_yield,
            on_text=on_text,
            finished=finished,
        )

    def is_cancelled(self) -> bool:
        return self.cancel_event.is_set()


def drop_job(job: Job, why: str) -> None:
    """Resolve a queued job's future. A pre-empted, re-queued job's future is already
    running and cannot be cancelled, so it gets a Cancelled exception instead."""
    if not job.future.cancel() and not job.future.done():
        job.future.set_exception(Cancelled(why))
