"""Blocking client for a shared OpenAI-compatible inference engine.

Runs on the engine's worker thread (never on the asyncio loop). OpenAI routes go through
the `openai` package; engine-native routes (llama-server /infill, tokenizers) through
`RawHttp`. Prompts and user code are never logged: only their sizes, at debug level.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import openai

from codehearth.remote.config import RemoteConfig, RemoteError, RemoteGeneration, RemoteInfo
from codehearth.remote.http import HttpStatusFailure, RawHttp
from codehearth.remote.probe import probe_engine
from codehearth.remote.streaming import Piece, call_with_retries, run_stream

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 3.5  # conservative for code: real tokenizers average 3.5-4.5 chars/token
_TOKEN_CACHE_SIZE = 1024
# Sent when no key is configured: self-hosted engines ignore it, and passing *something*
# stops the openai package from picking up OPENAI_API_KEY and sending it to this engine.
_NO_KEY = "codehearth-no-key"

Cancelled = Callable[[], bool]
OnDelta = Callable[[str], None] | None


class _DropRequestBodies(logging.Filter):
    """Older openai releases log whole request bodies (prompts) at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Request options")


logging.getLogger("openai._base_client").addFilter(_DropRequestBodies())


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class OpenAICompatClient:
    """Completion, chat and token counting against one remote engine and model."""

    def __init__(
        self, config: RemoteConfig, *, render_fim: Callable[[str, str], str] | None = None
    ) -> None:
        """`render_fim(prefix, suffix)` builds a FIM prompt client-side (with the model's own
        template) for engines without a native FIM route; without it those get prefix only."""
        self.config = config
        self._render_fim = render_fim
        key = _api_key(config)
        timeout = openai.Timeout(
            config.timeout_s, connect=min(config.connect_timeout_s, config.timeout_s)
        )
        # Retries are ours (run_stream): the openai client's would also retry after a
        # partial stream and back off for seconds while someone is typing.
        self._oa = openai.OpenAI(
            base_url=config.api_url, api_key=key or _NO_KEY, timeout=timeout, max_retries=0
        )
        self._raw = RawHttp(config.root_url, key, config.timeout_s, config.connect_timeout_s)
        self._info: RemoteInfo | None = None
        self._tokenizer_ok = True
        self._token_cache: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()

    # -- discovery ---------------------------------------------------------------------

    def probe(self) -> RemoteInfo:
        """Ask the engine what it is; raises RemoteError quickly when it cannot be reached."""
        url = self._raw.url("/v1/models")
        info = call_with_retries(
            lambda: probe_engine(self._raw, self.config), url=url, config=self.config
        )
        log.info(
            "remote: %s at %s, model %s, n_ctx %s, fim %s, tokenizer %s",
            info.server,
            self.config.root_url,
            self.config.model,
            info.n_ctx,
            info.fim_route,
            info.tokenize_route or "estimate",
        )
        self._info = info
        self._tokenizer_ok = True
        return info

    @property
    def info(self) -> RemoteInfo:
        """The last probe's answer, probing on first use."""
        return self._info if self._info is not None else self.probe()

    # -- tokens ------------------------------------------------------------------------

    @property
    def token_counter(self) -> Literal["engine", "estimate"]:
        """Where count_tokens' answers come from (after probe(); "estimate" before)."""
        info = self._info
        ok = info is not None and info.tokenize_route is not None and self._tokenizer_ok
        return "engine" if ok else "estimate"

    def count_tokens(self, text: str) -> int:
        """Exact count from the engine's tokenizer when it has one, else an estimate."""
        if self.config.tokenizer == "estimate" or not text:
            return estimate_tokens(text)
        info = self.info
        if info.tokenize_route is None or not self._tokenizer_ok:
            return estimate_tokens(text)
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            if (hit := self._token_cache.get(key)) is not None:
                self._token_cache.move_to_end(key)
                return hit
        route = info.tokenize_route
        count = call_with_retries(
            lambda: self._tokenize(info, route, text),
            url=self._raw.url(route),
            config=self.config,
            sensitive=(text,),
        )
        if count is None:
            return estimate_tokens(text)
        with self._lock:
            self._token_cache[key] = count
            while len(self._token_cache) > _TOKEN_CACHE_SIZE:
                self._token_cache.popitem(last=False)
        return count

    def _tokenize(self, info: RemoteInfo, route: str, text: str) -> int | None:
        if info.server == "vllm":
            payload: dict[str, Any] = {
                "model": self.config.model,
                "prompt": text,
                "add_special_tokens": False,
            }
        elif info.server == "llama-server":
            payload = {"content": text}
        else:
            payload = {"input": text, "model": self.config.model}
        try:
            answer = self._raw.post_json(route, payload)
        except HttpStatusFailure as exc:
            if exc.status in (401, 403) or exc.status >= 500:
                raise
            # The route went away or changed shape (engine swapped behind a proxy): estimate.
            log.warning(
                "remote: %s answered HTTP %d, estimating tokens from now on", route, exc.status
            )
            self._tokenizer_ok = False
            return None
        if isinstance(answer, dict) and isinstance(answer.get("count"), int):
            return answer["count"]
        if isinstance(answer, dict) and isinstance(answer.get("tokens"), list):
            return len(answer["tokens"])
        self._tokenizer_ok = False
        return None

    # -- generation --------------------------------------------------------------------

    def complete(
        self,
        prefix: str,
        suffix: str | None,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        stop: list[str],
        cancelled: Cancelled,
        on_delta: OnDelta = None,
    ) -> RemoteGeneration:
        """Code completion, fill-in-the-middle through the engine's native route if any."""
        route = self.info.fim_route if suffix is not None else "none"
        log.debug(
            "remote: complete via %s, prefix %d chars, suffix %d chars",
            route,
            len(prefix),
            len(suffix or ""),
        )
        n = max(1, max_tokens)
        opener: Callable[[], Any]
        if route == "infill":
            payload = {
                "input_prefix": prefix, "input_suffix": suffix or "", "n_predict": n,
                "temperature": temperature, "top_p": top_p, "stop": stop, "stream": True,
                "cache_prompt": True,  # llama-server reuses the KV cache of the shared prefix
            }  # fmt: skip
            opener, url = (lambda: self._infill_pieces(payload)), self._raw.url("/infill")
        else:
            kwargs = {"prompt": prefix, "stop": stop or None, "max_tokens": n}
            kwargs |= {"temperature": temperature, "top_p": top_p}
            if route == "suffix":
                kwargs["suffix"] = suffix
            elif suffix is not None and self._render_fim is not None:
                kwargs["prompt"] = self._render_fim(prefix, suffix)
            opener = lambda: self._completion_pieces(kwargs)  # noqa: E731
            url = self.config.api_url + "/completions"
        return run_stream(
            opener, url=url, config=self.config, cancelled=cancelled, on_delta=on_delta,
            sensitive=(prefix, suffix or ""),
        )  # fmt: skip

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float,
        cancelled: Cancelled,
        on_delta: OnDelta = None,
        json_schema: dict | None = None,
    ) -> RemoteGeneration:
        """Streamed chat; `json_schema` constrains the reply to JSON matching it."""
        log.debug(
            "remote: chat, %d messages, %d chars",
            len(messages),
            sum(len(m.get("content", "")) for m in messages),
        )
        kwargs: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max(1, max_tokens),
            "temperature": temperature,
            "top_p": top_p,
        }
        if json_schema is not None:
            kwargs["response_format"] = self._response_format(json_schema)
        return run_stream(
            lambda: self._chat_pieces(kwargs),
            url=self.config.api_url + "/chat/completions",
            config=self.config,
            cancelled=cancelled,
            on_delta=on_delta,
            sensitive=[m.get("content", "") for m in messages],
        )

    def _response_format(self, schema: dict) -> dict[str, Any]:
        if self.info.server == "llama-cpp-python":
            # Its response_format only knows "text" and "json_object"; a "schema" key next
            # to json_object is compiled to a grammar (llama_cpp.llama_chat_format).
            return {"type": "json_object", "schema": schema}
        # OpenAI, vLLM, llama-server, Ollama and LM Studio take the structured-output shape.
        return {
            "type": "json_schema",
            "json_schema": {"name": "codehearth", "schema": schema, "strict": True},
        }

    @contextmanager
    def _completion_pieces(self, kwargs: dict[str, Any]) -> Iterator[Iterator[Piece]]:
        stream = self._oa.completions.create(
            model=self.config.model,
            stream=True,
            **kwargs,
            # include_usage gives exact token counts; engines without it just ignore it.
            extra_body={"stream_options": {"include_usage": True}},
        )
        try:
            yield (_completion_piece(chunk) for chunk in stream)
        finally:
            stream.close()

    @contextmanager
    def _chat_pieces(self, kwargs: dict[str, Any]) -> Iterator[Iterator[Piece]]:
        stream = self._oa.chat.completions.create(
            model=self.config.model,
            stream=True,
            **kwargs,
            extra_body={"stream_options": {"include_usage": True}},
        )
        try:
            yield (_chat_piece(chunk) for chunk in stream)
        finally:
            stream.close()

    @contextmanager
    def _infill_pieces(self, payload: dict[str, Any]) -> Iterator[Iterator[Piece]]:
        with self._raw.stream_events("/infill", payload) as events:
            yield (_infill_piece(event) for event in events)

    def close(self) -> None:
        self._oa.close()
        self._raw.close()

    def __enter__(self) -> OpenAICompatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _api_key(config: RemoteConfig) -> str | None:
    if config.api_key_env is None:
        return None
    key = os.environ.get(config.api_key_env, "").strip()
    if not key:
        raise RemoteError(
            f"the remote config for {config.root_url} reads its API key from "
            f"${config.api_key_env}, which is not set in codehearth's environment"
        )
    return key


