"""workspace/executeCommand: codehearth.status."""

from __future__ import annotations

from typing import Any

from .server import CodehearthServer

STATUS = "codehearth.status"


def status_payload(ls: CodehearthServer) -> dict[str, Any]:
    runtime = ls.runtime
    engine = runtime.engine
    payload: dict[str, Any] = {
        "model": runtime.entry.name if runtime.entry else None,
        "state": runtime.state(),
        "error": runtime.error(),
    }
    if engine is not None:
        counters = engine.counters
        payload.update(
            n_ctx=engine.session_info.get("n_ctx"),
            fim=engine.session_info.get("fim"),
            n_gpu_layers=engine.config.n_gpu_layers,
            queue_depth=engine.queue_depth,
            gpu_plan=runtime.layers.summary if runtime.layers else None,
            loaded_gpu_layers=engine.loaded_gpu_layers,
            load_notes=engine.load_notes,
            counters=counters.model_dump(),
            prompt_reuse=round(counters.reuse_fraction, 4),
        )
    return payload


def register(server: CodehearthServer) -> None:
    @server.command(STATUS)
    def status(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        return status_payload(ls)
