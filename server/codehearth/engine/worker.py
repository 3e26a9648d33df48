"""The engine: one worker thread owns the model; everything else talks to it through a queue.

Requests carry a key (the document URI for completions). A new request with the
same key supersedes the old one: a queued one is dropped at once, a running one
is told to stop and does so between prompt chunks or generated tokens. So the
queue holds at most one request per key, and typing never waits for suggestions
that the user has already typed past.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from .api import Session, SessionInfo
from .jobs import (
    PRIORITY_BACKGROUND,
    PRIORITY_CHAT,
    PRIORITY_COMPLETION,
    EngineBusy,
    EngineUnavailable,
    Job,
    Requeue,
    drop_job,
)
from .loadfail import load_failure_message
from .parallel import session_for
from .session import Cancelled
from .types import EngineConfig, EngineCounters

log = logging.getLogger(__name__)

__all__ = [
    "PRIORITY_BACKGROUND",
    "PRIORITY_CHAT",
    "PRIORITY_COMPLETION",
    "Engine",
    "EngineBusy",
    "EngineUnavailable",
    "Job",
    "Requeue",
]


class Engine:
    """Owns the worker thread, the queue and the counters."""

    def __init__(
        self,
        config: EngineConfig,
        session_factory: Callable[[EngineConfig], Session] | None = None,
        workers: int = 1,
    ) -> None:
        """`session_factory` makes what jobs run against (default: a llama.cpp session,
        with `config.n_seq` sequences decoded together); `workers` > 1 only for sessions
        that are safe to share between threads (a remote engine, which does its own
        scheduling; a parallel local session, which gets one worker per sequence)."""
        self.config = config
        self._session_factory = session_factory or session_for(config)
        if session_factory is None and config.n_seq > 1:
            workers = max(workers, config.n_seq)
        self.workers = max(1, workers)
        self._session: Session | None = None
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
                drop_job(job, "the engine is shutting down")
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
            if job.priority < PRIORITY_BACKGROUND:
                self._drop_background()
            if len(self._pending) >= self.config.max_queue:
                raise EngineBusy(f"engine queue is full ({self.config.max_queue} requests)")
            self._check_owner_cap(job)
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
                drop_job(old, "superseded")
                self.counters.superseded += 1
            else:
                kept.append(old)
        self._pending = kept
        for running in self._running:
            if running.key == key:
                running.superseded = True
                running.cancel()

    def _drop_background(self) -> None:
        """Real work arrived: background jobs give way at once (and are not re-queued)."""
        kept = []
        for old in self._pending:
            if old.priority >= PRIORITY_BACKGROUND:
                old.cancel()
                drop_job(old, "dropped for real work")
                self.counters.background_dropped += 1
            else:
                kept.append(old)
        self._pending = kept
        for running in self._running:
            if running.priority >= PRIORITY_BACKGROUND and not running.is_cancelled():
                running.cancel()
                self.counters.background_dropped += 1

    def _check_owner_cap(self, job: Job) -> None:
        """One editor's queued work is bounded, so flooding cannot push others back."""
        if job.owner is None:
            return
        queued = sum(1 for other in self._pending if other.owner == job.owner)
        cap = self.config.max_queue_per_owner
        if queued >= cap:
            raise EngineBusy(f"this editor has {queued} requests waiting (at most {cap})")

    def _more_urgent_than(self, job: Job) -> bool:
        # Read without the lock: a momentarily stale answer only delays a yield by a token.
        if len(self._running) < self.workers:
            return False  # a free worker takes the urgent job: nothing needs to yield
        return any(other.priority < job.priority for other in list(self._pending))

    def cancel(self, job: Job) -> None:
        with self._lock:
            job.cancel()
            if job in self._pending:
                self._pending.remove(job)
                drop_job(job, "cancelled")
                self.counters.cancelled += 1

    def release(self, owner: str) -> int:
        """An editor connection is gone: drop its queued jobs and stop its running one."""
        dropped = 0
        with self._lock:
            kept = []
            for job in self._pending:
                if job.owner == owner:
                    job.cancel()
                    drop_job(job, "the editor disconnected")
                    dropped += 1
                else:
                    kept.append(job)
            self._pending = kept
            self.counters.cancelled += dropped
            for running in self._running:
                if running.owner == owner:
                    running.cancel()
                    dropped += 1
        forget = getattr(self._session, "forget_owner", None)
        if forget is not None:
            forget(owner)  # its sequences' KV (a parallel session) is freed
        return dropped

    def sequences(self) -> list[Any]:
        """The sequences of a parallel session and what each holds (for `ps`)."""
        report = getattr(self._session, "sequences", None)
        return report() if report is not None else []

    def has_work_above(self, priority: int) -> bool:
        """A job more urgent than `priority` is running or waiting (another engine's chat
        gives way to this one's keystrokes: AssistService.run)."""
        with self._lock:
            jobs = [*self._pending, *(j for j in self._running if not j.future.done())]
            return any(job.priority < priority for job in jobs)

    @property
    def queue_depth(self) -> int:
        with self._lock:
            return len(self._pending)

    @property
    def busy(self) -> bool:
        """A job is running or waiting. A job whose answer is out counts as done, so a
        client that asks right after its answer does not see "busy"; background work
        (speculation, pre-warming) gives way at once and nobody waits for it: not busy."""
        with self._lock:
            jobs = [job for job in self._running if not job.future.done()] + self._pending
            return any(job.priority < PRIORITY_BACKGROUND for job in jobs)

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
        self._session = session
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
        admit = getattr(session, "admit_thread", None)
        if admit is not None:
            admit()
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
        self._fail(RuntimeError(load_failure_message(self.config, errors)))
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
            job = min(self._pending, key=self._turn)
            self._pending.remove(job)
            self._running.append(job)
        self._notify()
        return job

    def _turn(self, job: Job) -> tuple[int, int, int]:
        """Most urgent first; at equal priority the editor with the least work running
        first (so one editor's burst of jobs cannot hold every worker), then in order."""
        running = sum(1 for other in self._running if other.owner == job.owner)
        return (job.priority, running if job.owner is not None else 0, job.seq)

    def _run(self, session: Session, job: Job) -> None:
        try:
            if not job.future.running() and not job.future.set_running_or_notify_cancel():
                return
            if job.is_cancelled():
                raise Cancelled()
            bind = getattr(session, "bind_job", None)
            if bind is not None:  # a parallel session schedules by priority and editor
                bind(job.priority, job.owner)
            result = job.context.run(job.run, session, job)
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
