"""The dry run's GPU: NVML answers and llama.cpp's offload query, faked at the same
boundaries the tests fake them (pynvml's functions), so every step but CUDA itself runs.

A process picks the fake up at start-up (benchmarks/gpu/fakesite/sitecustomize.py) when
CODEHEARTH_GPUKIT_FAKE_GPU holds a FakeGpu as JSON; the kit hands a smaller `free_bytes`
to a child to play the part of memory another program holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

from pydantic import BaseModel

ENV = "CODEHEARTH_GPUKIT_FAKE_GPU"
GIB = 1024**3


class FakeGpu(BaseModel):
    name: str = "Fake GPU (CPU dry run)"
    total_bytes: int = 24 * GIB
    free_bytes: int = 20 * GIB
    # What NVML attributes to this process and to each of its children.
    process_bytes: int = 1 * GIB


class _FakeNvml:
    """pynvml's functions for one fake card; process list: this process and its children."""

    def __init__(self, gpu: FakeGpu) -> None:
        self.gpu = gpu

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return "0.0 (fake)"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 0

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        g = self.gpu
        return SimpleNamespace(
            total=g.total_bytes, free=g.free_bytes, used=g.total_bytes - g.free_bytes
        )

    def nvmlDeviceGetName(self, handle: int) -> str:
        return self.gpu.name

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return "GPU-fake"

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        pids = [os.getpid(), *_children(os.getpid())]
        return [SimpleNamespace(pid=pid, usedGpuMemory=self.gpu.process_bytes) for pid in pids]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def install(gpu: FakeGpu) -> None:
    """Answer NVML with `gpu`, and have llama.cpp's offload query say yes (the CPU build
    loads with any n_gpu_layers; it just keeps every layer on the CPU)."""
    import llama_cpp
    import pynvml

    fake = _FakeNvml(gpu)
    for name in dir(fake):
        if name.startswith("nvml"):
            setattr(pynvml, name, getattr(fake, name))
    llama_cpp.llama_supports_gpu_offload = _supported


def _supported() -> bool:
    return True


def install_from_env() -> bool:
    spec = os.environ.get(ENV)
    if not spec:
        return False
    install(FakeGpu.model_validate_json(spec))
    return True
