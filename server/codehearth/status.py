"""The status object: one typed payload for the status push, `codehearth.status`, and the
shared engine's `ps` (docs/protocol.md lists the fields).

Computed from what the runtime and engine already hold; NVML is asked only when the model
is on a GPU, so building it is cheap enough for every push.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from .engine.api import RemoteStatus, SessionInfo
from .engine.types import EngineCounters
from .gpu.nvml import probe_gpus, process_vram_bytes

if TYPE_CHECKING:
    from .engine.worker import Engine
    from .runtime import Runtime

Device = Literal["cpu", "gpu", "remote"]


class VramStatus(BaseModel):
    """VRAM of this process and of its GPU, and what the planner predicted."""

    gpu_index: int
    gpu_name: str | None = None
    process_bytes: int | None = None
    gpu_used_bytes: int | None = None
    gpu_total_bytes: int | None = None
    predicted_bytes: int | None = None
    prediction_error: float | None = None


class EngineRef(BaseModel):
    """Where the model lives: this process, or the user's shared engine process."""

    kind: Literal["in-process", "shared"]
    pid: int


class StatusPayload(BaseModel):
    state: str
    model: str | None = None
    quant: str | None = None
    device: Device = "cpu"
    progress: dict[str, float | int | None] | None = None
    error: str | None = None
    gpu_layers: int | None = None
    total_layers: int | None = None
    vram: VramStatus | None = None
    rss_bytes: int | None = None
    last_latency_ms: float | None = None
    tokens_per_s: float | None = None
    engine: EngineRef
    # Known once the model is loaded.
    remote: RemoteStatus | None = None
    n_ctx: int | None = None
    fim: str | None = None
    n_gpu_layers: int | None = None
    loaded_gpu_layers: int | None = None
    gpu_plan: str | None = None
    load_notes: list[str] | None = None
    queue_depth: int | None = None
    prompt_reuse: float | None = None
    counters: EngineCounters | None = None


def rss_bytes() -> int | None:
    """Resident memory of this process (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def vram_status(runtime: Any) -> VramStatus | None:
    """VRAM of this process and of its GPU; None on CPU (never zeros)."""
    plan = runtime.layers.plan if runtime.layers else None
    loaded = runtime.engine.loaded_gpu_layers if runtime.engine else None
    if plan is None or plan.fit == "cpu" or plan.gpu_index is None or loaded == 0:
        return None
    measured = process_vram_bytes(os.getpid())
    used = measured.get(plan.gpu_index) if measured else None
    gpu = next((g for g in probe_gpus().gpus if g.index == plan.gpu_index), None)
    predicted = plan.predicted_vram_bytes
    error = (used - predicted) / predicted if used and predicted else None
    return VramStatus(
        gpu_index=plan.gpu_index,
        gpu_name=gpu.name if gpu else plan.gpu_name,
        process_bytes=used,
        gpu_used_bytes=gpu.used_bytes if gpu else None,
        gpu_total_bytes=gpu.total_bytes if gpu else plan.total_vram_bytes,
        predicted_bytes=predicted,
        prediction_error=round(error, 4) if error is not None else None,
    )


def _gpu_layers(engine: Engine, total: int | None) -> int | None:
    loaded = engine.loaded_gpu_layers
    if loaded is None:
        return None
    # -1 (or any number above the count) means "all" to llama.cpp.
    if total is not None and (loaded < 0 or loaded > total):
        return total
    return loaded


def _device(info: SessionInfo, vram: VramStatus | None, gpu_layers: int | None) -> Device:
    if info.remote is not None:
        return "remote"
    return "gpu" if vram is not None or (gpu_layers or 0) > 0 else "cpu"


def build_status(runtime: Runtime, *, shared: bool) -> StatusPayload:
    engine = runtime.engine
    entry = runtime.entry
    status = StatusPayload(
        state=runtime.state(),
        model=entry.name if entry else None,
        quant=entry.quant if entry else None,
        progress=runtime.download_progress,
        error=runtime.error() or runtime.model.transient_error(),
        rss_bytes=rss_bytes(),
        last_latency_ms=runtime.completion.last_latency_ms if runtime.completion else None,
        engine=EngineRef(kind="shared" if shared else "in-process", pid=os.getpid()),
    )
    if engine is None:
        return status
    counters = engine.counters
    rate = counters.tokens_per_second
    status = status.model_copy(
        update={
            "tokens_per_s": round(rate, 1) if rate else None,
            "n_gpu_layers": engine.config.n_gpu_layers,
            "loaded_gpu_layers": engine.loaded_gpu_layers,
            "gpu_plan": runtime.layers.summary if runtime.layers else None,
            "load_notes": engine.load_notes,
            "queue_depth": engine.queue_depth,
            "prompt_reuse": round(counters.reuse_fraction, 4),
            "counters": counters,
        }
    )
    info = engine.session_info
    return status if info is None else _with_model_facts(status, runtime, engine, info)


def _with_model_facts(
    status: StatusPayload, runtime: Runtime, engine: Engine, info: SessionInfo
) -> StatusPayload:
    """What is known once the model is loaded: layers, device, VRAM, context, FIM."""
    gpu_layers = _gpu_layers(engine, info.total_layers)
    vram = vram_status(runtime)
    return status.model_copy(
        update={
            "quant": info.quant or status.quant,
            "device": _device(info, vram, gpu_layers),
            "remote": info.remote,
            "gpu_layers": gpu_layers,
            "total_layers": info.total_layers,
            "vram": vram,
            "n_ctx": info.n_ctx,
            "fim": info.fim,
        }
    )
