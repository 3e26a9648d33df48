"""Offload planner: how many layers of a GGUF model to put on which GPU.

Like Ollama's layer sizing or LM Studio's "full GPU offload possible", the plan
is made from the file's tensor directory and NVML's free-memory figure before
llama.cpp touches the GPU, so a model that cannot fit is never half-loaded.

Layer convention (llama.cpp since PR #18148, Dec 2025, the one bundled with
llama-cpp-python 0.3.36): `n_gpu_layers` counts n_layers + 1 slots, the extra one
being the output layer (output_norm + output matrix). The output layer is
offloaded FIRST, then repeating layers from the last one backwards; the input
embedding always stays on the CPU. So n_gpu_layers = k puts the output plus the
last k - 1 blocks on the GPU, and n_layers + 1 (or -1) means everything. Older
llama.cpp offloaded the output last; for it the same k is estimated slightly high
(the output matrix is larger than a block), which errs on the safe side.

VRAM estimate for k slots:
    weights(last k-1 blocks) + output layer + KV(k-1 blocks)
    + compute buffer + CUDA context overhead
and "fits" means estimate + safety margin <= NVML free memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from codehearth.gpu.nvml import GpuInfo, NvmlStatus
from codehearth.models.gguf_info import GgufInfo

MIB = 1024**2
GIB = 1024**3

KvCacheType = Literal["f16", "q8_0", "q4_0", "f32", "bf16", "q4_1", "q5_0", "q5_1", "iq4_nl"]

# Bytes per cached element as (numerator, denominator): quantised types store
# blocks of 32 values (q8_0: 32 int8 + one f16 scale = 34 bytes).
_KV_ELEMENT_BYTES: dict[str, tuple[int, int]] = {
    "f32": (4, 1),
    "f16": (2, 1),
    "bf16": (2, 1),
    "q8_0": (34, 32),
    "q4_0": (18, 32),
    "q4_1": (20, 32),
    "q5_0": (22, 32),
    "q5_1": (24, 32),
    "iq4_nl": (18, 32),
}

# CUDA context + cuBLAS handles/workspace + ggml's pool, allocated as soon as
# llama.cpp initialises the device. Measured at roughly 300-500 MiB depending on
# driver and card (lazy module loading keeps it at the low end); 400 MiB is the
# middle, and the safety margin covers the rest.
CUDA_OVERHEAD_BYTES = 400 * MIB

# A fixed margin rather than a fraction of total VRAM: what eats into "free" between
# the probe and the load (a browser, the compositor, allocator rounding) is a few
# hundred MiB whatever the card size; 5% of an 80 GB card would waste 4 GB.
DEFAULT_SAFETY_MARGIN_BYTES = 512 * MIB

Estimator = Callable[[int], int]

# llama-cpp-python's default physical batch; compute buffers scale with it.
DEFAULT_N_UBATCH = 512


class OffloadPlan(BaseModel):
    """Where a model's layers go, why, and how much VRAM that is expected to take."""

    model: str
    file_type: str | None
    n_layers: int
    n_gpu_layers: int
    gpu_index: int | None
    gpu_name: str | None
    fit: Literal["full", "partial", "cpu"]
    reason: str
    likely_fits: bool = True
    output_on_gpu: bool = False
    predicted_vram_bytes: int
    free_vram_bytes: int | None
    total_vram_bytes: int | None
    kv_bytes: int
    n_ctx: int

    def summary(self) -> str:
        """One log/status line, e.g. 'qwen2.5-coder-7b Q4_K_M: 29/29 layers on GPU 0, ...'."""
        label = f"{self.model} {self.file_type}" if self.file_type else self.model
        if self.fit == "cpu":
            return f"{label}: CPU ({self.reason})"
        line = (
            f"{label}: {self.n_gpu_layers}/{self.n_layers + 1} layers on GPU {self.gpu_index}, "
            f"needs {_gib(self.predicted_vram_bytes)} of {_gib(self.free_vram_bytes or 0)} GiB "
            f"free, KV {_size(self.kv_bytes)} at {_ctx(self.n_ctx)} ctx"
        )
        return line if self.likely_fits else f"{line}; likely does NOT fit"


