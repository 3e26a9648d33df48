"""The completion service: what an inlineCompletion request does, minus the LSP.

The model is asked only when nothing it already said answers the keystroke. In order:

1. the suggestion cache (cache.py): the same spot again, or characters typed that begin a
   suggestion shown a few characters back: the rest of it, at once, no queueing;
2. gating: an automatic request with more than `max_line_suffix` non-blank characters
   after the cursor gets nothing (an explicit one goes on);
3. the generation in flight for the document (inflight.py): when what was typed since it
   started begins the text it has produced, wait for it and answer with its rest;
4. a new generation (generate.py), keyed by the document so the next keystroke supersedes
   it; once it answers and the engine is idle, a speculative generation for "this
   suggestion accepted" runs at background priority (speculate.py).

Every generation's answer lands in the cache when it ends, whether anyone still waits
for it or not.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from ..config import CompletionSettings
from ..context.documents import DocumentSnapshot
from ..context.project import ProjectContext
from ..engine.api import Session
from ..engine.session import Cancelled
from ..engine.worker import (
    PRIORITY_BACKGROUND,
    PRIORITY_COMPLETION,
    Engine,
    EngineBusy,
    EngineUnavailable,
    Job,
)
from ..models.manifest import Sampling
from .cache import CursorState, Hit, SuggestionCache
from .generate import CompletionResult, context_budget, run_generation
from .inflight import Flight
from .prewarm import attach_prewarmer
from .speculate import speculation_target
from .target import Target

__all__ = ["CompletionResult", "CompletionService", "context_budget"]

log = logging.getLogger(__name__)
_sequence = itertools.count(1)
# Speculation starts this long after an answer when no other request came meanwhile: a
# keystroke right after the answer would stop it at once (and waste its first tokens).
SPECULATION_DELAY_S = 0.08
# How long a keystroke riding a running generation waits before it takes the text so far.
RIDE_WAIT_S = 0.06
# Requests closer together than this come from someone typing fast: a fresh generation
# then answers early (earlyAnswerMs) with the words it has, not after the next key.
TYPING_GAP_S = 0.4
_PENDING = object()


@dataclass
class CompletionService:
    engine: Engine
    sampling: Sampling
    settings: CompletionSettings = field(default_factory=CompletionSettings)
    # The editor connection whose work this is (the shared engine serves several).
    owner: str | None = None
    # Cross-file context (other workspace files in the prompt, idle pre-warming).
    project: ProjectContext | None = None
    # Request-to-answer time of the last answer the model generated (status item).
    last_latency_ms: float | None = None
    cache: SuggestionCache = field(init=False)
    _flights: dict[str, Flight] = field(default_factory=dict, init=False)
    # The newest request per document: an older one never starts work for it.
    _latest: dict[str, int] = field(default_factory=dict, init=False)
    _first_done: bool = field(default=False, init=False)
    # When each document last asked (is the user typing fast?).
    _asked_at: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.cache = SuggestionCache(self.settings.cache_size, self.settings.look_back)
        self.prewarmer = attach_prewarmer(self)

    async def complete(
        self,
        snap: DocumentSnapshot,
        line: int,
        character: int,
        *,
        automatic: bool = False,
        target: Target | None = None,
    ) -> CompletionResult:
        """Complete at a position (or at `target`, the document with an edit taken as
        typed); a superseded request resolves to an empty result. `automatic`: the editor
        asked on its own (typing), not the user (an explicit trigger is never gated)."""
        started = time.perf_counter()
        target = target or Target.at(snap, line, character)
        key = f"{self.owner}|{snap.uri}" if self.owner else snap.uri
        seq = self._latest[key] = next(_sequence)
        typing_fast = started - self._asked_at.get(key, float("-inf")) < TYPING_GAP_S
        self._asked_at[key] = started
        state = target.state
        # "Nothing to suggest here" is known too, but an explicit request asks again.
        hit = self.cache.lookup(state, empty=automatic)
        if hit is not None:
            if hit.text:
                self._speculate(target, hit.text, key)
            return self._from_cache(hit, state, started)
        if automatic and _gated(state, self.settings.max_line_suffix):
            self.engine.counters.gated += 1
            return CompletionResult(items=[], source="gated")
        flight = self._flights.get(key)
        if flight is not None and self.settings.reuse_in_flight:
            typed = flight.typed_since(state)
            log.debug(
                "generation in flight (%d characters so far, running %s): %s",
                len(flight.partial), flight.running, "reused" if typed is not None else "not",
            )  # fmt: skip
            if typed is not None:
                result = await self._ride(flight, state.typed(typed), started)
                if result is not None and self._latest.get(key) == seq:
                    self._speculate(target, result.items[0], key)
                if result is not None or self._latest.get(key) != seq:
                    return result or CompletionResult(items=[], superseded=True)
        return await self._fresh(target, key, seq, automatic and typing_fast)

    # -- answers without a new generation ------------------------------------------------
    def _from_cache(self, hit: Hit, state: CursorState, started: float) -> CompletionResult:
        counters = self.engine.counters
        counters.served_from_cache += 1
        if hit.source == "speculative":
            counters.speculative_hits += 1
        if hit.typed:
            # Remember the rest here too: the next keystroke finds it at once.
            self.cache.put(state, hit.text, hit.source)
        return CompletionResult(
            items=[hit.text] if hit.text else [],
            source="cache",
            speculative=hit.source == "speculative",
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def _ride(self, flight: Flight, typed: str, started: float) -> CompletionResult | None:
        """The answer of the generation in flight, less what was typed since it started;
        None when it ended without one that fits (then a new generation is due).

        A keystroke that arrives while a generation runs comes from someone typing faster
        than the model: after RIDE_WAIT_S it is answered with the text so far (the
        generation goes on, into the cache, for the keys that follow), so a suggestion is
        on screen before the next key instead of none at all. When the editor already
        shows a part of this flight's text, typing along it is answered at once."""
        result = await self._wait(flight, 0.0 if flight.shown_partial else RIDE_WAIT_S)
        if result is _PENDING:
            so_far = flight.words_so_far()
            if so_far.startswith(typed) and so_far[len(typed) :].strip():
                result = CompletionResult(items=[so_far], multiline=flight.multiline)
                flight.shown_partial = True
            else:
                result = await self._wait(flight)
        if not isinstance(result, CompletionResult) or not result.items:
            return None
        suggestion = result.items[0]
        rest = suggestion[len(typed) :]
        if not suggestion.startswith(typed) or not rest.strip():
            return None
        counters = self.engine.counters
        counters.reused_in_flight += 1
        if flight.speculative:
            counters.speculative_hits += 1
        return result.model_copy(
            update={
                "items": [rest],
                "source": "in-flight",
                "speculative": flight.speculative,
                "latency_ms": (time.perf_counter() - started) * 1000,
            }
        )

    # -- a new generation ----------------------------------------------------------------
    async def _fresh(
        self, target: Target, key: str, seq: int, early: bool = False
    ) -> CompletionResult:
        started = time.perf_counter()
        flight = self._launch(target, key, PRIORITY_COMPLETION, speculative=False)
        early_s = self.settings.early_answer_ms / 1000 if early else 0.0
        result = await self._wait(flight, early_s or None)
        if result is _PENDING:
            partial = self._early(flight, started)
            if partial is not None:
                return partial
            result = await self._wait(flight)
        if result is None:
            return CompletionResult(items=[], superseded=flight.job.superseded)
        self._first_done = True
        self.last_latency_ms = round(result.latency_ms, 1)
        if result.items and self._latest.get(key) == seq:
            self._speculate(target, result.items[0], key)
        return result

    def _early(self, flight: Flight, started: float) -> CompletionResult | None:
        """While the user types, a suggestion on screen before the next key beats a
        longer one after it: the whole words generated so far (a word still being
        generated may end otherwise). The generation goes on into the cache, and the keys
        that type along it are answered from there. None when no whole word is there yet."""
        words = flight.words_so_far()
        if not words.strip():
            return None
        self.engine.counters.early_answers += 1
        flight.shown_partial = True
        return CompletionResult(
            items=[words],
            multiline=flight.multiline,
            source="in-flight",
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _launch(self, target: Target, key: str, priority: int, *, speculative: bool) -> Flight:
        """Submit a generation at `target` and follow it as the document's flight."""
        settings = self.settings
        budget_ms = settings.time_budget_ms if self._first_done else settings.first_time_budget_ms

        def run(session: Session, job: Job) -> CompletionResult:
            return run_generation(
                target,
                session,
                job,
                settings,
                self.sampling,
                budget_ms=budget_ms,
                owner=self.owner,
                on_text=flight.add_text,
                on_context=flight.set_context,
                project=self.project,
            )

        # Keyed per connection: two editors on the same file do not supersede each other.
        job = Job(run=run, key=key, priority=priority, owner=self.owner)
        flight = Flight(target, job, speculative=speculative)
        done = self.engine.submit(job)
        self.engine.counters.model_calls += 1
        done.add_done_callback(lambda f: self._landed(flight, f))
        flight.future = asyncio.wrap_future(done)
        # Nobody may be waiting when it fails (speculation, an orphan): retrieve it.
        flight.future.add_done_callback(_retrieve)
        flight.future.add_done_callback(lambda _: self._forget(key, flight))
        self._flights[key] = flight
        return flight

    def _forget(self, key: str, flight: Flight) -> None:
        """A flight that ended answers no one (its snapshot need not stay alive)."""
        if self._flights.get(key) is flight:
            del self._flights[key]

    def _landed(self, flight: Flight, done: Future) -> None:
        """On the worker thread, as the generation ends: its answer goes to the cache."""
        if done.cancelled() or done.exception() is not None:
            return
        result: CompletionResult = done.result()
        stats = result.stats
        if stats is not None:
            log.debug(
                "%s generation: prompt %d tokens (%d reused), %d generated, %.0f ms%s",
                _source(flight), stats.prompt_tokens, stats.reused_tokens,
                stats.generated_tokens, stats.total_ms,
                " (budget)" if result.budget_stopped else "",
            )  # fmt: skip
        # A generation stopped by its budget may have had more to say: only a complete
        # one says "nothing here".
        if result.items or not result.budget_stopped:
            suggestion = result.items[0] if result.items else ""
            self.cache.put(flight.origin, suggestion, _source(flight))

    async def _wait(self, flight: Flight, timeout: float | None = None):
        """Wait for a flight's answer: the CompletionResult; None when its generation was
        stopped or dropped; _PENDING when `timeout` passed first. Cancelling this wait
        (the editor's $/cancelRequest) leaves the generation to the flight's grace
        (inflight.py); asyncio.wait never cancels the flight's future itself."""
        assert flight.future is not None
        flight.join()
        try:
            await asyncio.wait({flight.future}, timeout=timeout)
        except asyncio.CancelledError:
            flight.leave(self.engine.cancel)
            raise
        flight.waiters -= 1
        future = flight.future
        if not future.done():
            return _PENDING
        if future.cancelled():  # dropped from the queue (superseded, background)
            return None
        error = future.exception()
        if isinstance(error, Cancelled):
            return None
        if error is not None:
            raise error
        return future.result()

    def _speculate(self, target: Target, suggestion: str, key: str) -> None:
        """Soon, if the user is idle: the suggestion for "`suggestion` accepted"."""
        if not self.settings.speculate or self.settings.cache_size <= 0:
            return
        seq = self._latest.get(key)
        loop = asyncio.get_running_loop()
        loop.call_later(SPECULATION_DELAY_S, self._speculate_now, target, suggestion, key, seq)

    def _speculate_now(self, target: Target, suggestion: str, key: str, seq: int | None) -> None:
        if self._latest.get(key) != seq:
            return  # the user went on: the next answer speculates for itself
        spec = speculation_target(target, suggestion, self.cache, self.engine)
        flight = self._flights.get(key)
        if spec is None or (flight is not None and flight.running_at(spec.state)):
            return
        try:
            self._launch(spec, key, PRIORITY_BACKGROUND, speculative=True)
        except (EngineBusy, EngineUnavailable):
            return  # nobody waits for it: no error to report
        self.engine.counters.speculations += 1


def _source(flight: Flight):
    return "speculative" if flight.speculative else "model"


def _retrieve(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def _gated(state: CursorState, max_line_suffix: int) -> bool:
    """More than `max_line_suffix` non-blank characters follow the cursor on its line."""
    text, offset = state.text, state.offset
    end = len(text)
    for brk in ("\n", "\r"):
        found = text.find(brk, offset, end)
        if found != -1:
            end = found
    rest = text[offset:end]
    return len(rest) - rest.count(" ") - rest.count("\t") > max_line_suffix
