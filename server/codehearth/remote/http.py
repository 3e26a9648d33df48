"""Plain HTTP for the engine routes the openai client does not model.

llama-server's /props, /tokenize and /infill and llama-cpp-python's /extras/tokenize/count
are not OpenAI routes, so they go through our own small client. It is deliberately separate
from the openai client's pool: that keeps us independent of which HTTP library (httpx or
httpx2) a given openai release is built on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

try:  # openai 3.x ships on httpx2 (same API, new name); older stacks only have httpx.
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed openai generation
    import httpx  # type: ignore[no-redef]


def _error_bases(name: str) -> tuple[type[BaseException], ...]:
    """`name` from httpx2 and, when installed, legacy httpx: older openai releases let the
    latter's exceptions escape from stream iteration unwrapped."""
    bases: list[type[BaseException]] = [getattr(httpx, name)]
    try:
        import httpx as legacy
    except ImportError:
        legacy = None  # type: ignore[assignment]
    if legacy is not None and legacy is not httpx:
        bases.append(getattr(legacy, name))
    return tuple(bases)


HTTP_ERRORS = _error_bases("HTTPError")
TRANSPORT_ERRORS = _error_bases("TransportError")
TIMEOUT_ERRORS = _error_bases("TimeoutException")
CONNECT_TIMEOUT_ERRORS = _error_bases("ConnectTimeout")

__all__ = [
    "CONNECT_TIMEOUT_ERRORS",
    "HTTP_ERRORS",
    "TIMEOUT_ERRORS",
    "TRANSPORT_ERRORS",
    "HttpStatusFailure",
    "RawHttp",
    "httpx",
]


@dataclass
class HttpStatusFailure(Exception):
    """A non-2xx answer (or an in-stream error event) from one of the raw routes."""

    status: int
    body: object

    def __str__(self) -> str:
        return f"HTTP {self.status}"


class RawHttp:
    """JSON GET/POST and SSE streaming against the engine's root URL."""

    def __init__(
        self, root_url: str, api_key: str | None, timeout_s: float, connect_s: float
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=root_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(connect_s, timeout_s)),
        )

    def url(self, path: str) -> str:
        return str(self._client.base_url).rstrip("/") + path

    def get_json(self, path: str) -> Any:
        response = self._client.get(path)
        if response.status_code >= 400:
            raise HttpStatusFailure(response.status_code, _body(response))
        return response.json()

    def post_json(self, path: str, payload: dict[str, Any]) -> Any:
        response = self._client.post(path, json=payload)
        if response.status_code >= 400:
            raise HttpStatusFailure(response.status_code, _body(response))
        return response.json()

    @contextmanager
    def stream_events(self, path: str, payload: dict[str, Any]) -> Iterator[Iterator[dict]]:
        """POST and yield the decoded `data:` events of a server-sent-event answer.

        Leaving the `with` block closes the response, which is how a generation is cancelled:
        llama.cpp-based servers stop decoding once they notice the client went away.
        """
        with self._client.stream("POST", path, json=payload) as response:
            if response.status_code >= 400:
                response.read()
                raise HttpStatusFailure(response.status_code, _body(response))
            yield _sse_events(response)

    def close(self) -> None:
        self._client.close()


def _sse_events(response: Any) -> Iterator[dict]:
    for line in response.iter_lines():
        if line.startswith("error:"):  # llama-server reports mid-stream failures this way
            raise HttpStatusFailure(500, _loads(line[len("error:") :]))
        if not line.startswith("data:"):
            continue
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return
        event = _loads(data)
        if isinstance(event, dict) and "error" in event:
            raise HttpStatusFailure(500, event)
        if isinstance(event, dict):
            yield event


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text.strip()


def _body(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:1000]
