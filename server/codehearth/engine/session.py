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

from ..context.tokens import CachedTokenCounter
from .slots import KvSlots
from .types import EngineConfig, GenerationParams, GenerationStats

if TYPE_CHECKING:
    import llama_cpp

    from .fim import FimTemplate

# Prompt evaluation chunk: small enough that cancellation is prompt, large
# enough that batching keeps its throughput.
EVAL_CHUNK = 128


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
    """One resident llama.cpp model and its KV cache."""

    def __init__(self, config: EngineConfig) -> None:
        import llama_cpp

        self._owner = threading.get_ident()
        self.config = config
        threads = config.n_threads or max(1, os.cpu_count() or 1)
        self._llm: llama_cpp.Llama = llama_cpp.Llama(
            model_path=config.model_path,
            n_ctx=config.n_ctx,
            n_gpu_layers=config.n_gpu_layers,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=config.n_batch,
            verbose=False,
        )
        self._vocab = self._llm._model.vocab
        # The context builder asks per line, per keystroke: one bounded memo serves it
        # and the assist commands alike.
        self.count_tokens = CachedTokenCounter(self._count_uncached)
        self.on_stats: Callable[[GenerationStats], None] | None = None
        self.fim: FimTemplate | None = self._detect_fim()
        self.slots = KvSlots()
        self.n_ctx_train = int(self._llm._model.n_ctx_train())
        # The usable context: what was allocated, but never more than the model was
        # trained on (beyond that, llama.cpp runs but the output turns to noise).
        allocated = self._llm.n_ctx()
        trained = self.n_ctx_train
        self.n_ctx = min(allocated, trained) if trained > 0 else allocated

    def _detect_fim(self) -> FimTemplate | None:
        from .fim import detect_fim_from_llama, parse_template_override

        if self.config.fim:
            return parse_template_override(self.config.fim)
        return detect_fim_from_llama(self.llm)

    # -- thread guard -------------------------------------------------------
    def check_thread(self) -> None:
        if threading.get_ident() != self._owner:
            raise WrongThread("the llama.cpp context may only be used by its worker thread")

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
        return bool(self.llm._model.add_bos_token())

    # -- generation ---------------------------------------------------------
    def _feed_prompt(self, tokens: list[int], cancelled: Callable[[], bool]) -> int:
        """Evaluate what the KV cache lacks; returns how many tokens were reused."""
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
            if cancelled():
                raise Cancelled()
            llm.eval(tokens[start : start + EVAL_CHUNK])
        return reuse

    def generate(
        self,
        tokens: list[int],
        params: GenerationParams,
        cancelled: Callable[[], bool],
        on_text: Callable[[str], None] | None = None,
        stop_token_ids: frozenset[int] = frozenset(),
        preempt: Callable[[], bool] | None = None,
        grammar: llama_cpp.LlamaGrammar | None = None,
        should_stop: Callable[[str], bool] | None = None,
        slot: str | None = None,
    ) -> tuple[str, GenerationStats]:
        """Generate from a prompt, reusing the KV cache's common prefix.

        `slot` names whose cache this is (an editor's completions, its chat): switching
        slots saves the live cache and restores the slot's own (engine/slots.py).

        `preempt` is polled between tokens: when it says yes, generation stops with
        stop_reason "preempted" and the text so far, so the caller can continue later.
        """
        import llama_cpp

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
        max_new = min(params.max_tokens, room - 1)
        started = time.perf_counter()
        if slot is not None:
            self.slots.switch(self.llm, slot)
        stats.reused_tokens = self._feed_prompt(tokens, cancelled)
        stats.evaluated_tokens = len(tokens) - stats.reused_tokens
        prompt_done = time.perf_counter()
        stats.prompt_ms = (prompt_done - started) * 1000
        stream = _TextStream(params.stop, params.stop_at_newline)
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
                if cancelled():
                    stats.stop_reason = "cancelled"
                    break
                if preempt is not None and preempt():
                    stats.stop_reason = "preempted"
                    break
                if token in stop_token_ids or llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    stats.stop_reason = "eog"
                    break
                piece = self.llm.detokenize([token], prev_tokens=tokens + out)
                out.append(token)
                delta, reason = stream.push(piece)
                if delta and on_text is not None:
                    on_text(delta)
                if reason is not None:
                    stats.stop_reason = reason
                    break
                if should_stop is not None and delta and should_stop(stream.text):
                    stats.stop_reason = "stop"
                    break
                if len(out) >= max_new:
                    stats.stop_reason = "length"
                    break
        finally:
            gen.close()
        stats.generated_tokens = len(out)
        stats.generate_ms = (time.perf_counter() - prompt_done) * 1000
        stats.total_ms = (time.perf_counter() - started) * 1000
        if self.on_stats is not None:
            self.on_stats(stats)
        return stream.text, stats

    def close(self) -> None:
        self.check_thread()
        self._llm.close()


class _TextStream:
    """Decodes UTF-8 pieces and applies stop strings without emitting past them."""

    def __init__(self, stop: list[str], stop_at_newline: bool) -> None:
        self._bytes = b""
        self._emitted = 0
        self._stops = [s for s in stop if s]
        self._newline = stop_at_newline
        self.text = ""

    def push(self, piece: bytes) -> tuple[str, str | None]:
        self._bytes += piece
        text = self._bytes.decode("utf-8", errors="ignore")
        reason: str | None = None
        cut = len(text)
        for stop in self._stops:
            idx = text.find(stop)
            if idx != -1 and idx < cut:
                cut, reason = idx, "stop"
        if self._newline:
            idx = text.find("\n")
            if idx != -1 and idx <= cut:
                cut, reason = idx, "newline"
        text = text[:cut]
        # Hold back a tail that could be the start of a stop string.
        hold = 0 if reason else max((len(s) - 1 for s in self._stops), default=0)
        safe = max(self._emitted, len(text) - hold)
        delta = text[self._emitted : safe]
        self._emitted = safe
        self.text = text
        return delta, reason
