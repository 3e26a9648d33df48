"""A thin, never-raising NVML probe: which NVIDIA GPUs exist and how much memory is free.

NVML (libnvidia-ml, shipped with the driver) answers without creating a CUDA
context, so probing costs no VRAM and works before llama.cpp is loaded. Every
call is bracketed by nvmlInit/nvmlShutdown: NVML reference-counts inits, so this
composes with anything else in the process that uses it.

Indices are NVML's (PCI bus order). CUDA numbers devices fastest-first unless
CUDA_DEVICE_ORDER=PCI_BUS_ID, and CUDA_VISIBLE_DEVICES renumbers them; whoever
maps a GPU index to llama.cpp's main_gpu must account for that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

T = TypeVar("T")

# NVML error codes (nvml.h) with the plain reason a user sees; codes rather than
# pynvml's generated exception classes so the mapping survives pynvml changes.
_REASONS = {
    12: "NVML library not found (no NVIDIA driver installed)",
    9: "NVIDIA driver not loaded",
    4: "no permission to query the NVIDIA driver",
    18: "NVIDIA driver/library version mismatch (reboot after a driver update?)",
    15: "GPU is lost (fell off the bus)",
    16: "GPU requires a reset",
}


class GpuInfo(BaseModel):
    """One GPU's identity and memory at probe time."""

    index: int
    name: str
    uuid: str | None = None
    total_bytes: int
    free_bytes: int
    used_bytes: int


class ProcessUsage(BaseModel):
    """Device memory one process holds, per GPU index (GPUs it does not use are absent)."""

    pid: int
    vram_bytes: dict[int, int] = Field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.vram_bytes.values())


class NvmlStatus(BaseModel):
    """The outcome of a probe; `reason` says why NVML is unusable or what went partly wrong."""

    available: bool
    reason: str | None = None
    driver_version: str | None = None
    cuda_driver_version: int | None = None
    gpus: list[GpuInfo] = Field(default_factory=list)


class _Unavailable(Exception):
    """NVML cannot be used; carries the user-facing reason."""


def probe_gpus() -> NvmlStatus:
    """List NVIDIA GPUs with their free memory. Never raises."""
    try:
        with _nvml() as nvml:
            driver = _optional(lambda: _text(nvml.nvmlSystemGetDriverVersion()), nvml)
            cuda = _optional(nvml.nvmlSystemGetCudaDriverVersion, nvml)
            gpus: list[GpuInfo] = []
            problems: list[str] = []
            for index in range(nvml.nvmlDeviceGetCount()):
                try:
                    gpus.append(_gpu_info(nvml, index))
                except nvml.NVMLError as err:
                    problems.append(f"GPU {index} skipped: {_reason(err)}")
    except _Unavailable as err:
        return NvmlStatus(available=False, reason=str(err))
    except Exception as err:  # a probe must not take the server down
        log.debug("NVML probe failed", exc_info=True)
        return NvmlStatus(available=False, reason=f"NVML query failed: {_reason(err)}")
    if not gpus:
        reason = "; ".join(problems) or "NVIDIA driver present but no GPU found"
        return NvmlStatus(
            available=False, reason=reason, driver_version=driver, cuda_driver_version=cuda
        )
    return NvmlStatus(
        available=True,
        reason="; ".join(problems) or None,
        driver_version=driver,
        cuda_driver_version=cuda,
        gpus=gpus,
    )


def process_usage(pid: int) -> ProcessUsage | None:
    """Device memory `pid` holds on each GPU; None when NVML cannot tell. Never raises.

    The answer is {} both when the process holds no VRAM and when it runs in
    another PID namespace (a container), since NVML reports host PIDs.
    """
    usage = ProcessUsage(pid=pid)
    try:
        with _nvml() as nvml:
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                for proc in nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                    if int(proc.pid) != pid:
                        continue
                    used = getattr(proc, "usedGpuMemory", None)
                    if used is None:
                        # Windows WDDM does not attribute memory to processes.
                        return None
                    usage.vram_bytes[index] = usage.vram_bytes.get(index, 0) + int(used)
    except _Unavailable:
        return None
    except Exception:  # e.g. NOT_SUPPORTED on some vGPU/MIG setups
        log.debug("NVML process query failed", exc_info=True)
        return None
    return usage


def process_vram_bytes(pid: int) -> dict[int, int] | None:
    """GPU index -> bytes held by `pid`; None when NVML cannot tell. Never raises."""
    usage = process_usage(pid)
    return None if usage is None else usage.vram_bytes


@contextmanager
def _nvml() -> Iterator[Any]:
    """Yield an initialised pynvml module; raise _Unavailable if NVML cannot start."""
    try:
        import pynvml
    except ImportError as err:
        raise _Unavailable("nvidia-ml-py is not installed") from err
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as err:
        raise _Unavailable(_reason(err)) from err
    except OSError as err:
        raise _Unavailable(f"cannot load the NVML library: {err}") from err
    try:
        yield pynvml
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # shutdown failure changes nothing for the caller
            log.debug("nvmlShutdown failed", exc_info=True)


def _gpu_info(nvml: Any, index: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
    total, free = int(memory.total), int(memory.free)
    used = getattr(memory, "used", None)
    return GpuInfo(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)),
        uuid=_optional(lambda: _text(nvml.nvmlDeviceGetUUID(handle)), nvml),
        total_bytes=total,
        free_bytes=free,
        used_bytes=int(used) if used is not None else total - free,
    )


def _optional(query: Callable[[], T], nvml: Any) -> T | None:
    """A nice-to-have value: an NVML error (old driver, unsupported query) gives None."""
    try:
        return query()
    except nvml.NVMLError:
        return None


def _text(value: str | bytes) -> str:
    # Old pynvml releases return bytes.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _reason(err: BaseException) -> str:
    code = getattr(err, "value", None)
    if isinstance(code, int) and code in _REASONS:
        return _REASONS[code]
    try:
        text = str(err)
    except Exception:  # pynvml's __str__ itself calls into NVML
        text = ""
    return f"NVML error: {text or type(err).__name__}"
