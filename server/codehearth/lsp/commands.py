"""workspace/executeCommand: codehearth.status."""

from __future__ import annotations

from typing import Any

from .server import CodehearthServer

STATUS = "codehearth.status"


def _state(error: str | None, ready: bool) -> str:
    if error:
        return "error"
    return "ready" if ready else "loading"


def status_payload(ls: CodehearthServer) -> dict[str, Any]:
    runtime = ls.runtime
    engine = runtime.engine
    payload: dict[str, Any] = {
        "model": runtime.entry.name if runtime.entry else None,
        "state": _state(runtime.error(), engine is not None and engine.ready),
        "error": runtime.error(),
    }
    if engine is not None:
        counters = engine.counters
        payload.update(
            n_ctx=engine.session_info.get("n_ctx"),
            fim=engine.session_info.get("fim"),
            n_gpu_layers=engine.config.n_gpu_layers,
            queue_depth=engine.queue_depth,
            counters=counters.model_dump(),
            prompt_reuse=round(counters.reuse_fraction, 4),
        )
    return payload


def register(server: CodehearthServer) -> None:
    @server.command(STATUS)
    def status(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        return status_payload(ls)
