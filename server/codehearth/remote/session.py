"""The remote engine as the engine's jobs see it: a session that talks text, not tokens.

It implements engine.api.Session: the engine's queue, supersede-by-key, cancellation and
counters work unchanged, and features call the same `infill()` / `chat()` as on a local
model; `capabilities.token_prompts` is False, so chat prompts arrive as messages. Remote
calls are blocking HTTP streams, so the engine runs several workers for a remote session
(the cluster schedules them); a completion never waits behind a chat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..context.tokens import CachedTokenCounter
from ..engine.api import (
    Capabilities,
    ChatPrompt,
    InfillMode,
    InfillRequest,
    RemoteStatus,
    SessionInfo,
)
from ..engine.control import ControlState, GenerationControl
from ..engine.types import EngineConfig, GenerationParams, GenerationStats
from ..engine.worker import EngineUnavailable
from .config import RemoteConfig, RemoteError, RemoteGeneration
from .openai_compat import OpenAICompatClient, estimate_tokens

log = logging.getLogger(__name__)

REMOTE_WORKERS = 4
_STOP_REASONS = {"stop": "stop", "length": "length", "cancelled": "cancelled"}


class RemoteSession:
    capabilities = Capabilities(token_prompts=False, concurrent=True)
    n_ctx_train = 0

    def __init__(
        self, config: EngineConfig, remote: RemoteConfig, render_fim: Callable | None = None
    ) -> None:
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
        self.status = RemoteStatus(
            url=self.client.config.root_url,
            server=self.info.server,
            model=self.client.config.model,
            fim=self.info.fim_route,
            token_counter=self.client.token_counter,
        )
        self._info = SessionInfo(n_ctx=self.n_ctx, remote=self.status)

    def check_thread(self) -> None:
        """Nothing thread-bound here: the HTTP client is shared by the workers."""

    def describe(self) -> SessionInfo:
        """The same object every time: `remote.error` changes in place, so the status
        sees the engine fail and recover."""
        return self._info

    def _call(self, request: Callable[[], RemoteGeneration]) -> RemoteGeneration:
        """Run a request; remember whether the engine is failing (status shows it) and
        stop saying so once it answers again."""
        try:
            gen = request()
        except RemoteError as exc:
            self.status.error = str(exc)
            raise
        self.status.error = None
        return gen

    @property
    def infill_mode(self) -> InfillMode:
        return "prefix" if self.info.fim_route == "none" else "fim"

    def infill(
        self,
        request: InfillRequest,
        params: GenerationParams,
        control: GenerationControl,
        slot: str | None = None,
    ) -> tuple[str, GenerationStats]:
        """The engine's FIM route where it has one (the slot is the engine's business)."""
        prefix, suffix = request.extra + request.prefix, request.suffix or None
        stop = [*params.stop, "\n"] if params.stop_at_newline else list(params.stop)
        streamed = _Streamed(control)
        gen = self._call(
            lambda: self.client.complete(
                prefix,
                suffix,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                stop=stop,
                cancelled=streamed.stop,
                on_delta=streamed.push,
            )
        )
        return gen.text, self._stats(gen, prefix + (suffix or ""), control)

    def prewarm(
        self, request: InfillRequest, control: GenerationControl, slot: str | None = None
    ) -> int:
        """The remote engine keeps its own cache; nothing to do here."""
        return 0

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
        """The engine templates the messages itself. It schedules its own work, so a
        remote chat is never pre-empted and `continuation` stays empty."""
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        streamed = _Streamed(control)
        gen = self._call(
            lambda: self.client.chat(
                messages,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                cancelled=streamed.stop,
                on_delta=streamed.push,
                json_schema=json_schema,
            )
        )
        return gen.text, self._stats(gen, "".join(m["content"] for m in messages), control)

    def _stats(
        self, gen: RemoteGeneration, prompt_text: str, control: GenerationControl
    ) -> GenerationStats:
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
        if control.state is ControlState.FINISHED:
            stats.stop_reason = "stop"
        elif control.state is ControlState.CANCELLED:
            stats.stop_reason = "cancelled"
        if self.on_stats is not None:
            self.on_stats(stats)
        return stats

    def close(self) -> None:
        self.client.close()


class _Streamed:
    """The control's view of a text stream: the whole text so far, for its finish rule."""

    def __init__(self, control: GenerationControl) -> None:
        self.control = control
        self.text = ""

    def push(self, delta: str) -> None:
        self.text += delta
        self.control.emit(delta)
        self.control.is_finished(delta, self.text)

    def stop(self) -> bool:
        return self.control.state is ControlState.FINISHED or self.control.stop_before_token()


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
