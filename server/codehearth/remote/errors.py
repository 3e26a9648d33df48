"""Turn transport and HTTP failures into RemoteError messages a user can act on.

Two rules: a message names the URL and a next step, and it never carries prompt text
(engines like FastAPI echo request fields back in validation errors, so those are scrubbed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import openai

from codehearth.remote.config import RemoteConfig, RemoteError
from codehearth.remote.http import (
    CONNECT_TIMEOUT_ERRORS,
    TIMEOUT_ERRORS,
    TRANSPORT_ERRORS,
    HttpStatusFailure,
)

NO_FALLBACK = "codehearth does not fall back to another engine"
# Statuses worth another try before any token was streamed: gateways, loading, overload.
# 500 is left out on purpose: llama-cpp-python answers 500 to invalid requests, and engines'
# 500s are deterministic in practice, so retrying only delays the real error.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_MAX_MESSAGE = 300
_INPUT_ECHO = re.compile(
    r"""(['"]input['"]\s*:\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,}\]]+)"""
)


def engine_message(body: object) -> str:
    """Pull the human part out of the many error shapes engines use."""
    if isinstance(body, dict):
        for key in ("error", "message", "detail", "msg"):
            if key in body:
                return engine_message(body[key])
        return str(body)
    if isinstance(body, list):
        return "; ".join(engine_message(item) for item in body[:3])
    return "" if body is None else str(body)


def scrub(message: str, sensitive: Iterable[str] = ()) -> str:
    """Drop echoed request content and tracebacks, then bound the length."""
    message = message.split("\n\n  File ", 1)[0]  # llama-cpp-python appends a traceback
    message = _INPUT_ECHO.sub(r"\1<redacted>", message)
    for text in sensitive:
        for line in text.splitlines():
            line = line.strip()
            if len(line) >= 12 and line in message:
                message = message.replace(line, "<redacted>")
    message = " ".join(message.split())
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUSES
    if isinstance(exc, HttpStatusFailure):
        return exc.status in RETRY_STATUSES
    # Timeouts are not retried: waiting timeout_s again for an overloaded engine only
    # multiplies the wait. Refused/reset connections are (a restarting engine or another
    # replica may answer), and only before the first token (the caller enforces that).
    if isinstance(exc, (openai.APITimeoutError, *TIMEOUT_ERRORS)):
        return False
    return isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS))


def status_of(exc: BaseException) -> int | None:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code
    if isinstance(exc, HttpStatusFailure):
        return exc.status
    return None


def to_remote_error(
    exc: BaseException, url: str, config: RemoteConfig, sensitive: Iterable[str] = ()
) -> RemoteError:
    """Explain `exc` (raised while talking to `url`) as a RemoteError."""
    status = status_of(exc)
    if status is not None:
        body = exc.body if isinstance(exc, openai.APIStatusError | HttpStatusFailure) else None
        return _status_error(status, scrub(engine_message(body), sensitive), url, config)
    cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) else exc
    if isinstance(exc, openai.APITimeoutError) or isinstance(cause, TIMEOUT_ERRORS):
        return _timeout_error(cause, url, config)
    reason = str(cause) or type(cause).__name__
    if "refused" in reason.lower():
        return RemoteError(
            f"cannot reach {url}: connection refused — is the engine running? {NO_FALLBACK}"
        )
    return RemoteError(
        f"cannot reach {url}: {scrub(reason)} — check base_url and the network; {NO_FALLBACK}"
    )


def _timeout_error(cause: BaseException | None, url: str, config: RemoteConfig) -> RemoteError:
    if isinstance(cause, CONNECT_TIMEOUT_ERRORS):
        return RemoteError(
            f"cannot reach {url}: no connection within {config.connect_timeout_s:g} s "
            f"— is the host up and the port open? {NO_FALLBACK}"
        )
    return RemoteError(
        f"{url} did not answer within {config.timeout_s:g} s (timeout_s) — the engine may be "
        "overloaded or the prompt too long for it; raise timeout_s in the remote config"
    )


def _status_error(status: int, message: str, url: str, config: RemoteConfig) -> RemoteError:
    detail = f": {message}" if message else ""
    if status in (401, 403):
        hint = (
            f"check the key in ${config.api_key_env}"
            if config.api_key_env
            else "the engine wants a key: set api_key_env to the name of a variable holding it"
        )
        return RemoteError(f"{url} refused the request (HTTP {status}){detail} — {hint}")
    if status == 404:
        return RemoteError(
            f"{url} answered HTTP 404{detail} — is base_url right and is the engine "
            "OpenAI-compatible?"
        )
    if status >= 500:
        return RemoteError(
            f"{url} failed (HTTP {status}){detail} — see the engine's log; {NO_FALLBACK}"
        )
    hint = ""
    if "context" in message.lower():
        hint = (
            " — the prompt does not fit the engine's context: set `context` in the remote "
            "config to the engine's n_ctx so codehearth trims prompts to fit"
        )
    return RemoteError(f"{url} rejected the request (HTTP {status}){detail}{hint}")
