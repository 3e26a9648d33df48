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


def decide_sequences(
    entry: ModelEntry, model_path: Path, n_ctx: int, n_seq: int, override: int | None
) -> tuple[int, LayerDecision]:
    """The shared engine gives each of its `n_seq` sequences the whole `n_ctx` window
    (engine/parallel.py), so its KV cache is n_seq times one. Where that would push layers
    off the GPU that one window leaves on it, decode fewer sequences (halving, down to
    one) rather than run slower: layers on the GPU matter more than parallel windows."""
    decision = decide_layers(entry, model_path, n_ctx * n_seq, override)
    if n_seq == 1 or override is not None or decision.plan is None:
        return n_seq, decision
    alone = decide_layers(entry, model_path, n_ctx, override)
    wanted = n_seq
    while n_seq > 1 and decision.n_gpu_layers < alone.n_gpu_layers:
        n_seq //= 2
        decision = alone if n_seq == 1 else decide_layers(entry, model_path, n_ctx * n_seq, None)
    if n_seq < wanted:
        log.warning(
            "%s: %d sequences of %d tokens would not leave %d layers on the GPU; "
            "the shared engine decodes %d side by side",
            entry.name, wanted, n_ctx, alone.n_gpu_layers, n_seq,
        )  # fmt: skip
    return n_seq, decision
