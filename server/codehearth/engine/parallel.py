"""The model with several sequences: editors and chats decode side by side.

`ModelSession` decodes one sequence at a time, so two editors typing at once wait for
each other and a chat gives way (and comes back) whenever a keystroke arrives. This
session keeps the same interface (`infill`, `chat`, `prewarm`, GenerationControl
semantics) over one llama.cpp context with `n_seq` sequences in one KV pool
(engine/batch.py): each job's thread builds its prompt (tokenizing reads the vocabulary
only, which llama.cpp allows from any thread, as llama-server's HTTP threads do), hands
it to the decode loop (engine/scheduler.py) and waits. The loop is the only thread that
touches the context. Each slot (an editor's completions, its chat) keeps its own sequence
and prefix (engine/sequences.py) instead of copying KV in and out (engine/slots.py).

`llama_cpp.Llama` is still what loads the model and its vocabulary, with a context of a
few cells that is never decoded in; the real context is made here with `n_seq_max`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import llama_cpp

from .api import Capabilities, InfillRequest
from .batch import MultiContext, kv_bytes_per_token
from .control import GenerationControl
from .infill import build_prompt
from .jobs import PRIORITY_COMPLETION
from .scheduler import DecodeLoop, SeqRequest
from .sequences import SequenceInfo, SequenceTable
from .session import ModelSession
from .types import EngineConfig, GenerationParams, GenerationStats

# The context llama_cpp.Llama makes for itself (never decoded in): as small as it takes.
_VOCAB_CONTEXT = 64


class ParallelSession(ModelSession):
    """engine.api.Session over one context with several sequences decoded together."""

    capabilities = Capabilities(token_prompts=True, concurrent=True)

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        llm = self._llm
        # Every sequence gets the window the user configured (capped at what the model
        # was trained on), so a completion or a chat sees the same context as in-process:
        # the context holds n_seq such windows, as Ollama sizes num_ctx x NUM_PARALLEL
        # (llama-server's -c is split by -np instead, which would leave a quarter).
        window = config.n_ctx
        if self.n_ctx_train > 0:
            window = min(window, self.n_ctx_train)
        try:
            self.mctx = MultiContext(
                llm.model,
                n_ctx=window * config.n_seq,
                n_seq=config.n_seq,
                n_batch=config.n_batch,
                n_threads=self.threads,
            )
        except Exception:
            # The engine retries with fewer GPU layers: this copy of the model must go.
            llm.close()
            raise
        # A sequence's window: its share of the context's cells (llama.cpp may pad it).
        allocated = self.mctx.n_ctx_seq
        trained = self.n_ctx_train
        self.n_ctx = min(allocated, trained) if trained > 0 else allocated
        self.table = SequenceTable(config.n_seq, self.mctx.remove, kv_bytes_per_token(llm.model))
        self.loop = DecodeLoop(
            self.mctx,
            self.table,
            vocab=self.vocab.ptr,
            detokenize=lambda token, prev: llm.detokenize([token], prev_tokens=prev),
            is_eog=self.vocab.is_eog,
            # On the CPU a decode costs per token: urgent work gets the whole step.
            hold_lower_priorities=config.n_gpu_layers == 0,
        )
        self._job = threading.local()
        self.loop.start()
        self._threads.add(self.loop.thread.ident or 0)

    def _create_llama(self, config: EngineConfig) -> llama_cpp.Llama:
        return llama_cpp.Llama(
            model_path=config.model_path,
            n_ctx=_VOCAB_CONTEXT,
            n_batch=_VOCAB_CONTEXT,
            n_gpu_layers=config.n_gpu_layers,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            verbose=False,
        )

    # -- the engine tells each job's thread whose job it runs -------------------
    def bind_job(self, priority: int, owner: str | None) -> None:
        self._job.priority, self._job.owner = priority, owner

    def _job_facts(self) -> tuple[int, str | None]:
        return getattr(self._job, "priority", PRIORITY_COMPLETION), getattr(
            self._job, "owner", None
        )

    # -- engine.api.Session -----------------------------------------------------
    def prewarm(
        self, request: InfillRequest, control: GenerationControl, slot: str | None = None
    ) -> int:
        self.check_thread()
        tokens, _ = build_prompt(self, request)
        if not tokens or len(tokens) >= self.n_ctx - 1:
            return 0
        done = self._run(tokens, GenerationParams(max_tokens=1), control, 0, slot=slot)
        return done.evaluated

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
        """As ModelSession.generate, on this slot's sequence, beside the others."""
        self.check_thread()
        stats = GenerationStats(prompt_tokens=len(tokens))
        if not tokens:
            stats.stop_reason = "length"
            return "", stats
        room = self.n_ctx - len(tokens)
        if room <= 1:
            stats.stop_reason = "context"
            return "", stats
        max_new = min(params.max_tokens, room - 1)
        done = self._run(
            tokens, params, control, max_new, slot=slot, stops=stop_token_ids, grammar=grammar
        )
        if self.on_stats is not None:
            self.on_stats(done.stats)
        return done.text, done.stats

    def _run(
        self,
        tokens: list[int],
        params: GenerationParams,
        control: GenerationControl,
        max_new: int,
        *,
        slot: str | None,
        stops: frozenset[int] = frozenset(),
        grammar: Any = None,
    ) -> SeqRequest:
        priority, owner = self._job_facts()
        request = SeqRequest(
            tokens=list(tokens),
            params=params,
            control=control,
            max_new=max_new,
            stop_ids=stops,
            grammar=grammar,
            slot=slot,
            owner=owner,
            priority=priority,
        )
        request.stats.prompt_tokens = len(tokens)
        return self.loop.run(request)

    # -- what `ps` shows and what an editor leaving frees -----------------------
    def sequences(self) -> list[SequenceInfo]:
        return self.table.snapshot()

    def forget_owner(self, owner: str) -> None:
        """An editor went away: its idle sequences' KV is freed (on the loop's thread)."""

        def forget() -> None:
            for seq in self.table.seqs:
                if seq.owner == owner and seq.slot is not None:
                    self.table.drop_slot(seq.slot)

        self.loop.call(forget)

    def close(self) -> None:
        self.loop.stop()
        self.mctx.close()
        super().close()


def session_for(config: EngineConfig) -> Callable[[EngineConfig], ModelSession]:
    """The local session kind a configuration asks for."""
    return ParallelSession if config.n_seq > 1 else ModelSession
