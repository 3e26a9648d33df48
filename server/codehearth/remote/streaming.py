"""The streaming loop shared by every route: deltas, cancellation, retries, timing.

Each route (openai completions, openai chat, llama-server /infill) only has to provide a
context manager that opens the request and yields `Piece`s; leaving it closes the response.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeVar

import openai

from codehearth.remote.config import RemoteConfig, RemoteError, RemoteGeneration
from codehearth.remote.errors import is_retryable, status_of, to_remote_error
from codehearth.remote.http import HTTP_ERRORS, HttpStatusFailure

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# llama-cpp-python fails this way when the prompt does not fit its context: the error is
# raised after the 200 + SSE headers went out, so the client only sees an empty stream.
_EMPTY = (
    "The prompt may exceed the engine's context (set `context` in the remote config to the "
    "engine's n_ctx so codehearth trims prompts to fit), or the engine failed: see its log"
)
_BACKOFF_S = 0.15  # doubled per attempt; short because a person is waiting on a keystroke


@dataclass
class Piece:
    """One streamed event, normalised across routes."""

    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


OpenPieces = Callable[[], AbstractContextManager[Iterator[Piece]]]


class _Accumulator:
    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.parts: list[str] = []
        self.first_token_ms: float | None = None
        self.finish_reason: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    def add(self, piece: Piece, on_delta: Callable[[str], None] | None) -> None:
        if piece.text:
            if self.first_token_ms is None:
                self.first_token_ms = (time.perf_counter() - self.start) * 1000
            self.parts.append(piece.text)
            if on_delta is not None:
                on_delta(piece.text)
        self.finish_reason = piece.finish_reason or self.finish_reason
        self.prompt_tokens = piece.prompt_tokens or self.prompt_tokens
        self.completion_tokens = piece.completion_tokens or self.completion_tokens

    def result(self, finish_reason: str | None) -> RemoteGeneration:
        # Engines report usage only at the end; after a cancel we count the deltas instead
        # (llama.cpp-based engines stream one token per event).
        generated = self.completion_tokens if finish_reason != "cancelled" else None
        return RemoteGeneration(
            text="".join(self.parts),
            finish_reason=finish_reason,
            prompt_tokens=self.prompt_tokens,
            generated_tokens=generated if generated is not None else len(self.parts),
            first_token_ms=self.first_token_ms,
            total_ms=(time.perf_counter() - self.start) * 1000,
        )


def run_stream(
    open_pieces: OpenPieces,
    *,
    url: str,
    config: RemoteConfig,
    cancelled: Callable[[], bool],
    on_delta: Callable[[str], None] | None,
    sensitive: Iterable[str] = (),
) -> RemoteGeneration:
    """Stream one generation, retrying transient failures that happen before any token."""
    acc = _Accumulator()
    for attempt in range(config.retries + 1):
        if cancelled():
            return acc.result("cancelled")
        try:
            with open_pieces() as pieces:
                for piece in pieces:
                    acc.add(piece, on_delta)
                    if cancelled():
                        # Leaving the `with` closes the response; the engine stops decoding.
                        return acc.result("cancelled")
            if not acc.parts and acc.finish_reason is None:
                raise RemoteError(f"{url} ended the stream without any output or reason. {_EMPTY}")
            return acc.result(acc.finish_reason)
        except (openai.APIError, *HTTP_ERRORS, HttpStatusFailure) as exc:
            # Once text reached the caller a retry would duplicate it, so only fail then.
            if acc.parts or attempt == config.retries or not is_retryable(exc):
                raise to_remote_error(exc, url, config, sensitive) from None
            # Type and status only: str(exc) can carry the engine's echo of the request.
            log.debug("remote: attempt %d on %s failed (%s %s), retrying", attempt + 1, url,
                      type(exc).__name__, status_of(exc))  # fmt: skip
            if not _sleep(_BACKOFF_S * 2**attempt, cancelled):
                return acc.result("cancelled")
    raise AssertionError("unreachable")  # pragma: no cover


def _sleep(seconds: float, cancelled: Callable[[], bool]) -> bool:
    """Sleep in small slices so a cancel is noticed; False if cancelled."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if cancelled():
            return False
        time.sleep(min(left, 0.02))
    return not cancelled()


def call_with_retries(
    call: Callable[[], _T], *, url: str, config: RemoteConfig, sensitive: Iterable[str] = ()
) -> _T:
    """Non-streaming request (probe, tokenizer) with the same retry policy."""
    for attempt in range(config.retries + 1):
        try:
            return call()
        except (openai.APIError, *HTTP_ERRORS, HttpStatusFailure) as exc:
            if attempt == config.retries or not is_retryable(exc):
                raise to_remote_error(exc, url, config, sensitive) from None
            time.sleep(_BACKOFF_S * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover
