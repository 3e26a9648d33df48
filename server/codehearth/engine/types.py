"""Payloads of the engine: what a generation asks for and what it reports."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..models.manifest import Sampling


class GenerationParams(Sampling):
    """The manifest's sampling knobs, plus what only a single request decides."""

    stop_at_newline: bool = False


StopReason = Literal["length", "eog", "stop", "newline", "cancelled", "context", "preempted"]


class GenerationStats(BaseModel):
    """What one generation cost: the numbers behind 'is KV reuse working'."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    evaluated_tokens: int = 0
    generated_tokens: int = 0
    queue_ms: float = 0.0
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0
    stop_reason: StopReason | None = None

    @property
    def reuse_fraction(self) -> float:
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def tokens_per_second(self) -> float:
        if self.generate_ms <= 0:
            return 0.0
        return self.generated_tokens / (self.generate_ms / 1000.0)


class EngineCounters(BaseModel):
    """Totals since the engine started."""

    requests: int = 0
    completed: int = 0
    cancelled: int = 0
    superseded: int = 0
    preempted: int = 0
    # Background jobs (speculation, pre-warming) dropped because real work arrived.
    background_dropped: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    evaluated_tokens: int = 0
    generated_tokens: int = 0
    max_queue_depth: int = 0
    # Inline completion (completion/service.py counts these): generations started for it
    # (speculative ones included), answers from the suggestion cache (typing along,
    # returning to a spot), answers taken from a generation already running, answers given
    # early with the words generated so far (earlyAnswerMs, while typing), answers that
    # a speculative generation provided, speculative generations started, and automatic
    # requests not sent to the model (text after the cursor, max_line_suffix).
    model_calls: int = 0
    served_from_cache: int = 0
    reused_in_flight: int = 0
    early_answers: int = 0
    speculative_hits: int = 0
    speculations: int = 0
    gated: int = 0
    last: GenerationStats | None = None
    # Decaying sums behind tokens_per_second: weighted by tokens, so a one-token
    # completion (its token comes almost free with the prompt) cannot read 1700 t/s.
    recent_tokens: float = 0.0
    recent_generate_ms: float = 0.0

    def add(self, stats: GenerationStats) -> None:
        self.prompt_tokens += stats.prompt_tokens
        self.reused_tokens += stats.reused_tokens
        self.evaluated_tokens += stats.evaluated_tokens
        self.generated_tokens += stats.generated_tokens
        self.last = stats
        if stats.generated_tokens > 0:
            self.recent_tokens = 0.8 * self.recent_tokens + stats.generated_tokens
            self.recent_generate_ms = 0.8 * self.recent_generate_ms + stats.generate_ms

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed over the recent generations; None until enough tokens."""
        if self.recent_tokens < 8 or self.recent_generate_ms <= 0:
            return None
        return self.recent_tokens / (self.recent_generate_ms / 1000.0)

    @property
    def reuse_fraction(self) -> float:
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0


class EngineConfig(BaseModel):
    model_name: str
    model_path: str
    n_ctx: int = Field(4096, ge=128)
    n_gpu_layers: int = 0
    # Layer counts to retry with, in order, when loading fails (out of GPU memory).
    fallback_layers: list[int] = Field(default_factory=list)
    n_threads: int | None = None
    n_batch: int = Field(512, ge=1)
    max_queue: int = Field(64, ge=1)
    # Queued jobs one editor connection may have at once (the others' work is not
    # pushed back by one that floods requests).
    max_queue_per_owner: int = Field(16, ge=1)
    # Sequences decoded together in one llama.cpp context (engine/parallel.py): each
    # editor's completions and chats keep their own KV cache and advance in one batch.
    # 1: the one-sequence engine (engine/session.py) with copied KV slots.
    n_seq: int = Field(1, ge=1, le=64)
    fim: str | None = None
