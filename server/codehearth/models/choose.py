"""`model = "auto"`: pick the biggest downloaded model the GPU can hold entirely.

Only files already on this machine are considered (no network): a model that
would fit but is not downloaded is never chosen, since choosing it would fail
at load time. Partial offload is not good enough for "auto": with some layers
on the CPU, a larger model is usually slower per token than a smaller model
fully on the GPU, and inline completion lives on latency. When nothing larger
fits fully, the manifest's default for the role (the small, always-present one)
is used.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel

from codehearth.gpu.nvml import NvmlStatus
from codehearth.gpu.planner import GIB, OffloadPlan, plan_offload

from ..engine.build import llama_build
from .gguf_info import GgufError, GgufInfo, read_gguf_info
from .manifest import Manifest, ModelEntry, Role
from .resolve import ModelNotFound, resolve_model_path

log = logging.getLogger(__name__)


class LocalModel(BaseModel):
    """What is on disk for one manifest entry: its file, its GGUF facts, or why not."""

    name: str
    path: str | None = None
    size_bytes: int | None = None
    info: GgufInfo | None = None
    # Set when the file is absent (`missing`) or present but not a usable GGUF.
    problem: str | None = None
    missing: bool = False


def gpu_offload_supported() -> bool:
    """Whether the installed llama.cpp can offload to a GPU; False if it cannot even load."""
    return llama_build().gpu_offload


def inspect_local(entry: ModelEntry) -> LocalModel:
    """Resolve the entry's file locally and read its GGUF header (cached per path/mtime)."""
    try:
        path = resolve_model_path(entry)
    except ModelNotFound as exc:
        return LocalModel(name=entry.name, problem=str(exc), missing=True)
    local = LocalModel(name=entry.name, path=str(path), size_bytes=_size(path))
    try:
        local.info = read_gguf_info(path)
    except GgufError as exc:
        local.problem = str(exc)
    return local


def plan_entry(
    entry: ModelEntry, info: GgufInfo, gpus: NvmlStatus, gpu_supported: bool
) -> OffloadPlan:
    """The offload plan for an entry as the server would load it (its n_gpu_layers, context)."""
    return plan_offload(
        entry.name,
        info,
        entry.context,
        gpus,
        requested=entry.n_gpu_layers,
        gpu_supported=gpu_supported,
    )


def fits_fully(plan: OffloadPlan) -> bool:
    return plan.fit == "full" and plan.likely_fits


def choose_model(
    manifest: Manifest, role: Role, gpus: NvmlStatus, gpu_supported: bool
) -> tuple[ModelEntry, str]:
    """The entry to load for `model = "auto"`, and a one-line reason for the log/status.

    Raises ManifestError only when the manifest has no default for the role.
    """
    default = manifest.model_for(role)
    if not gpu_supported and gpus.available:
        return default, f"auto: llama.cpp is a CPU-only build, using default {default.name}"
    if not gpus.available or not gpus.gpus:
        why = f": {gpus.reason}" if gpus.reason else ""
        return default, f"auto: no GPU, using default {default.name}{why}"

    best: tuple[int, ModelEntry, OffloadPlan] | None = None
    # The default goes first so it wins a tie in size.
    entries = [default, *(e for e in manifest.models.values() if e.name != default.name)]
    for entry in entries:
        if role not in entry.roles and entry is not default:
            continue
        local = inspect_local(entry)
        if local.info is None:
            continue
        plan = plan_entry(entry, local.info, gpus, gpu_supported)
        if fits_fully(plan) and (best is None or local.info.file_size > best[0]):
            best = (local.info.file_size, entry, plan)

    if best is None:
        gpu = max(gpus.gpus, key=lambda g: (g.free_bytes, -g.index))
        return default, (
            f"auto: no downloaded {role} model fits fully on GPU {gpu.index} ({gpu.name}, "
            f"{_gib(gpu.free_bytes)} GiB free), using default {default.name}"
        )
    _, entry, plan = best
    return entry, (
        f"auto: chose {entry.name} (full GPU offload, {_gib(plan.predicted_vram_bytes)} of "
        f"{_gib(plan.free_vram_bytes or 0)} GiB free on GPU {plan.gpu_index})"
    )


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _gib(n: int) -> str:
    return f"{n / GIB:.1f}"
