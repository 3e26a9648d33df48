"""The status object: GPU fields from NVML (faked at pynvml), CPU without VRAM, model facts."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from codehearth.engine.api import SessionInfo
from codehearth.engine.facts import model_facts
from codehearth.engine.types import EngineCounters, GenerationStats
from codehearth.gpu.planner import OffloadPlan
from codehearth.lsp.status import status_payload
from codehearth.status import rss_bytes

from .test_gpu_nvml import FakeGpu, FakeNvml

GIB = 1024**3


def _plan(fit: str = "full", gpu_index: int | None = 0) -> OffloadPlan:
    return OffloadPlan(
        model="qwen2.5-coder-1.5b", file_type="Q4_K_M", n_layers=28, n_gpu_layers=29,
        gpu_index=gpu_index, gpu_name="RTX 4090", fit=fit, reason="all 29 layers fit",
        predicted_vram_bytes=5 * GIB, free_vram_bytes=20 * GIB, total_vram_bytes=24 * GIB,
        kv_bytes=GIB, n_ctx=8192,
    )  # fmt: skip


def _server(plan: OffloadPlan | None, loaded_layers: int) -> SimpleNamespace:
    counters = EngineCounters()
    counters.add(GenerationStats(generated_tokens=20, generate_ms=100.0, total_ms=130.0))
    engine = SimpleNamespace(
        loaded_gpu_layers=loaded_layers,
        session_info=SessionInfo(n_ctx=8192, fim="qwen", quant="Q4_K_M", total_layers=29),
        counters=counters,
        config=SimpleNamespace(n_gpu_layers=loaded_layers),
        load_notes=[],
        queue_depth=0,
    )
    runtime = SimpleNamespace(
        state=lambda: "ready",
        error=lambda: None,
        entry=SimpleNamespace(name="qwen2.5-coder-1.5b", quant="Q4_K_M"),
        download_progress=None,
        completion=SimpleNamespace(last_latency_ms=130.0),
        engine=engine,
        layers=SimpleNamespace(plan=plan, summary="summary line"),
    )
    runtime.model = SimpleNamespace(transient_error=lambda: None)
    return SimpleNamespace(runtime=runtime, host_registry=None)


def test_gpu_status_reports_process_and_device_vram(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu("NVIDIA GeForce RTX 4090", 24 * GIB, 18 * GIB, processes=[(os.getpid(), 5 * GIB)])
    FakeNvml([gpu]).install(monkeypatch)
    status = status_payload(_server(_plan(), loaded_layers=-1))
    assert status["device"] == "gpu"
    assert status["gpu_layers"] == 29 and status["total_layers"] == 29  # -1 means all
    assert status["vram"] == {
        "gpu_index": 0,
        "gpu_name": "NVIDIA GeForce RTX 4090",
        "process_bytes": 5 * GIB,
        "gpu_used_bytes": 6 * GIB,
        "gpu_total_bytes": 24 * GIB,
        "predicted_bytes": 5 * GIB,
        "prediction_error": 0.0,
    }
    assert status["tokens_per_s"] == 200.0
    assert status["last_latency_ms"] == 130.0
    assert status["prompt_reuse"] == 0.0


def test_gpu_status_when_the_driver_hides_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    # In a container NVML lists host PIDs: the process figure is unknown, not zero.
    FakeNvml([FakeGpu("RTX 4090", 24 * GIB, 18 * GIB)]).install(monkeypatch)
    vram = status_payload(_server(_plan(), loaded_layers=29))["vram"]
    assert vram["process_bytes"] is None
    assert vram["prediction_error"] is None
    assert vram["gpu_total_bytes"] == 24 * GIB


@pytest.mark.parametrize(("plan", "loaded"), [(None, 0), (_plan(fit="cpu", gpu_index=None), 0)])
def test_cpu_status_has_no_vram(plan: OffloadPlan | None, loaded: int) -> None:
    status = status_payload(_server(plan, loaded_layers=loaded))
    assert status["device"] == "cpu"
    assert status["vram"] is None


def test_fallback_to_cpu_after_oom_is_cpu() -> None:
    # The plan said GPU, but loading fell back to 0 layers: the status must say CPU.
    status = status_payload(_server(_plan(), loaded_layers=0))
    assert status["device"] == "cpu" and status["vram"] is None


def test_model_facts_from_llama_metadata() -> None:
    meta = {"general.architecture": "llama", "llama.block_count": "30", "general.file_type": "3"}
    assert model_facts(meta) == {"quant": "Q4_1", "total_layers": 31}
    assert model_facts({}) == {"quant": None, "total_layers": None}
    assert model_facts({"general.file_type": "999"})["quant"] == "ftype 999"


def test_rss_is_this_process() -> None:
    rss = rss_bytes()
    assert rss is not None and 10 * 2**20 < rss < 64 * GIB


def test_tokens_per_second_is_not_fooled_by_one_token_generations() -> None:
    counters = EngineCounters()
    counters.add(GenerationStats(generated_tokens=1, generate_ms=0.5))
    assert counters.tokens_per_second is None  # not enough tokens to say
    for _ in range(5):
        counters.add(GenerationStats(generated_tokens=16, generate_ms=100.0))
    counters.add(GenerationStats(generated_tokens=1, generate_ms=0.5))
    assert 150 < counters.tokens_per_second < 175