def kv_cache_bytes(info: GgufInfo, n_ctx: int, cache_type: str = "f16") -> int:
    """K+V cache size for all layers: n_layers * n_ctx * n_head_kv * (d_k + d_v) * bytes/elem.

    Sliding-window layers (Gemma 2/3) are counted at full context, an overestimate.
    Without head counts, the cache is sized as plain multi-head attention over n_embd.
    """
    num, den = _element_bytes(cache_type)
    return -(-info.n_layers * n_ctx * _kv_width(info) * num // den)


def compute_buffer_bytes(
    info: GgufInfo,
    n_ctx: int,
    *,
    n_ubatch: int = DEFAULT_N_UBATCH,
    flash_attn: bool = False,
    output_on_gpu: bool = True,
) -> int:
    """Estimate of llama.cpp's per-device compute (activation) buffer, in bytes.

    ggml's graph allocator reuses memory between stages, so the peak is the larger
    of the two big f32 stages for one micro-batch of ub = min(n_ctx, n_ubatch) tokens:
      attention: 4 * ub * (1 + 4*n_embd + n_ctx * (1 + n_head))   (KQ scores + mask)
                 with flash attention the KQ matrix is never materialised:
                 4 * ub * (1 + 4*n_embd + n_ctx)
      logits:    4 * ub * (n_vocab + n_embd)   (only when the output layer is on GPU)
    The attention term reproduces llama.cpp's reported CUDA compute buffer for
    Llama-3-8B at 8k context (560 MiB) exactly.
    """
    ub = min(n_ctx, n_ubatch)
    n_embd = info.n_embd or 0
    heads = 0 if flash_attn else (info.n_head or 1)
    attention = 4 * ub * (1 + 4 * n_embd + n_ctx * (1 + heads))
    logits = 4 * ub * ((info.vocab_size or 0) + n_embd) if output_on_gpu else 0
    return max(attention, logits)


def split_layers(n_gpu_layers: int, n_layers: int) -> tuple[int, bool]:
    """(repeating layers on GPU, output layer on GPU) for an n_gpu_layers value.

    Negative means all, as in llama.cpp. See the module docstring for the order.
    """
    slots = n_layers + 1 if n_gpu_layers < 0 else min(n_gpu_layers, n_layers + 1)
    return max(slots - 1, 0), slots > 0


def estimate_vram_bytes(
    info: GgufInfo,
    n_gpu_layers: int,
    n_ctx: int,
    *,
    cache_type: str = "f16",
    n_ubatch: int = DEFAULT_N_UBATCH,
    flash_attn: bool = False,
) -> int:
    """Predicted VRAM use on one GPU for `n_gpu_layers` (0 -> 0: nothing is offloaded)."""
    repeating, output = split_layers(n_gpu_layers, info.n_layers)
    if not output:
        return 0
    first_gpu_layer = info.n_layers - repeating
    weights = sum(info.layer_bytes[first_gpu_layer:]) + info.output_bytes
    num, den = _element_bytes(cache_type)
    kv = -(-repeating * n_ctx * _kv_width(info) * num // den)
    compute = compute_buffer_bytes(info, n_ctx, n_ubatch=n_ubatch, flash_attn=flash_attn)
    if first_gpu_layer > 0:
        # With op offload (llama.cpp's default) prompt batches run CPU-resident
        # matmuls on the GPU, staging one block's weights at a time in VRAM.
        compute += max(info.layer_bytes[:first_gpu_layer], default=0)
    return weights + kv + compute + CUDA_OVERHEAD_BYTES


def plan_offload(
    model_name: str,
    info: GgufInfo,
    n_ctx: int,
    gpus: NvmlStatus,
    *,
    requested: int | Literal["auto"] = "auto",
    gpu_supported: bool = True,
    gpu_index: int | None = None,
    safety_margin_bytes: int = DEFAULT_SAFETY_MARGIN_BYTES,
    cache_type: str = "f16",
    n_ubatch: int = DEFAULT_N_UBATCH,
    flash_attn: bool = False,
) -> OffloadPlan:
    """Choose n_gpu_layers and a GPU. Never raises for GPU conditions: those give a CPU plan.

    "auto" takes every layer if all fit with the margin, else as many as fit, else
    none. An explicit number is honoured (clamped to n_layers + 1; negative = all),
    with `likely_fits` and the reason saying if it probably will not fit.
    Raises ValueError only for an unknown cache_type or a non-positive n_ctx.
    """
    _element_bytes(cache_type)
    if n_ctx <= 0:
        raise ValueError(f"n_ctx must be positive, got {n_ctx}")
    base = _Base(
        model=model_name,
        file_type=info.file_type,
        n_layers=info.n_layers,
        n_ctx=n_ctx,
        kv_bytes=kv_cache_bytes(info, n_ctx, cache_type),
    )
    if not gpu_supported:
        return _cpu_plan(base, "this llama.cpp build has no GPU offload (CPU-only build)")
    if not gpus.available or not gpus.gpus:
        return _cpu_plan(base, f"no NVIDIA GPU found: {gpus.reason or 'NVML reported none'}")
    if requested == 0:
        return _cpu_plan(base, "n_gpu_layers = 0 requested")
    gpu, note = _pick_gpu(gpus.gpus, gpu_index)

    def estimate(k: int) -> int:
        return estimate_vram_bytes(
            info, k, n_ctx, cache_type=cache_type, n_ubatch=n_ubatch, flash_attn=flash_attn
        )

    budget = gpu.free_bytes - safety_margin_bytes
    if requested == "auto":
        return _auto_plan(base, gpu, budget, estimate, note)
    return _manual_plan(base, gpu, budget, estimate, requested, note)


def fallback_layers(previous: int, n_layers: int | None = None) -> list[int]:
    """n_gpu_layers values to retry, in order, after an out-of-memory load at `previous`.

    Halve twice, then CPU: each retry is a full model load, so the list stays short,
    and a load that fails at a quarter of its layers will not succeed at an eighth
    often enough to be worth another attempt. Negative `previous` means "all"
    (n_layers + 1; with n_layers unknown only the CPU retry is left).
    """
    if previous < 0:
        if n_layers is None:
            return [0]
        previous = n_layers + 1
    steps: list[int] = []
    value = previous
    for _ in range(2):
        value //= 2
        if value <= 0:
            break
        steps.append(value)
    return [*steps, 0] if previous > 0 else []


class _Base(BaseModel):
    model: str
    file_type: str | None
    n_layers: int
    n_ctx: int
    kv_bytes: int


def _auto_plan(
    base: _Base, gpu: GpuInfo, budget: int, estimate: Estimator, note: str | None
) -> OffloadPlan:
    total = base.n_layers + 1
    where = f"GPU {gpu.index} ({gpu.name})"
    if estimate(total) <= budget:
        reason = f"all {total} layers fit on {where}"
        return _gpu_plan(base, gpu, total, estimate(total), _join(reason, note))
    # Estimates grow with k, so the first k from the top that fits is the largest.
    for k in range(total - 1, 0, -1):
        if estimate(k) <= budget:
            free = _gib(gpu.free_bytes)
            reason = f"only {k} of {total} layers fit in {free} GiB free on {where}"
            return _gpu_plan(base, gpu, k, estimate(k), _join(reason, note))
    reason = (
        f"not enough free VRAM on {where}: {_gib(gpu.free_bytes)} GiB free, "
        f"one layer needs {_gib(estimate(1))} GiB plus a {_size(gpu.free_bytes - budget)} margin"
    )
    return _cpu_plan(base, _join(reason, note), gpu)


def _manual_plan(
    base: _Base, gpu: GpuInfo, budget: int, estimate: Estimator, requested: int, note: str | None
) -> OffloadPlan:
    total = base.n_layers + 1
    k = total if requested < 0 else min(requested, total)
    reason = f"n_gpu_layers = {requested} requested"
    if k != requested:
        reason += f" (= {k}, all layers)"
    predicted = estimate(k)
    fits = predicted <= budget
    if not fits:
        reason += (
            f"; likely does NOT fit: needs {_gib(predicted)} GiB, "
            f"{_gib(gpu.free_bytes)} GiB free on GPU {gpu.index}"
        )
    plan = _gpu_plan(base, gpu, k, predicted, _join(reason, note))
    plan.likely_fits = fits
    return plan


def _gpu_plan(base: _Base, gpu: GpuInfo, k: int, predicted: int, reason: str) -> OffloadPlan:
    _, output = split_layers(k, base.n_layers)
    return OffloadPlan(
        **base.model_dump(),
        n_gpu_layers=k,
        gpu_index=gpu.index,
        gpu_name=gpu.name,
        fit="full" if k >= base.n_layers + 1 else "partial",
        reason=reason,
        output_on_gpu=output,
        predicted_vram_bytes=predicted,
        free_vram_bytes=gpu.free_bytes,
        total_vram_bytes=gpu.total_bytes,
    )


def _cpu_plan(base: _Base, reason: str, gpu: GpuInfo | None = None) -> OffloadPlan:
    return OffloadPlan(
        **base.model_dump(),
        n_gpu_layers=0,
        gpu_index=None,
        gpu_name=None,
        fit="cpu",
        reason=reason,
        predicted_vram_bytes=0,
        free_vram_bytes=gpu.free_bytes if gpu else None,
        total_vram_bytes=gpu.total_bytes if gpu else None,
    )


def _pick_gpu(gpus: list[GpuInfo], wanted: int | None) -> tuple[GpuInfo, str | None]:
    """The requested GPU, else the one with most free memory (lowest index on ties)."""
    best = max(gpus, key=lambda g: (g.free_bytes, -g.index))
    if wanted is None:
        return best, None
    for gpu in gpus:
        if gpu.index == wanted:
            return gpu, None
    have = ", ".join(str(g.index) for g in gpus)
    return best, f"GPU {wanted} not found (have {have}), using GPU {best.index}"


def _kv_width(info: GgufInfo) -> int:
    """Cached elements per token per layer: n_head_kv * (head_dim_k + head_dim_v)."""
    n_head_kv = info.n_head_kv or info.n_head
    if n_head_kv and info.head_dim_k and info.head_dim_v:
        return n_head_kv * (info.head_dim_k + info.head_dim_v)
    return 2 * (info.n_embd or 0)


def _element_bytes(cache_type: str) -> tuple[int, int]:
    try:
        return _KV_ELEMENT_BYTES[cache_type]
    except KeyError:
        known = ", ".join(_KV_ELEMENT_BYTES)
        raise ValueError(f"unknown KV cache type {cache_type!r} (known: {known})") from None


def _join(reason: str, note: str | None) -> str:
    return f"{reason}; {note}" if note else reason


def _gib(n: int) -> str:
    return f"{n / GIB:.1f}"


def _size(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{round(n / MIB)} MiB"


def _ctx(n_ctx: int) -> str:
    return f"{n_ctx // 1024}k" if n_ctx % 1024 == 0 else str(n_ctx)
