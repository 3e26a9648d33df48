"""The decode loop: every active generation advances in one llama_decode per step.

llama.cpp's server decodes its slots together (continuous batching): each step's batch
holds the next token of every sequence that is generating and a chunk of the prompt of
every sequence still reading one. Here the jobs' threads hand their requests to this loop
and wait; the loop owns the context and, per step:

* asks each request's GenerationControl whether to go on (cancelled, superseded,
  pre-empted: the same named states as the one-sequence engine);
* takes the most urgent priority present (completions before chats before background
  work); on the CPU, where a decode costs in proportion to its tokens, lower priorities
  wait in their sequence (KV kept, nothing recomputed) until it is done, so a chat never
  slows a keystroke; on a GPU, where a bigger batch is nearly free, all priorities share it;
* gives every generating request one token and every prompt one chunk, the requests of
  equal priority in turn (the least recently served first), so one editor's long prompt
  cannot starve another's;
* samples each sequence with its own chain and streams its text.

A request's tokens go into the batch at the same chunk boundaries as they would alone,
and each token's logits depend only on its own sequence, so greedy output is the same
token for token as the request decoded by itself (tests/test_engine_parallel.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .batch import KvFull, MultiContext, TokenBatch
from .control import ControlState, GenerationControl
from .sampling import SequenceSampler
from .sequences import SeqState, SequenceTable, common_prefix_length
from .textstream import TextStream
from .types import GenerationParams, GenerationStats, StopReason

log = logging.getLogger(__name__)

# Prompt tokens one sequence evaluates per step (as engine/session.py's EVAL_CHUNK).
PROMPT_CHUNK = 128

CONTROL_STOPS: dict[ControlState, StopReason] = {
    ControlState.CANCELLED: "cancelled",
    ControlState.PREEMPTED: "preempted",
    ControlState.FINISHED: "stop",
    ControlState.RUNNING: "cancelled",
}


@dataclass
class SeqRequest:
    """One generation (or, with max_new 0, one prompt pre-evaluation) on a sequence."""

    tokens: list[int]
    params: GenerationParams
    control: GenerationControl
    max_new: int
    stop_ids: frozenset[int] = frozenset()
    grammar: Any = None
    slot: str | None = None
    owner: str | None = None
    priority: int = 0
    stats: GenerationStats = field(default_factory=GenerationStats)
    # Progress, kept by the loop.
    seq: SeqState | None = None
    next_pos: int = 0
    reused: int | None = None
    pending: int | None = None
    out: list[int] = field(default_factory=list)
    stream: TextStream | None = None
    sampler: SequenceSampler | None = None
    text: str = ""
    served: int = -1
    submitted: float = field(default_factory=time.perf_counter)
    prompt_done: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    @property
    def in_prompt(self) -> bool:
        return self.next_pos < len(self.tokens)

    @property
    def evaluated(self) -> int:
        """Prompt tokens this request evaluated (0 when it was cached already)."""
        return len(self.tokens) - (self.reused or 0) if self.prompt_done else 0


@dataclass
class _Entry:
    request: SeqRequest
    count: int
    logits_at: int | None
    # A generated token (as opposed to a piece of the prompt).
    token: bool = False


class DecodeLoop:
    """Owns the multi-sequence context on its own thread; requests come from any thread."""

    def __init__(
        self,
        mctx: MultiContext,
        table: SequenceTable,
        *,
        vocab: Any,
        detokenize: Callable[[int, list[int]], bytes],
        is_eog: Callable[[int], bool],
        hold_lower_priorities: bool,
    ) -> None:
        self.mctx = mctx
        self.table = table
        self._vocab = vocab
        self._detokenize = detokenize
        self._is_eog = is_eog
        self.hold_lower = hold_lower_priorities
        self.on_stats: Callable[[GenerationStats], None] | None = None
        self._batch = TokenBatch(mctx.n_batch)
        self._cond = threading.Condition()
        self._incoming: list[SeqRequest] = []
        self._calls: list[Callable[[], None]] = []
        self._active: list[SeqRequest] = []
        self._waiting: list[SeqRequest] = []
        self._stopping = False
        self.steps = 0
        # The most sequences one batch has held (tests check that decoding overlapped).
        self.max_sequences_in_batch = 0
        self.thread = threading.Thread(target=self._run, name="codehearth-decode", daemon=True)

    # -- from other threads ---------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def run(self, request: SeqRequest) -> SeqRequest:
        """Hand a request to the loop and wait until it is done."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the decode loop is stopped")
            self._incoming.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the loop's thread between steps (the sequence table is its)."""
        with self._cond:
            self._calls.append(fn)
            self._cond.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)
        self._batch.close()

    # -- the loop -------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._incoming or self._calls or self._active) and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    break
                incoming, self._incoming = self._incoming, []
                calls, self._calls = self._calls, []
            try:
                for fn in calls:
                    fn()
                self._admit(self._waiting + incoming)
                self._step()
            except Exception as exc:  # a failed step fails its requests, not the engine
                log.exception("decode step failed")
                for request in list(self._active):
                    self._finish(request, None, error=exc)
                    if request.seq is not None:  # what its cache holds is unknown now
                        self.table.evict(request.seq)
        for request in self._active + self._waiting + self._incoming:
            self._finish(request, "cancelled", error=RuntimeError("the engine is shutting down"))

    def _admit(self, requests: list[SeqRequest]) -> None:
        self._waiting = []
        for request in requests:
            seq = self.table.acquire(request.slot, request.owner, request.tokens)
            if seq is None:
                self._waiting.append(request)
                continue
            reuse = common_prefix_length(seq.tokens, request.tokens)
            if reuse == len(request.tokens) and request.max_new > 0:
                reuse -= 1  # its logits must be current: evaluate the last token again
            self.table.truncate(seq, reuse)
            seq.state = "prompt"
            request.seq, request.next_pos, request.reused = seq, reuse, reuse
            request.stream = TextStream(request.params.stop, request.params.stop_at_newline)
            if not request.in_prompt:  # a pre-evaluation of a prompt that is all cached
                request.prompt_done = time.perf_counter()
                self._finish(request, "length")
                continue
            if request.max_new > 0:
                try:
                    request.sampler = SequenceSampler(self._vocab, request.params, request.grammar)
                except Exception as exc:  # this request fails, not the loop
                    self._finish(request, None, error=exc)
                    continue
            self._active.append(request)

    def _step(self) -> None:
        self._check_controls()
        if not self._active:
            return
        entries = self._plan()
        if not entries:
            return
        try:
            self.mctx.decode(self._batch)
        except KvFull:
            # A sequence outgrew its cells (requests are sized to fit, so this is rare):
            # the longest one stops there, the others go on at the next step.
            self._undo(entries)
            victim = max(self._active, key=lambda r: len(r.seq.tokens) if r.seq else 0)
            self._finish(victim, "context")
            return
        self.steps += 1
        sequences = {entry.request.seq.seq_id for entry in entries if entry.request.seq}
        self.max_sequences_in_batch = max(self.max_sequences_in_batch, len(sequences))
        for entry in entries:
            self._after_decode(entry)

    def _check_controls(self) -> None:
        """Each request's control decides whether it goes on (between chunks or tokens)."""
        for request in list(self._active):
            control = request.control
            stop = (
                control.stop_before_prompt_chunk()
                if request.in_prompt
                else control.stop_before_token()
            )
            if stop:
                self._finish(request, CONTROL_STOPS[control.state])

    def _plan(self) -> list[_Entry]:
        """This step's batch: one token per generating request, one chunk per prompt."""
        batch = self._batch
        batch.clear()
        top = min(r.priority for r in self._active)
        eligible = [r for r in self._active if not self.hold_lower or r.priority == top]
        for request in self._active:
            if request.seq is not None:
                held = request not in eligible
                request.seq.state = (
                    "held" if held else ("prompt" if request.in_prompt else "generating")
                )
        order = sorted(eligible, key=lambda r: (r.priority, r.served, r.submitted))
        room = batch.capacity
        planned: list[tuple[SeqRequest, int]] = []  # (request, prompt tokens; 0: a token)
        for request in order:
            if request.pending is not None and room:
                planned.append((request, 0))
                room -= 1
        for request in order:
            if request.in_prompt and room:
                count = self._chunk_size(request, room)
                planned.append((request, count))
                room -= count
        # llama.cpp cuts a batch over per-sequence KV streams into ubatches of ascending,
        # consecutive sequence ids (split_equal): in that order the sequences share one.
        planned.sort(key=lambda item: item[0].seq.seq_id if item[0].seq else 0)
        entries = [
            self._add_token(request) if count == 0 else self._add_chunk(request, count)
            for request, count in planned
        ]
        for entry in entries:
            entry.request.served = self.steps
        return entries

    def _add_token(self, request: SeqRequest) -> _Entry:
        seq = request.seq
        assert seq is not None and request.pending is not None
        index = self._batch.add(request.pending, len(seq.tokens), seq.seq_id, True)
        seq.tokens.append(request.pending)
        request.pending = None
        return _Entry(request, 1, index, token=True)

    @staticmethod
    def _chunk_size(request: SeqRequest, room: int) -> int:
        """The chunk ends where it would alone (a multiple of PROMPT_CHUNK from the reuse
        point), only cut shorter by what is left of this step's batch."""
        start = request.next_pos
        offset = (start - (request.reused or 0)) % PROMPT_CHUNK
        return min(PROMPT_CHUNK - offset, len(request.tokens) - start, room)

    def _add_chunk(self, request: SeqRequest, count: int) -> _Entry:
        seq = request.seq
        assert seq is not None
        start = request.next_pos
        last = start + count == len(request.tokens)
        logits_at = None
        for pos in range(start, start + count):
            wants = last and pos == start + count - 1
            index = self._batch.add(request.tokens[pos], pos, seq.seq_id, wants)
            logits_at = index if wants else logits_at
        seq.tokens.extend(request.tokens[start : start + count])
        return _Entry(request, count, logits_at)

    def _undo(self, entries: list[_Entry]) -> None:
        """The batch did not fit: its tokens are not in the cache after all."""
        for entry in reversed(entries):
            request, seq = entry.request, entry.request.seq
            assert seq is not None
            if entry.token:
                request.pending = seq.tokens[-1]
            self.table.truncate(seq, len(seq.tokens) - entry.count)

    def _after_decode(self, entry: _Entry) -> None:
        request = entry.request
        if request.in_prompt:
            request.next_pos += entry.count
            if request.in_prompt:
                return
            request.prompt_done = time.perf_counter()
            if request.max_new <= 0:
                self._finish(request, "length")
                return
        if entry.logits_at is not None:
            self._take_token(request, entry.logits_at)

    def _take_token(self, request: SeqRequest, index: int) -> None:
        """Sample, then stop or keep the token (the order of the one-sequence engine)."""
        assert request.sampler is not None and request.stream is not None
        token = request.sampler.sample(self.mctx.ctx, index)
        control = request.control
        if control.stop_before_token():
            self._finish(request, CONTROL_STOPS[control.state])
            return
        if token in request.stop_ids or self._is_eog(token):
            self._finish(request, "eog")
            return
        piece = self._detokenize(token, request.tokens + request.out)
        request.out.append(token)
        delta, reason = request.stream.push(piece)
        control.emit(delta)
        if reason is not None:
            self._finish(request, reason)  # type: ignore[arg-type]
        elif control.is_finished(delta, request.stream.text):
            self._finish(request, "stop")
        elif len(request.out) >= request.max_new:
            self._finish(request, "length")
        else:
            request.pending = token

    def _finish(
        self, request: SeqRequest, reason: StopReason | None, error: BaseException | None = None
    ) -> None:
        if request in self._active:
            self._active.remove(request)
        if request.seq is not None:
            self.table.release(request.seq)
        if request.sampler is not None:
            request.sampler.close()
            request.sampler = None
        now = time.perf_counter()
        stats = request.stats
        stats.stop_reason = reason
        if request.prompt_done is not None:
            stats.reused_tokens = request.reused or 0
            stats.evaluated_tokens = request.evaluated
            stats.prompt_ms = (request.prompt_done - request.submitted) * 1000
            stats.generate_ms = (now - request.prompt_done) * 1000
        else:
            stats.prompt_ms = (now - request.submitted) * 1000
        stats.generated_tokens = len(request.out)
        stats.total_ms = (now - request.submitted) * 1000
        request.text = request.stream.text if request.stream is not None else ""
        request.error = error
        request.done.set()
