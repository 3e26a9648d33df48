"""The shared engine's sequences and the GPU: each sequence has the whole window, and
layers on the GPU come before parallel windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from codehearth.gpu import apply
from codehearth.gpu.planner import GIB, kv_cache_bytes
from codehearth.models.manifest import ModelEntry

from .test_gpu_planner import QWEN_CODER_7B, _gpu, _nvml

ENTRY = ModelEntry(name="qwen-7b", path="model.gguf", context=32768)


@pytest.fixture
def gpu_with(monkeypatch):
    def install(free_gib: float) -> None:
        monkeypatch.setattr(apply, "gpu_offload_supported", lambda: True)
        monkeypatch.setattr("codehearth.models.gguf_info.read_gguf_info", lambda _: QWEN_CODER_7B)
        monkeypatch.setattr("codehearth.gpu.nvml.probe_gpus", lambda: _nvml(_gpu(0, free_gib)))

    return install


def test_room_for_every_window_keeps_every_sequence(gpu_with):
    gpu_with(80)
    n_seq, decision = apply.decide_sequences(ENTRY, Path("m.gguf"), 32768, 4, None)
    assert n_seq == 4 and decision.n_gpu_layers == 29
    assert decision.plan is not None and decision.plan.n_ctx == 4 * 32768
    assert decision.plan.kv_bytes == kv_cache_bytes(QWEN_CODER_7B, 4 * 32768)


def test_fewer_sequences_before_fewer_layers(gpu_with):
    # 7B Q4 (~5 GiB) + one 32K window of KV (1.75 GiB) fit in 10 GiB; four windows do not.
    assert kv_cache_bytes(QWEN_CODER_7B, 32768) < 2 * GIB
    gpu_with(10)
    n_seq, decision = apply.decide_sequences(ENTRY, Path("m.gguf"), 32768, 4, None)
    alone = apply.decide_layers(ENTRY, Path("m.gguf"), 32768, None)
    assert alone.n_gpu_layers == 29
    assert n_seq in (1, 2) and decision.n_gpu_layers == 29
    four = apply.decide_layers(ENTRY, Path("m.gguf"), 4 * 32768, None)
    assert four.n_gpu_layers < 29  # the reason it gave up sequences


def test_an_explicit_layer_count_keeps_the_sequences(gpu_with):
    gpu_with(10)
    n_seq, decision = apply.decide_sequences(ENTRY, Path("m.gguf"), 32768, 4, 29)
    assert n_seq == 4 and decision.n_gpu_layers == 29


def test_on_the_cpu_the_sequences_stay(monkeypatch):
    monkeypatch.setattr(apply, "gpu_offload_supported", lambda: False)
    n_seq, decision = apply.decide_sequences(ENTRY, Path("m.gguf"), 32768, 4, None)
    assert n_seq == 4 and decision.n_gpu_layers == 0
