"""Remote inference: codehearth's editor features backed by a shared OpenAI-compatible engine
(llama.cpp's llama-server, vLLM, Ollama, LM Studio, llama-cpp-python). See docs/remote.md."""

from codehearth.remote.config import (
    RemoteConfig,
    RemoteError,
    RemoteGeneration,
    RemoteInfo,
)
from codehearth.remote.openai_compat import OpenAICompatClient, estimate_tokens

__all__ = [
    "OpenAICompatClient",
    "RemoteConfig",
    "RemoteError",
    "RemoteGeneration",
    "RemoteInfo",
    "estimate_tokens",
]
