"""VRAM: the planner's prediction against NVML after real loads, and the load fallback.

Each load runs in a fresh child (probe.py), so every figure includes the CUDA context a
user's server pays. "Measured" is the device's used memory after loading minus before
(NVML's per-process figure is kept too: inside some containers NVML cannot attribute
memory to a process). The fallback check makes a big card look small by holding memory in
a ballast process (ballast.py; in the dry run the fake GPU is told a smaller free figure).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from codehearth.gpu.nvml import probe_gpus
from codehearth.gpu.planner import DEFAULT_SAFETY_MARGIN_BYTES, MIB, estimate_vram_bytes
from codehearth.models.gguf_info import GgufInfo

from .fakegpu import ENV as FAKE_ENV
from .fakegpu import FakeGpu
from .probe import LoadResult

ROOT = Path(__file__).resolve().parents[2]


class VramRow(BaseModel):
    """One load: what the planner said it would take and what NVML saw."""

    model: str
    n_ctx: int
    mode: Literal["full", "partial"]
    n_gpu_layers: int
    loaded_gpu_layers: int | None
    total_layers: int
    predicted_mib: float
    measured_mib: float | None  # device used after load minus before
    process_mib: float | None  # NVML's figure for the process, when it can tell
    after_generate_mib: float | None
    error_mib: float | None  # measured - predicted
    error_pct: float | None
    load_s: float | None
    error: str | None = None


class FallbackCase(BaseModel):
    requested: str
    free_mib: float
    plan_layers: int
    plan_reason: str
    loaded_gpu_layers: int | None
    total_layers: int
    load_notes: list[str]
    fewer_layers: bool  # loaded with fewer layers than the model has, and did not crash
    predicted_mib: float
    measured_mib: float | None
    error: str | None = None


class FallbackResult(BaseModel):
    model: str
    n_ctx: int
    full_need_mib: float
    margin_mib: float  # the planner's safety margin on top of the need
    held_free_mib: float
    auto: FallbackCase
    forced_all: FallbackCase


def _mib(n: int | None) -> float | None:
    return None if n is None else round(n / MIB, 1)


def run_child(args: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> str:
    """Run a kit module in a fresh interpreter; its last stdout line (JSON) is the answer."""
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip()[-1500:]
        raise RuntimeError(f"{args[0]} exited with {done.returncode}: {tail}")
    return lines[-1]


def load_child(
    model: Path, info_json: Path, ctx: int, layers: str, env: dict | None = None
) -> LoadResult:
    args = ["benchmarks.gpu.probe", "load", "--model", str(model), "--info", str(info_json)]
    args += ["--ctx", str(ctx), "--layers", layers]
    return LoadResult.model_validate_json(run_child(args, env))


def _measured(result: LoadResult, reading_name: str) -> int | None:
    reading = getattr(result, reading_name)
    if reading is None or reading.device_used_bytes is None:
        return None
    if result.before.device_used_bytes is None:
        return None
    return reading.device_used_bytes - result.before.device_used_bytes


def _row(name: str, ctx: int, mode: str, info: GgufInfo, result: LoadResult) -> VramRow:
    predicted = result.plan.predicted_vram_bytes
    measured = _measured(result, "after_load")
    error = measured - predicted if measured is not None else None
    process = result.after_load.process_bytes if result.after_load else None
    return VramRow(
        model=name,
        n_ctx=ctx,
        mode=mode,
        n_gpu_layers=result.plan.n_gpu_layers,
        loaded_gpu_layers=result.loaded_gpu_layers,
        total_layers=info.n_layers + 1,
        predicted_mib=_mib(predicted) or 0.0,
        measured_mib=_mib(measured),
        process_mib=_mib(process),
        after_generate_mib=_mib(_measured(result, "after_generate")),
        error_mib=_mib(error),
        error_pct=round(100 * error / predicted, 1) if error is not None and predicted else None,
        load_s=result.load_s,
        error=result.error,
    )


def vram_matrix(
    models: dict[str, tuple[Path, Path, GgufInfo]], contexts: list[int]
) -> list[VramRow]:
    """Every model at every context, all layers and about half of them on the GPU."""
    rows = []
    for name, (path, info_json, info) in models.items():
        total = info.n_layers + 1
        for ctx in contexts:
            for mode, layers in (("full", "-1"), ("partial", str(total // 2))):
                rows.append(_row(name, ctx, mode, info, load_child(path, info_json, ctx, layers)))
    return rows


@contextlib.contextmanager
def held_free(target_free: int, dry_run: bool) -> Iterator[dict[str, str]]:
    """Leave about `target_free` bytes free on GPU 0 while the block runs; yields the env
    the children need (the dry run's fake GPU is simply told the smaller figure)."""
    if dry_run:
        fake = FakeGpu.model_validate_json(os.environ[FAKE_ENV])
        fake.free_bytes = target_free
        yield {FAKE_ENV: fake.model_dump_json()}
        return
    leave = str(target_free // MIB)
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.gpu.ballast", "--leave-free-mib", leave],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("ready"):
            raise RuntimeError(f"the ballast process did not start: {line!r}")
        yield {}
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=60)


def _case(requested: str, info: GgufInfo, result: LoadResult) -> FallbackCase:
    total = info.n_layers + 1
    loaded = result.loaded_gpu_layers
    return FallbackCase(
        requested=requested,
        free_mib=_mib(result.plan.free_vram_bytes) or 0.0,
        plan_layers=result.plan.n_gpu_layers,
        plan_reason=result.plan.reason,
        loaded_gpu_layers=loaded,
        total_layers=total,
        load_notes=result.load_notes,
        fewer_layers=loaded is not None and 0 <= loaded < total and result.error is None,
        predicted_mib=_mib(result.plan.predicted_vram_bytes) or 0.0,
        measured_mib=_mib(_measured(result, "after_load")),
        error=result.error,
    )


def fallback_check(
    name: str, path: Path, info_json: Path, info: GgufInfo, ctx: int, dry_run: bool
) -> FallbackResult:
    """Free VRAM between one layer's and all layers' need: "auto" must plan fewer layers,
    and forcing all of them must end loaded with fewer (the engine's retries), not crashed."""
    total = info.n_layers + 1
    full = estimate_vram_bytes(info, total, ctx)
    one = estimate_vram_bytes(info, 1, ctx)
    target = DEFAULT_SAFETY_MARGIN_BYTES + (full + one) // 2
    with held_free(target, dry_run) as env:
        free_now = read_vram_free(env)
        auto = load_child(path, info_json, ctx, "auto", env)
        forced = load_child(path, info_json, ctx, "-1", env)
    return FallbackResult(
        model=name,
        n_ctx=ctx,
        full_need_mib=_mib(full) or 0.0,
        margin_mib=_mib(DEFAULT_SAFETY_MARGIN_BYTES) or 0.0,
        held_free_mib=_mib(free_now) or 0.0,
        auto=_case("auto", info, auto),
        forced_all=_case("all (-1)", info, forced),
    )


def read_vram_free(env: dict[str, str]) -> int | None:
    """Free bytes on GPU 0 as a child would see them (the dry run's figure comes from env)."""
    if FAKE_ENV in env:
        return FakeGpu.model_validate_json(env[FAKE_ENV]).free_bytes
    gpus = probe_gpus().gpus
    return gpus[0].free_bytes if gpus else None
