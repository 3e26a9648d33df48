"""The status push's VRAM fields against NVML read at the same moment, by this process.

A real `codehearth serve` loads the model; every `codehearth/status` push is paired with
an NVML reading taken as it arrives (the server's process and its GPU), and so is the
`codehearth.status` command's answer after loading, while typing and after typing.
What an editor's VRAM indicator shows is then compared with what NVML says.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from codehearth.gpu.nvml import probe_gpus, process_vram_bytes
from codehearth.gpu.planner import MIB

from .speed import Typing, bench_args


class StatusSample(BaseModel):
    source: str  # "push" or "command"
    when: str
    state: str | None
    gpu_layers: int | None
    status_process_mib: float | None
    nvml_process_mib: float | None
    status_gpu_used_mib: float | None
    nvml_gpu_used_mib: float | None
    status_total_mib: float | None
    nvml_total_mib: float | None
    predicted_mib: float | None
    prediction_error: float | None
    process_diff_mib: float | None
    gpu_used_diff_mib: float | None


class StatusCheck(BaseModel):
    model: str
    samples: list[StatusSample]
    gpu_samples: int  # samples whose status had VRAM fields
    max_process_diff_mib: float | None
    max_gpu_used_diff_mib: float | None
    vram_missing_on_gpu: int  # samples on the GPU whose status said nothing about VRAM


def _plain(value: Any) -> Any:
    """A pygls params object (or dict) as plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and not hasattr(value, "_asdict"):
        return [_plain(v) for v in value]
    if hasattr(value, "_asdict"):
        return _plain(value._asdict())
    if hasattr(value, "__dict__"):
        return _plain(vars(value))
    return value


def _mib(n: int | None) -> float | None:
    return None if n is None else round(n / MIB, 1)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


def sample(payload: Any, source: str, when: str) -> StatusSample:
    """Pair one status object with NVML now."""
    status = _plain(payload)
    vram = status.get("vram") or {}
    pid = (status.get("engine") or {}).get("pid")
    index = vram.get("gpu_index", 0)
    per_process = process_vram_bytes(int(pid)) if pid else None
    gpu = next((g for g in probe_gpus().gpus if g.index == index), None)
    ours = _mib(per_process.get(index)) if per_process else None
    theirs = _mib(vram.get("process_bytes"))
    used, nvml_used = _mib(vram.get("gpu_used_bytes")), _mib(gpu.used_bytes if gpu else None)
    return StatusSample(
        source=source,
        when=when,
        state=status.get("state"),
        gpu_layers=status.get("gpu_layers"),
        status_process_mib=theirs,
        nvml_process_mib=ours,
        status_gpu_used_mib=used,
        nvml_gpu_used_mib=nvml_used,
        status_total_mib=_mib(vram.get("gpu_total_bytes")),
        nvml_total_mib=_mib(gpu.total_bytes if gpu else None),
        predicted_mib=_mib(vram.get("predicted_bytes")),
        prediction_error=vram.get("prediction_error"),
        process_diff_mib=_diff(theirs, ours),
        gpu_used_diff_mib=_diff(used, nvml_used),
    )


class _Paired(list):
    """BenchClient's list of pushes: each is paired with NVML the moment it arrives."""

    phase = "loading"

    def append(self, params: Any) -> None:
        super().append(sample(params, "push", self.phase))


async def _command_status(client: Any) -> Any:
    from lsprotocol import types

    return await client.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codehearth.status", arguments=[])
    )


async def _wait_loaded(client: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _plain(await _command_status(client))
        if status.get("state") in ("ready", "busy"):
            return status
        if status.get("state") == "error":
            raise RuntimeError(f"the server failed to load the model: {status.get('error')}")
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the model did not load within {timeout:.0f} s")


async def _check(args: argparse.Namespace, typing: Typing, typing_s: float) -> list[StatusSample]:
    from codehearth.bench import plan_typing
    from codehearth.bench_client import BenchClient

    client = BenchClient()
    pushes = _Paired()
    client.statuses = pushes
    init = {"completion": {"multiline": "never", "maxTokensSingle": 16, "temperature": 0.0}}
    await client.start(args, init)
    samples: list[StatusSample] = []
    try:
        samples.append(sample(await _wait_loaded(client, 600), "command", "after load"))
        pushes.phase = "typing"
        uri, opened, strokes = plan_typing(typing.file, typing.start_line, 400)
        client.open(uri, opened, "python")
        started = time.monotonic()
        for ks in strokes:
            await client.type_and_complete(ks)
            if time.monotonic() - started > typing_s:
                break
        samples.append(sample(await _command_status(client), "command", "right after typing"))
        pushes.phase = "after typing"
        await asyncio.sleep(1.2)  # the trailing push (pushes are at most one a second)
        samples.append(sample(await _command_status(client), "command", "idle after typing"))
    finally:
        await client.stop()
    return [*samples, *pushes]


def _max_abs(values: list[float | None]) -> float | None:
    present = [abs(v) for v in values if v is not None]
    return max(present) if present else None


def status_check(
    manifest: Path, model: str, ctx: int, typing: Typing, typing_s: float = 4.0
) -> StatusCheck:
    args = bench_args(manifest, model, ctx, typing)
    samples = asyncio.run(_check(args, typing, typing_s))
    with_vram = [s for s in samples if s.status_gpu_used_mib is not None]
    on_gpu_without = [
        s for s in samples
        if (s.gpu_layers or 0) > 0 and s.status_gpu_used_mib is None and s.state != "loading"
    ]  # fmt: skip
    return StatusCheck(
        model=model,
        samples=samples,
        gpu_samples=len(with_vram),
        max_process_diff_mib=_max_abs([s.process_diff_mib for s in samples]),
        max_gpu_used_diff_mib=_max_abs([s.gpu_used_diff_mib for s in samples]),
        vram_missing_on_gpu=len(on_gpu_without),
    )
