"""Why a model did not load, in words a user can act on."""

from __future__ import annotations

from .types import EngineConfig


def load_failure_message(config: EngineConfig, errors: list[str]) -> str:
    """llama.cpp says only "Failed to load model from file"; say what that usually means."""
    from pathlib import Path

    path = Path(config.model_path)
    if not path.is_file():
        return f"{path} does not exist"
    detail = errors[-1] if errors else "unknown error"
    try:
        from ..models.gguf_info import GgufError, read_gguf_info

        read_gguf_info(path)
    except GgufError as exc:
        return str(exc)
    except Exception:  # the inspection is only for a better message
        pass
    return f"{path}: llama.cpp could not load it ({detail})"