def _usage(chunk: Any) -> tuple[int | None, int | None]:
    usage = getattr(chunk, "usage", None)
    if usage is None:
        return None, None
    return getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)


def _completion_piece(chunk: Any) -> Piece:
    prompt_tokens, completion_tokens = _usage(chunk)
    choice = chunk.choices[0] if chunk.choices else None
    return Piece(
        text=(choice.text or "") if choice else "",
        finish_reason=choice.finish_reason if choice else None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def _chat_piece(chunk: Any) -> Piece:
    prompt_tokens, completion_tokens = _usage(chunk)
    choice = chunk.choices[0] if chunk.choices else None
    return Piece(
        text=((choice.delta.content if choice.delta else None) or "") if choice else "",
        finish_reason=choice.finish_reason if choice else None,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


_STOP_TYPES = {"eos": "stop", "word": "stop", "limit": "length"}


def _infill_piece(event: dict[str, Any]) -> Piece:
    """llama-server's native stream: {"content", "stop", "stop_type"|"stopped_*", counts}."""
    finish = None
    if event.get("stop"):
        finish = _STOP_TYPES.get(str(event.get("stop_type")))
        if finish is None:  # older builds: stopped_eos / stopped_word / stopped_limit flags
            finish = "length" if event.get("stopped_limit") else "stop"
    timings = event.get("timings") if isinstance(event.get("timings"), dict) else {}
    return Piece(
        text=str(event.get("content") or ""),
        finish_reason=finish,
        prompt_tokens=event.get("tokens_evaluated") or timings.get("prompt_n"),
        completion_tokens=event.get("tokens_predicted") or timings.get("predicted_n"),
    )
