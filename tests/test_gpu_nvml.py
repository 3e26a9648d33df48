"""NVML probe: faked at the pynvml boundary, plus the real library on this machine."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from types import SimpleNamespace

import pynvml
import pytest

from codehearth.gpu.nvml import (
    NvmlStatus,
    probe_gpus,
    process_usage,
    process_vram_bytes,
)

GIB = 1024**3


@dataclass
class FakeGpu:
    name: str | bytes
    total: int
    free: int
    uuid: str = "GPU-0000"
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    lost: bool = False


@dataclass
class FakeNvml:
    """Stands in for libnvidia-ml behind pynvml's functions; counts init/shutdown."""

    gpus: list[FakeGpu]
    init_error: int | None = None
    count_error: int | None = None
    processes_error: int | None = None
    uuid_error: int | None = None
    inits: int = 0
    shutdowns: int = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in (
            "nvmlInit", "nvmlShutdown", "nvmlSystemGetDriverVersion",
            "nvmlSystemGetCudaDriverVersion", "nvmlDeviceGetCount",
            "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetName",
            "nvmlDeviceGetUUID", "nvmlDeviceGetComputeRunningProcesses",
        ):  # fmt: skip
            monkeypatch.setattr(pynvml, name, getattr(self, name))

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12040

    def nvmlDeviceGetCount(self) -> int:
        if self.count_error is not None:
            raise pynvml.NVMLError(self.count_error)
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        return self.gpus[index]

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> SimpleNamespace:
        if gpu.lost:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        return SimpleNamespace(total=gpu.total, free=gpu.free, used=gpu.total - gpu.free)

    def nvmlDeviceGetName(self, gpu: FakeGpu) -> str | bytes:
        return gpu.name

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        if self.uuid_error is not None:
            raise pynvml.NVMLError(self.uuid_error)
        return gpu.uuid

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu) -> list[SimpleNamespace]:
        if self.processes_error is not None:
            raise pynvml.NVMLError(self.processes_error)
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in gpu.processes]


def _two_gpus() -> list[FakeGpu]:
    return [
        FakeGpu("NVIDIA GeForce RTX 3060", 12 * GIB, 10 * GIB, "GPU-aaaa", [(111, 3 * GIB)]),
        FakeGpu(b"NVIDIA GeForce RTX 4090", 24 * GIB, 20 * GIB, "GPU-bbbb", [(222, GIB)]),
    ]


def test_probe_lists_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(_two_gpus())
    fake.install(monkeypatch)
    status = probe_gpus()
    assert status.available is True
    assert status.reason is None
    assert status.driver_version == "550.54.15"
    assert status.cuda_driver_version == 12040
    assert [g.model_dump() for g in status.gpus] == [
        {
            "index": 0, "name": "NVIDIA GeForce RTX 3060", "uuid": "GPU-aaaa",
            "total_bytes": 12 * GIB, "free_bytes": 10 * GIB, "used_bytes": 2 * GIB,
        },
        {
            "index": 1, "name": "NVIDIA GeForce RTX 4090", "uuid": "GPU-bbbb",
            "total_bytes": 24 * GIB, "free_bytes": 20 * GIB, "used_bytes": 4 * GIB,
        },
    ]  # fmt: skip
    assert (fake.inits, fake.shutdowns) == (1, 1)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "NVML library not found"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVIDIA driver not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "no permission"),
        (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "version mismatch"),
        (pynvml.NVML_ERROR_UNKNOWN, "NVML error"),
    ],
)
def test_probe_init_failure_is_a_reason_not_an_exception(
    monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    fake = FakeNvml(_two_gpus(), init_error=code)
    fake.install(monkeypatch)
    status = probe_gpus()
    assert status == NvmlStatus(available=False, reason=status.reason)
    assert reason in (status.reason or "")
    assert fake.shutdowns == 0  # nothing to shut down when init failed


def test_probe_oserror_from_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_init() -> None:
        raise OSError("libnvidia-ml.so.1: wrong ELF class")

    monkeypatch.setattr(pynvml, "nvmlInit", broken_init)
    status = probe_gpus()
    assert status.available is False
    assert "wrong ELF class" in (status.reason or "")


def test_probe_error_after_init_still_shuts_down(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNvml(_two_gpus(), count_error=pynvml.NVML_ERROR_UNKNOWN)
    fake.install(monkeypatch)
    status = probe_gpus()
    assert status.available is False
    assert "NVML query failed" in (status.reason or "")
    assert (fake.inits, fake.shutdowns) == (1, 1)


def test_probe_skips_a_lost_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = _two_gpus()
    gpus[0].lost = True
    FakeNvml(gpus).install(monkeypatch)
    status = probe_gpus()
    assert status.available is True
    assert [g.index for g in status.gpus] == [1]
    assert status.reason == "GPU 0 skipped: GPU is lost (fell off the bus)"


def test_probe_driver_without_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml([]).install(monkeypatch)
    status = probe_gpus()
    assert status.available is False
    assert status.reason == "NVIDIA driver present but no GPU found"
    assert status.driver_version == "550.54.15"


def test_probe_optional_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml(_two_gpus(), uuid_error=pynvml.NVML_ERROR_NOT_SUPPORTED).install(monkeypatch)
    assert [g.uuid for g in probe_gpus().gpus] == [None, None]


@pytest.mark.parametrize(
    ("pid", "expected"),
    [(111, {0: 3 * GIB}), (222, {1: GIB}), (333, {})],
)
def test_process_vram_bytes(
    monkeypatch: pytest.MonkeyPatch, pid: int, expected: dict[int, int]
) -> None:
    fake = FakeNvml(_two_gpus())
    fake.install(monkeypatch)
    assert process_vram_bytes(pid) == expected
    assert (fake.inits, fake.shutdowns) == (1, 1)


def test_process_on_two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = _two_gpus()
    gpus[1].processes.append((111, 2 * GIB))
    FakeNvml(gpus).install(monkeypatch)
    usage = process_usage(111)
    assert usage is not None
    assert usage.vram_bytes == {0: 3 * GIB, 1: 2 * GIB}
    assert usage.total_bytes == 5 * GIB


@pytest.mark.parametrize(
    "fake",
    [
        pytest.param(FakeNvml([FakeGpu("GPU", GIB, GIB, processes=[(7, None)])]), id="wddm"),
        pytest.param(
            FakeNvml(_two_gpus(), processes_error=pynvml.NVML_ERROR_NOT_SUPPORTED),
            id="not-supported",
        ),
        pytest.param(FakeNvml([], init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND), id="no-driver"),
    ],
)
def test_process_vram_unknown(monkeypatch: pytest.MonkeyPatch, fake: FakeNvml) -> None:
    fake.install(monkeypatch)
    assert process_vram_bytes(7) is None


def _driver_present() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


@pytest.mark.skipif(_driver_present(), reason="an NVIDIA driver is installed here")
def test_real_pynvml_without_driver() -> None:
    status = probe_gpus()
    assert status.available is False
    assert status.gpus == []
    assert status.reason == "NVML library not found (no NVIDIA driver installed)"
    assert process_vram_bytes(os.getpid()) is None


@pytest.mark.skipif(not _driver_present(), reason="no NVIDIA driver here")
def test_real_pynvml_with_driver() -> None:
    status = probe_gpus()
    if status.available:
        assert status.gpus
        for gpu in status.gpus:
            assert 0 < gpu.free_bytes <= gpu.total_bytes
    else:
        assert status.reason
