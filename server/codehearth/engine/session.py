"""The loaded model, used only from the engine's worker thread.

llama.cpp contexts are not thread-safe, so every method checks that it runs on
the thread that loaded the model. Prompt evaluation is done here in chunks, not
inside llama-cpp-python's generate(), so that a superseded request stops between
chunks of a long prompt as well as between generated tokens.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import llama_cpp

from ..context.tokens import CachedTokenCounter
from .api import Capabilities, ChatPrompt, InfillMode, InfillRequest, SessionInfo
from .control import ControlState, GenerationControl
from .grammar import grammar_for_schema
from .infill import build_prompt, stop_token_ids
from .slots import KvSlots
from .textstream import TextStream
from .types import EngineConfig, GenerationParams, GenerationStats, StopReason
from .vocab import Vocab

if TYPE_CHECKING:
    from .fim import FimTemplate

# Prompt evaluation chunk: small enough that cancellation is prompt, large
# enough that batching keeps its throughput.
EVAL_CHUNK = 128


_CONTROL_STOPS: dict[ControlState, StopReason] = {
    ControlState.CANCELLED: "cancelled",
    ControlState.PREEMPTED: "preempted",
    ControlState.FINISHED: "stop",
    ControlState.RUNNING: "cancelled",
}


class WrongThread(RuntimeError):
    """The llama.cpp context was touched from a thread other than its worker."""


class Cancelled(Exception):
    """The request was cancelled or superseded while it ran."""


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class ModelSession:
    """One resident llama.cpp model and its KV cache (implements engine.api.Session and
    engine.api.TokenLevel)."""

    capabilities = Capabilities(token_prompts=True)

    def __init__(self, config: EngineConfig) -> None:
        # The threads that may touch the model: the one loading it, and any the engine
        # admits (engine/parallel.py: job threads that only tokenize, and its decode loop).
        self._threads = {threading.get_ident()}
        self.config = config
        self.threads = config.n_threads or max(1, os.cpu_count() or 1)
        self._llm: llama_cpp.Llama = self._create_llama(config)
        self.vocab = Vocab(self._llm)
        # The context builder asks per line, per keystroke: one bounded memo serves it
        # and the assist commands alike.
        self.count_tokens = CachedTokenCounter(self._count_uncached)
        self.on_stats: Callable[[GenerationStats], None] | None = None
        self.fim: FimTemplate | None = self._detect_fim()
        self._infill_stop_ids: frozenset[int] | None = None
        self.slots = KvSlots()
        self.n_ctx_train = int(llama_cpp.llama_model_n_ctx_train(self._llm.model))
        # The usable context: what was allocated, but never more than the model was
        # trained on (beyond that, llama.cpp runs but the output turns to noise).
        allocated = self._llm.n_ctx()
        trained = self.n_ctx_train
        self.n_ctx = min(allocated, trained) if trained > 0 else allocated

    def _create_llama(self, config: EngineConfig) -> llama_cpp.Llama:
        return llama_cpp.Llama(
            model_path=config.model_path,
            n_ctx=config.n_ctx,
            n_gpu_layers=config.n_gpu_layers,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            n_batch=config.n_batch,
            verbose=False,
        )

    def _detect_fim(self) -> FimTemplate | None:
        from .fim import parse_template_override

        if self.config.fim:
            return parse_template_override(self.config.fim)
        return self.vocab.detect_fim()

    # -- thread guard -------------------------------------------------------
    def check_thread(self) -> None:
        if threading.get_ident() not in self._threads:
            raise WrongThread("the llama.cpp context may only be used by its worker thread")

    def admit_thread(self) -> None:
        """Let the calling thread (an engine worker) use this session."""
        self._threads.add(threading.get_ident())

    @property
    def llm(self) -> llama_cpp.Llama:
        """The llama.cpp model and context; every access asserts the owning thread, so no
        code path can reach it from the event loop or another thread by mistake."""
        self.check_thread()
        return self._llm

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.llm.metadata)

    # -- tokens -------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]:
        self.check_thread()
        data = text.encode("utf-8", errors="replace")
        return self.llm.tokenize(data, add_bos=add_bos, special=special)

    def _count_uncached(self, text: str) -> int:
        return len(self.tokenize(text))

    def add_bos(self) -> bool:
        self.check_thread()
        return self.vocab.add_bos()

    def token_text(self, token: int) -> str:
        self.check_thread()
        return self.vocab.text(token)

    def bos_token(self) -> int | None:
        self.check_thread()
        return self.vocab.bos()

    def eos_token(self) -> int | None:
        self.check_thread()
        return self.vocab.eos()

    def control_token_texts(self) -> frozenset[str]:
        self.check_thread()
        return self.vocab.control_texts()

    def describe(self) -> SessionInfo:
        from .facts import model_facts

        return SessionInfo(
            n_ctx=self.n_ctx,
            fim=self.fim.family if self.fim else None,
            **model_facts(self.metadata),
        )

    # -- the feature-level interface (engine.api.Session) -------------------
    @property
    def infill_mode(self) -> InfillMode:
        return "fim" if self.fim is not None else "prefix"

    def infill(
        self,
        request: InfillRequest,
        params: GenerationParams,
        control: GenerationControl,
        slot: str | None = None,
    ) -> tuple[str, GenerationStats]:
        """A completion at the cursor: FIM tokens where the model has them."""
        if self._infill_stop_ids is None:
            self._infill_stop_ids = stop_token_ids(self)
        tokens, _ = build_prompt(self, request)
        stops = self._infill_stop_ids
        return self.generate(tokens, params, control, stop_token_ids=stops, slot=slot)

    def prewarm(
        self, request: InfillRequest, control: GenerationControl, slot: str | None = None
    ) -> int:
        """Evaluate an infill prompt into the KV cache without generating (llama.cpp's
        `n_predict: 0`), so the next completion that shares its start pays only for the
        rest. Returns the tokens evaluated (0 when cached already or stopped)."""
        self.check_thread()
        tokens, _ = build_prompt(self, request)
        if not tokens or len(tokens) >= self.n_ctx - 1:
            return 0
        if slot is not None:
            self.slots.switch(self.llm, slot)
        reused = self._feed_prompt(tokens, control)
        return 0 if reused is None else len(tokens) - reused

    def chat(
        self,
        prompt: ChatPrompt,
        params: GenerationParams,
        control: GenerationControl,
        *,
        continuation: str = "",
        json_schema: dict | None = None,
        slot: str | None = None,
    ) -> tuple[str, GenerationStats]:
        """Generate the assistant's reply; `continuation` is reply text already produced
        (after a pre-emption), fed back as tokens so the reply goes on where it stopped."""
        tokens = prompt.tokens + (self.tokenize(continuation) if continuation else [])
        grammar = grammar_for_schema(self, json_schema) if json_schema is not None else None
        return self.generate(
            tokens, params, control, stop_token_ids=prompt.stop_ids, grammar=grammar, slot=slot
        )

    # -- generation ---------------------------------------------------------
    def _feed_prompt(self, tokens: list[int], control: GenerationControl) -> int | None:
        """Evaluate what the KV cache lacks; returns how many tokens were reused, or None
        when the control stopped it between chunks."""
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens]
        reuse = common_prefix_length(cached, tokens)
        if reuse == len(tokens):
            # Everything is cached, but the logits of the last prompt token must be
            # current: replay that one token.
            reuse -= 1
        if reuse <= 0:
            llm.reset()
            reuse = 0
        else:
            llm.n_tokens = reuse
        for start in range(reuse, len(tokens), EVAL_CHUNK):
            if control.stop_before_prompt_chunk():
                # What was evaluated stays valid: the next prompt reuses it.
                return None
            llm.eval(tokens[start : start + EVAL_CHUNK])
        return reuse

    def generate(
        self,
        tokens: list[int],
        params: GenerationParams,
        control: GenerationControl,
        *,
        stop_token_ids: frozenset[int] = frozenset(),
        grammar: llama_cpp.LlamaGrammar | None = None,
        slot: str | None = None,
    ) -> tuple[str, GenerationStats]:
        """Generate from a prompt, reusing the KV cache's common prefix.

        `slot` names whose cache this is (an editor's completions, its chat): switching
        slots saves the live cache and restores the slot's own (engine/slots.py). A stop
        the control asked for ends with stop_reason "cancelled" or "preempted" (and
        control.state saying the same) and the text so far.
        """
        self.check_thread()
        stats = GenerationStats(prompt_tokens=len(tokens))
        if not tokens:
            # Nothing to condition on (an empty file, a model without BOS): no suggestion.
            stats.stop_reason = "length"
            return "", stats
        room = self.n_ctx - len(tokens)
        if room <= 1:
            stats.stop_reason = "context"
            return "", stats
        started = time.perf_counter()
        if slot is not None:
            self.slots.switch(self.llm, slot)
        reused = self._feed_prompt(tokens, control)
        prompt_done = time.perf_counter()
        stats.prompt_ms = (prompt_done - started) * 1000
        text = ""
        if reused is None:
            stats.stop_reason = _CONTROL_STOPS[control.state]
        else:
            stats.reused_tokens = reused
            stats.evaluated_tokens = len(tokens) - reused
            max_new = min(params.max_tokens, room - 1)
            text = self._sample(tokens, params, control, stop_token_ids, grammar, max_new, stats)
        stats.generate_ms = (time.perf_counter() - prompt_done) * 1000
        stats.total_ms = (time.perf_counter() - started) * 1000
        if self.on_stats is not None:
            self.on_stats(stats)
        return text, stats

    def _sample(
        self,
        tokens: list[int],
        params: GenerationParams,
        control: GenerationControl,
        stop_token_ids: frozenset[int],
        grammar: llama_cpp.LlamaGrammar | None,
        max_new: int,
        stats: GenerationStats,
    ) -> str:
        """Token by token until a stop; sets stats.stop_reason and generated_tokens."""
        stream = TextStream(params.stop, params.stop_at_newline)
        out: list[int] = []
        gen = self.llm.generate(
            tokens,
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=0.0,
            temp=params.temperature,
            repeat_penalty=params.repeat_penalty,
            grammar=grammar,
        )
        try:
            for token in gen:
                if control.stop_before_token():
                    stats.stop_reason = _CONTROL_STOPS[control.state]
                    break
                if token in stop_token_ids or self.vocab.is_eog(token):
                    stats.stop_reason = "eog"
                    break
                piece = self.llm.detokenize([token], prev_tokens=tokens + out)
                out.append(token)
                delta, reason = stream.push(piece)
                control.emit(delta)
                if reason is not None:
                    stats.stop_reason = reason
                    break
                if control.is_finished(delta, stream.text):
                    stats.stop_reason = "stop"
                    break
                if len(out) >= max_new:
                    stats.stop_reason = "length"
                    break
        finally:
            gen.close()
        stats.generated_tokens = len(out)
        return stream.text

    def close(self) -> None:
        self.check_thread()
        self._llm.close()
