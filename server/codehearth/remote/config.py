"""Configuration and result types for remote (OpenAI-compatible) inference engines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

FimRoute = Literal["infill", "suffix", "none"]
ServerKind = Literal["llama-server", "llama-cpp-python", "vllm", "ollama", "openai-compatible"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class RemoteError(Exception):
    """A remote engine could not do what was asked.

    The message says what failed, against which URL, and what to do about it. It never
    contains prompt text or user code (engine messages are scrubbed before they get here).
    """


class RemoteConfig(BaseModel):
    """Where the shared engine lives and how to talk to it (embedded in a manifest entry)."""

    base_url: str = Field(description="Engine URL, with or without the trailing /v1")
    model: str = Field(min_length=1, description="Model name sent to the engine")
    api_key_env: str | None = Field(
        default=None, description="Name of the environment variable holding the API key"
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Read timeout per request")
    connect_timeout_s: float = Field(default=3.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    fim: Literal["auto", "infill", "suffix", "none"] = "auto"
    context: int | None = Field(default=None, gt=0, description="Override the engine's n_ctx")
    # "estimate" skips the tokenizer round trip entirely (useful on high-latency links).
    tokenizer: Literal["auto", "estimate"] = "auto"

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"base_url must be an http(s) URL such as http://host:8080/v1, got {value!r}"
            )
        return value.strip()

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        # Keys pasted here would end up in manifests and logs; only a variable *name* is allowed.
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "api_key_env is the name of an environment variable holding the key "
                "(e.g. CODEHEARTH_API_KEY), not the key itself"
            )
        return value

    @property
    def root_url(self) -> str:
        """Server root without the /v1 suffix: llama-server's native routes live here."""
        url = self.base_url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    @property
    def api_url(self) -> str:
        """The OpenAI-compatible API base, always ending in /v1."""
        return self.root_url + "/v1"


@dataclass
class RemoteInfo:
    """What probe() learned about the engine."""

    models: list[str]
    n_ctx: int | None
    fim_route: FimRoute
    tokenize_route: str | None
    server: str
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class RemoteGeneration:
    """One finished (or cancelled) generation."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    generated_tokens: int
    first_token_ms: float | None
    total_ms: float
