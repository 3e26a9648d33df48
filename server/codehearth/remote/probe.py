"""Find out which engine answers at base_url and what it can do, in a few cheap requests.

Detection order (first match wins), each step one small request:
  /v1/models entries with `max_model_len` or owned_by "vllm"  -> vLLM
  GET /props answering llama-server's shape                    -> llama-server
  POST /extras/tokenize/count answering {"count": n}           -> llama-cpp-python
  GET /api/version answering {"version": ...}                  -> Ollama
  otherwise                                                     -> generic openai-compatible
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from codehearth.remote.config import FimRoute, RemoteConfig, RemoteError, RemoteInfo
from codehearth.remote.http import HttpStatusFailure, RawHttp

log = logging.getLogger(__name__)


@dataclass
class _Detected:
    server: str
    n_ctx: int | None = None
    tokenize_route: str | None = None
    native_fim: FimRoute = "none"
    details: dict[str, object] = field(default_factory=dict)


def probe_engine(raw: RawHttp, config: RemoteConfig) -> RemoteInfo:
    """Transport errors propagate (the caller turns them into RemoteError with retries)."""
    try:
        listing = raw.get_json("/v1/models")
    except ValueError:  # a web server, but not an engine: HTML or plain text
        raise RemoteError(
            f"{raw.url('/v1/models')} did not answer with JSON — is base_url an "
            "OpenAI-compatible engine?"
        ) from None
    entries = [e for e in _entries(listing) if isinstance(e, dict) and "id" in e]
    models = [str(e["id"]) for e in entries]
    check_model(config, models, raw.url("/v1/models"))
    found = _detect(raw, config, entries)
    fim: FimRoute = found.native_fim if config.fim == "auto" else config.fim
    if config.fim not in ("auto", "none") and config.fim != found.native_fim:
        log.info(
            "remote: fim=%s forced although %s offers %s",
            config.fim,
            found.server,
            found.native_fim,
        )
    return RemoteInfo(
        models=models,
        n_ctx=config.context or found.n_ctx,
        fim_route=fim,
        tokenize_route=None if config.tokenizer == "estimate" else found.tokenize_route,
        server=found.server,
        details=found.details,
    )


def check_model(config: RemoteConfig, models: list[str], url: str) -> None:
    """Refuse a model the engine does not list.

    llama-cpp-python and llama-server silently answer with whatever they have loaded when
    the name is unknown; completing with a different model than configured is worse than
    failing, so codehearth checks the name itself.
    """
    if not models or config.model in models:
        return
    # Ollama lists "name:latest" but accepts the bare name (and the reverse).
    bare = {m.removesuffix(":latest") for m in models}
    if config.model.removesuffix(":latest") in bare:
        return
    raise RemoteError(
        f"{url} does not serve model {config.model!r}; it has: {', '.join(models)} "
        "— set model in the remote config to one of these"
    )


def _entries(listing: Any) -> list[Any]:
    if isinstance(listing, dict):
        data = listing.get("data", listing.get("models", []))
        return data if isinstance(data, list) else []
    return listing if isinstance(listing, list) else []


def _detect(raw: RawHttp, config: RemoteConfig, entries: list[dict]) -> _Detected:
    mine = next((e for e in entries if e.get("id") == config.model), entries[0] if entries else {})
    if "max_model_len" in mine or mine.get("owned_by") == "vllm":
        # vLLM rejects `suffix` ("not currently supported"): FIM prompts are built client-side.
        return _Detected("vllm", _int(mine.get("max_model_len")), "/tokenize")
    props = _optional(raw.get_json, "/props")
    if isinstance(props, dict) and (
        "default_generation_settings" in props or "total_slots" in props
    ):
        return _llama_server(raw, props)
    counted = _optional(
        raw.post_json, "/extras/tokenize/count", {"input": "", "model": config.model}
    )
    if isinstance(counted, dict) and "count" in counted:
        # Its /v1/completions accepts `suffix` but wraps it in token id 0 instead of the
        # model's FIM tokens (llama_cpp/llama.py "TODO: Fix"), so suffix FIM is not used.
        # It exposes no context size either; set `context` in the config to get one.
        return _Detected("llama-cpp-python", None, "/extras/tokenize/count")
    version = _optional(raw.get_json, "/api/version")
    if isinstance(version, dict) and "version" in version:
        # Ollama's /v1/completions renders `suffix` through the model's own FIM template.
        return _Detected("ollama", None, None, "suffix", {"version": version["version"]})
    return _Detected("openai-compatible")


def _llama_server(raw: RawHttp, props: dict) -> _Detected:
    settings = props.get("default_generation_settings") or {}
    n_ctx = _int(settings.get("n_ctx") if isinstance(settings, dict) else None)
    n_ctx = n_ctx or _int(props.get("n_ctx"))
    # /infill exists in every llama-server, but answers 501 when the model has no FIM
    # tokens; a one-token request tells the two apart.
    payload = {"input_prefix": "", "input_suffix": "", "n_predict": 1, "stream": False}
    infill = _optional(raw.post_json, "/infill", payload)
    details: dict[str, object] = {"build": props.get("build_info")} if "build_info" in props else {}
    fim: FimRoute = "infill" if isinstance(infill, dict) else "none"
    return _Detected("llama-server", n_ctx, "/tokenize", fim, details)


def _optional(call: Any, *args: Any) -> Any:
    """A capability check: an HTTP error or non-JSON answer just means "not this engine"."""
    try:
        return call(*args)
    except (HttpStatusFailure, ValueError):
        return None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None
