"""The status object (docs/protocol.md) and its push: `codehearth/status`.

The object is computed on the event loop from what the runtime and engine already
hold; NVML is asked only when the model is on a GPU. Pushes are coalesced to at
most one a second, with a trailing push so the last change always arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

from .server import CodehearthServer

log = logging.getLogger(__name__)

STATUS_NOTIFICATION = "codehearth/status"
MIN_INTERVAL_S = 1.0
# Fields whose change is worth a push; counters alone are not.
_SALIENT = (
    "state", "model", "quant", "device", "progress", "error", "gpu_layers", "total_layers",
    "last_latency_ms", "tokens_per_s", "load_notes",
)  # fmt: skip


def rss_bytes() -> int | None:
    """Resident memory of this process (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _vram(runtime: Any) -> dict[str, Any] | None:
    """VRAM of this process and of its GPU; None on CPU (never zeros)."""
    plan = runtime.layers.plan if runtime.layers else None
    loaded = runtime.engine.loaded_gpu_layers if runtime.engine else None
    if plan is None or plan.fit == "cpu" or plan.gpu_index is None or loaded == 0:
        return None
    from ..gpu.nvml import probe_gpus, process_vram_bytes

    measured = process_vram_bytes(os.getpid())
    used = measured.get(plan.gpu_index) if measured else None
    gpu = next((g for g in probe_gpus().gpus if g.index == plan.gpu_index), None)
    predicted = plan.predicted_vram_bytes
    error = (used - predicted) / predicted if used and predicted else None
    return {
        "gpu_index": plan.gpu_index,
        "gpu_name": gpu.name if gpu else plan.gpu_name,
        "process_bytes": used,
        "gpu_used_bytes": gpu.used_bytes if gpu else None,
        "gpu_total_bytes": gpu.total_bytes if gpu else plan.total_vram_bytes,
        "predicted_bytes": predicted,
        "prediction_error": round(error, 4) if error is not None else None,
    }


def _gpu_layers(engine: Any, total: int | None) -> int | None:
    loaded = engine.loaded_gpu_layers
    if loaded is None:
        return None
    # -1 (or any number above the count) means "all" to llama.cpp.
    if total is not None and (loaded < 0 or loaded > total):
        return total
    return loaded


def _device(info: dict[str, Any], vram: dict | None, gpu_layers: int | None) -> str:
    if info.get("remote"):
        return "remote"
    return "gpu" if vram is not None or (gpu_layers or 0) > 0 else "cpu"


def status_payload(ls: CodehearthServer) -> dict[str, Any]:
    runtime = ls.runtime
    engine = runtime.engine
    payload: dict[str, Any] = {
        "state": runtime.state(),
        "model": runtime.entry.name if runtime.entry else None,
        "quant": runtime.entry.quant if runtime.entry else None,
        "device": "cpu",
        "progress": runtime.download_progress,
        "error": runtime.error() or runtime.model.transient_error(),
        "gpu_layers": None,
        "total_layers": None,
        "vram": None,
        "rss_bytes": rss_bytes(),
        "last_latency_ms": runtime.completion.last_latency_ms if runtime.completion else None,
        "tokens_per_s": None,
        # Where the model lives: this process, or the user's shared engine process.
        "engine": {
            "kind": "shared" if ls.host_registry is not None else "in-process",
            "pid": os.getpid(),
        },
    }
    if engine is None:
        return payload
    info = engine.session_info
    counters = engine.counters
    gpu_layers = _gpu_layers(engine, info.get("total_layers"))
    vram = _vram(runtime)
    payload.update(
        quant=info.get("quant") or payload["quant"],
        device=_device(info, vram, gpu_layers),
        remote=info.get("remote"),
        gpu_layers=gpu_layers,
        total_layers=info.get("total_layers"),
        vram=vram,
        tokens_per_s=round(rate, 1) if (rate := counters.tokens_per_second) else None,
        n_ctx=info.get("n_ctx"),
        fim=info.get("fim"),
        n_gpu_layers=engine.config.n_gpu_layers,
        loaded_gpu_layers=engine.loaded_gpu_layers,
        gpu_plan=runtime.layers.summary if runtime.layers else None,
        load_notes=engine.load_notes,
        queue_depth=engine.queue_depth,
        prompt_reuse=round(counters.reuse_fraction, 4),
        counters=counters.model_dump(),
    )
    return payload


class StatusPublisher:
    """Pushes `codehearth/status` when a salient field changes, at most once a second;
    on the GPU also once a second while busy, so VRAM readings stay live."""

    def __init__(self, ls: CodehearthServer) -> None:
        self.ls = ls
        self.pushed = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._last_key: tuple | None = None
        self._last_push = 0.0
        # On the GPU and busy at the last look: push every second, VRAM keeps moving.
        self._live = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._run())

    def poke(self) -> None:
        """Something may have changed; callable from any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return
        # The loop may close between the check and the call.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(wake.set)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                timeout = MIN_INTERVAL_S if self._live else None
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            wait = self._last_push + MIN_INTERVAL_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                self._wake.clear()
            try:
                self._push_if_changed()
            except Exception:  # a status push must never stop the server
                log.debug("status push failed", exc_info=True)

    def _push_if_changed(self) -> None:
        payload = status_payload(self.ls)
        self._live = payload["device"] == "gpu" and payload["state"] == "busy"
        key = tuple(repr(payload.get(name)) for name in _SALIENT)
        if key == self._last_key and not self._live:
            return
        self._last_key = key
        self._last_push = time.monotonic()
        self.pushed += 1
        self.ls.protocol.notify(STATUS_NOTIFICATION, payload)
