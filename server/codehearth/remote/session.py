"""The remote engine as the engine's jobs see it: a session that talks text, not tokens.

The engine's queue, supersede-by-key, cancellation and counters work unchanged; jobs
check `session.remote` and call `complete()` / `chat()` here instead of building token
prompts. Remote calls are blocking HTTP streams, so the engine runs several workers for
a remote session (the cluster schedules them); a completion never waits behind a chat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..context.tokens import CachedTokenCounter
from ..engine.types import EngineConfig, GenerationParams, GenerationStats
from .config import RemoteConfig, RemoteError, RemoteGeneration
from .openai_compat import OpenAICompatClient, estimate_tokens

log = logging.getLogger(__name__)

REMOTE_WORKERS = 4
_STOP_REASONS = {"stop": "stop", "length": "length", "cancelled": "cancelled"}


class RemoteSession:
    remote = True
    fim = None  # FIM is the engine's business (its /infill or `suffix`), see describe()
    n_ctx_train = 0
    metadata: dict[str, str] = {}  # noqa: RUF012 - read-only, no GGUF metadata here

    def __init__(
        self, config: EngineConfig, remote: RemoteConfig, render_fim: Callable | None = None
    ) -> None:
        from ..engine.worker import EngineUnavailable

        self.config = config
        self.client = OpenAICompatClient(remote, render_fim=render_fim)
        try:
            self.info = self.client.probe()
        except RemoteError as exc:
            self.client.close()
            raise EngineUnavailable(str(exc)) from exc
        known = self.info.n_ctx
        self.n_ctx = min(config.n_ctx, known) if known else config.n_ctx
        self.count_tokens = CachedTokenCounter(self.client.count_tokens)
        self.on_stats: Callable[[GenerationStats], None] | None = None
        # Live: the engine's status shows it; `error` is set while requests fail.
        self.status: dict[str, Any] = {
            "url": self.client.config.root_url,
            "server": self.info.server,
            "model": self.client.config.model,
            "fim": self.info.fim_route,
            "token_counter": self.client.token_counter,
            "error": None,
        }

    def check_thread(self) -> None:
        """Nothing thread-bound here: the HTTP client is shared by the workers."""

    def describe(self) -> dict[str, Any]:
        return self.status

    def _call(self, request: Callable[[], RemoteGeneration]) -> RemoteGeneration:
        """Run a request; remember whether the engine is failing (status shows it) and
        stop saying so once it answers again."""
        try:
            gen = request()
        except RemoteError as exc:
            self.status["error"] = str(exc)
            raise
        self.status["error"] = None
        return gen

    @property
    def fim_mode(self) -> str:
        return "prefix" if self.info.fim_route == "none" else "fim"

    def complete(
        self,
        prefix: str,
        suffix: str | None,
        params: GenerationParams,
        cancelled: Callable[[], bool],
        on_delta: Callable[[str], None] | None = None,
    ) -> tuple[str, GenerationStats]:
        stop = [*params.stop, "\n"] if params.stop_at_newline else list(params.stop)
        gen = self._call(
            lambda: self.client.complete(
                prefix,
                suffix,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                stop=stop,
                cancelled=cancelled,
                on_delta=on_delta,
            )
        )
        return gen.text, self._stats(gen, prefix + (suffix or ""))

    def chat(
        self,
        messages: list[dict[str, str]],
        params: GenerationParams,
        cancelled: Callable[[], bool],
        on_delta: Callable[[str], None] | None = None,
        json_schema: dict | None = None,
    ) -> tuple[str, GenerationStats]:
        gen = self._call(
            lambda: self.client.chat(
                messages,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                cancelled=cancelled,
                on_delta=on_delta,
                json_schema=json_schema,
            )
        )
        return gen.text, self._stats(gen, "".join(m["content"] for m in messages))

    def _stats(self, gen: RemoteGeneration, prompt_text: str) -> GenerationStats:
        first = gen.first_token_ms or 0.0
        stats = GenerationStats(
            # Streams rarely report usage; an estimate, so that no keystroke pays for a
            # tokenizer round trip just to fill in a counter.
            prompt_tokens=gen.prompt_tokens or estimate_tokens(prompt_text),
            evaluated_tokens=0,
            generated_tokens=gen.generated_tokens,
            prompt_ms=first,
            generate_ms=max(0.0, gen.total_ms - first),
            total_ms=gen.total_ms,
            stop_reason=_STOP_REASONS.get(gen.finish_reason or "", "eog"),
        )
        if self.on_stats is not None:
            self.on_stats(stats)
        return stats

    def close(self) -> None:
        self.client.close()


def remote_session_factory(
    remote: RemoteConfig, render_fim: Callable | None = None
) -> Callable[[EngineConfig], RemoteSession]:
    def make(config: EngineConfig) -> RemoteSession:
        started = time.perf_counter()
        session = RemoteSession(config, remote, render_fim)
        log.info(
            "remote engine %s (%s) ready in %.0f ms",
            remote.root_url,
            session.info.server,
            (time.perf_counter() - started) * 1000,
        )
        return session

    return make
