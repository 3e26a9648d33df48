"""workspace/executeCommand: codehearth.status."""

from __future__ import annotations

import os
from typing import Any

from .server import CodehearthServer

STATUS = "codehearth.status"


def _vram(runtime: Any) -> dict[str, Any] | None:
    """Predicted vs measured VRAM of this process; None on CPU (never zeros)."""
    plan = runtime.layers.plan if runtime.layers else None
    if plan is None or plan.fit == "cpu":
        return None
    from ..gpu.nvml import process_vram_bytes

    measured = process_vram_bytes(os.getpid())
    used = sum(measured.values()) if measured else None
    error = (used - plan.predicted_vram_bytes) / plan.predicted_vram_bytes if used else None
    return {
        "predicted_bytes": plan.predicted_vram_bytes,
        "measured_bytes": used,
        "prediction_error": round(error, 4) if error is not None else None,
        "gpu_index": plan.gpu_index,
    }


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
            vram=_vram(runtime),
            counters=counters.model_dump(),
            prompt_reuse=round(counters.reuse_fraction, 4),
        )
    return payload


def register(server: CodehearthServer) -> None:
    @server.command(STATUS)
    def status(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        return status_payload(ls)
