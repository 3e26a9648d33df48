"""Turn a manifest entry + this machine into the n_gpu_layers the engine loads with."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel

from ..models.choose import gpu_offload_supported
from ..models.manifest import ModelEntry
from .planner import OffloadPlan, fallback_layers

log = logging.getLogger(__name__)


class LayerDecision(BaseModel):
    """What to load with, what to try next on out-of-memory, and why."""

    n_gpu_layers: int
    fallbacks: list[int]
    summary: str
    plan: OffloadPlan | None = None


def decide_layers(
    entry: ModelEntry, model_path: Path, n_ctx: int, override: int | None
) -> LayerDecision:
    """An explicit number wins; "auto" asks the planner. Never raises."""
    requested = override if override is not None else entry.n_gpu_layers
    if not gpu_offload_supported():
        return LayerDecision(
            n_gpu_layers=0,
            fallbacks=[],
            summary=f"{entry.name}: CPU (this llama.cpp build has no GPU offload)",
        )
    try:
        from ..models.gguf_info import read_gguf_info
        from .nvml import probe_gpus
        from .planner import plan_offload

        info = read_gguf_info(model_path)
        plan = plan_offload(entry.name, info, n_ctx, probe_gpus(), requested=requested)
    except Exception as exc:  # a planning failure must not stop the model from loading
        log.warning("offload planning failed (%s); loading on CPU", exc)
        return LayerDecision(
            n_gpu_layers=0, fallbacks=[], summary=f"{entry.name}: CPU (planning failed: {exc})"
        )
    layers = plan.n_gpu_layers
    return LayerDecision(
        n_gpu_layers=layers,
        fallbacks=fallback_layers(layers, plan.n_layers) if layers else [],
        summary=plan.summary(),
        plan=plan,
    )
