"""The engine: one worker thread owns the model; everything else talks to it through a queue.

Requests carry a key (the document URI for completions). A new request with the
same key supersedes the old one: a queued one is dropped at once, a running one
is told to stop and does so between prompt chunks or generated tokens. So the
queue holds at most one request per key, and typing never waits for suggestions
that the user has already typed past.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .api import Session, SessionInfo
from .control import GenerationControl
from .session import Cancelled, ModelSession
from .types import EngineConfig, EngineCounters

log = logging.getLogger(__name__)

PRIORITY_COMPLETION = 0
PRIORITY_CHAT = 10


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


class Engine:
    """Owns the worker thread, the queue and the counters."""

    def __init__(
        self,
        config: EngineConfig,
        session_factory: Callable[[EngineConfig], Session] | None = None,
        workers: int = 1,
    ) -> None:
        """`session_factory` makes what jobs run against (default: a llama.cpp
        ModelSession); `workers` > 1 only for sessions that are safe to share between
        threads (a remote engine, which does its own scheduling)."""
        self.config = config
        self._session_factory = session_factory or ModelSession
        self.workers = max(1, workers)
        self.counters = EngineCounters()
        # Set once loaded; a remote session updates its `remote.error` in place.
        self.session_info: SessionInfo | None = None
        self.load_notes: list[str] = []
        self.loaded_gpu_layers: int | None = None
        # Called on the worker thread when the engine loads, fails, starts or ends a job;
        # the status publisher turns these into codehearth/status pushes.
        self.listeners: list[Callable[[], None]] = []
        self._lock = threading.Condition()
        self._pending: list[Job] = []
        self._running: list[Job] = []
        self._stopping = False
        self._loaded = threading.Event()
        self._load_error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="codehearth-engine", daemon=True)

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """True when the model is ready; raises EngineUnavailable when loading failed."""
        self._loaded.wait(timeout)
        if self._load_error is not None:
            raise EngineUnavailable(str(self._load_error)) from self._load_error
        return self._loaded.is_set()

    @property
    def ready(self) -> bool:
        return self._loaded.is_set() and self._load_error is None

    @property
    def load_error(self) -> BaseException | None:
        return self._load_error

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopping = True
            for job in self._pending:
                _drop(job, "the engine is shutting down")
            self._pending.clear()
            for job in self._running:
                job.cancel()
            self._lock.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # -- submitting ---------------------------------------------------------
    def submit(self, job: Job) -> Future:
        with self._lock:
            if self._stopping:
                raise EngineUnavailable("the engine is shut down")
            if self._load_error is not None:
                raise EngineUnavailable(str(self._load_error))
            self.counters.requests += 1
            if job.key is not None:
                self._supersede(job.key)
            if len(self._pending) >= self.config.max_queue:
                raise EngineBusy(f"engine queue is full ({self.config.max_queue} requests)")
            job.urgent_waiting = lambda: self._more_urgent_than(job)
            self._pending.append(job)
            self.counters.max_queue_depth = max(self.counters.max_queue_depth, len(self._pending))
            self._lock.notify_all()
        return job.future

    def _supersede(self, key: str) -> None:
        kept = []
        for old in self._pending:
            if old.key == key:
                old.superseded = True
                old.cancel()
                _drop(old, "superseded")
                self.counters.superseded += 1
            else:
                kept.append(old)
        self._pending = kept
        for running in self._running:
            if running.key == key:
                running.superseded = True
                running.cancel()

    def _more_urgent_than(self, job: Job) -> bool:
        if self.workers > 1:
            return False  # another worker takes the urgent job: nothing needs to yield
        # Read without the lock: a momentarily stale answer only delays a yield by a token.
        return any(other.priority < job.priority for other in list(self._pending))

    def cancel(self, job: Job) -> None:
        with self._lock:
            job.cancel()
            if job in self._pending:
                self._pending.remove(job)
                _drop(job, "cancelled")
                self.counters.cancelled += 1

    def release(self, owner: str) -> int:
        """An editor connection is gone: drop its queued jobs and stop its running one."""
        dropped = 0
        with self._lock:
            kept = []
            for job in self._pending:
                if job.owner == owner:
                    job.cancel()
                    _drop(job, "the editor disconnected")
                    dropped += 1
                else:
                    kept.append(job)
            self._pending = kept
            self.counters.cancelled += dropped
            for running in self._running:
                if running.owner == owner:
                    running.cancel()
                    dropped += 1
        return dropped

    @property
    def queue_depth(self) -> int:
        with self._lock:
            return len(self._pending)

    @property
    def busy(self) -> bool:
        """A job is running or waiting. A job whose answer is out counts as done, so a
        client that asks right after its answer does not see "busy"."""
        with self._lock:
            running = any(not job.future.done() for job in self._running)
            return running or bool(self._pending)

    def _notify(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # a status listener must never take the worker down
                log.debug("engine listener failed", exc_info=True)

    # -- worker -------------------------------------------------------------
    def _main(self) -> None:
        session = self._load()
        if session is None:
            return
        helpers = [
            threading.Thread(
                target=self._serve_jobs, args=(session,), name=f"codehearth-engine-{n}", daemon=True
            )
            for n in range(1, self.workers)
        ]
        for helper in helpers:
            helper.start()
        try:
            self._serve_jobs(session)
        finally:
            for helper in helpers:
                helper.join(5)
            session.close()

    def _serve_jobs(self, session: Session) -> None:
        while True:
            job = self._next_job()
            if job is None:
                break
            self._run(session, job)

    def _load(self) -> Session | None:
        """Load the model; on failure retry with fewer GPU layers, then fail clearly."""
        attempts = [self.config.n_gpu_layers, *self.config.fallback_layers]
        errors: list[str] = []
        for layers in dict.fromkeys(attempts):
            config = self.config.model_copy(update={"n_gpu_layers": layers})
            try:
                session = self._session_factory(config)
            except EngineUnavailable as exc:  # says itself what is wrong (a remote engine)
                self._fail(exc)
                return None
            except Exception as exc:  # llama.cpp raises ValueError; anything else is as fatal
                log.warning(
                    "loading %s with %d GPU layers failed: %s", config.model_name, layers, exc
                )
                errors.append(f"{layers} GPU layers: {exc}")
                continue
            if errors:
                self.load_notes.append(
                    f"loading with {attempts[0]} GPU layers failed; loaded with {layers} "
                    f"({'CPU' if layers == 0 else 'partial offload'})"
                )
            self.loaded_gpu_layers = layers
            self._ready(session)
            return session
        self._fail(RuntimeError(_load_failure_message(self.config, errors)))
        return None

    def _ready(self, session: Session) -> None:
        session.on_stats = self.counters.add
        trained = session.n_ctx_train
        if 0 < trained < self.config.n_ctx:
            self.load_notes.append(
                f"{self.config.model_name} was trained with a {trained}-token context but "
                f"{self.config.n_ctx} was requested: prompts are kept within {trained} tokens "
                f"(set context = {trained} or less to save the memory)"
            )
        self.session_info = session.describe()
        self._loaded.set()
        self._notify()

    def _fail(self, exc: BaseException) -> None:
        log.error("model %s failed to load: %s", self.config.model_name, exc)
        self._load_error = exc
        self._loaded.set()
        with self._lock:
            for job in self._pending:
                job.future.set_exception(EngineUnavailable(str(exc)))
            self._pending.clear()
        self._notify()

    def _next_job(self) -> Job | None:
        with self._lock:
            while not self._pending and not self._stopping:
                self._lock.wait()
            if self._stopping:
                return None
            job = min(self._pending, key=lambda j: (j.priority, j.seq))
            self._pending.remove(job)
            self._running.append(job)
        self._notify()
        return job

    def _run(self, session: Session, job: Job) -> None:
        try:
            if not job.future.running() and not job.future.set_running_or_notify_cancel():
                return
            if job.is_cancelled():
                raise Cancelled()
            result = job.run(session, job)
        except Requeue:
            with self._lock:
                if not self._stopping and not job.is_cancelled():
                    self._pending.append(job)
                    self.counters.preempted += 1
                    return
            self._count(cancelled=True)
            job.future.set_exception(Cancelled("cancelled"))
        except Cancelled:
            self._count(cancelled=True)
            job.future.set_exception(Cancelled("superseded" if job.superseded else "cancelled"))
        except Exception as exc:
            log.exception("engine job failed")
            self._count(failed=True)
            job.future.set_exception(exc)
        else:
            self._count()
            job.future.set_result(result)
        finally:
            with self._lock:
                self._running.remove(job)
            self._notify()

    def _count(self, *, cancelled: bool = False, failed: bool = False) -> None:
        with self._lock:
            if cancelled:
                self.counters.cancelled += 1
            elif failed:
                self.counters.failed += 1
            else:
                self.counters.completed += 1


def _drop(job: Job, why: str) -> None:
    """Resolve a queued job's future. A pre-empted, re-queued job's future is already
    running and cannot be cancelled, so it gets a Cancelled exception instead."""
    if not job.future.cancel() and not job.future.done():
        job.future.set_exception(Cancelled(why))


def _load_failure_message(config: EngineConfig, errors: list[str]) -> str:
    """llama.cpp says only "Failed to load model from file"; say what that usually means."""
    from pathlib import Path

    path = Path(config.model_path)
    if not path.is_file():
        return f"{path} does not exist"
    detail = errors[-1] if errors else "unknown error"
    try:
        from ..models.gguf_info import GgufError, read_gguf_info

        read_gguf_info(path)
    except GgufError as exc:
        return str(exc)
    except Exception:  # the inspection is only for a better message
        pass
    return f"{path}: llama.cpp could not load it ({detail})"
