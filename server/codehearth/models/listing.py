"""`codehearth models`: the manifest's entries, which files are here, and how they would run.

Nothing here touches the network: Hub models are looked up in the local HF cache
only. For a present file the GGUF header gives the quantisation and the offload
planner says whether the model fits this machine's GPU; a model that is not
downloaded cannot be planned (its layer sizes are unknown until it is).
"""

from __future__ import annotations

import re
import sys
from typing import Literal

from pydantic import BaseModel

from codehearth.gpu.nvml import NvmlStatus, probe_gpus
from codehearth.gpu.planner import MIB, OffloadPlan

from .choose import gpu_offload_supported, inspect_local, plan_entry
from .manifest import Defaults, Manifest, ManifestError, ModelEntry, Role, load_manifest

Fit = Literal["full", "partial", "cpu", "unknown", "remote"]

# Quantisation names as they appear in GGUF file names (q4_k_m, Q8_0, IQ4_XS, f16, ...).
_QUANT_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d+(?:_[A-Z0-9]+)*|F16|BF16|F32)(?![A-Za-z0-9])", re.IGNORECASE
)


class ModelRow(BaseModel):
    """One manifest entry as `codehearth models` reports it."""

    name: str
    roles: list[Role]
    default_for: list[Role]
    context: int
    source: str
    present: bool
    path: str | None
    size_bytes: int | None
    quantization: str | None
    # "gguf" when read from the file, "file name" when guessed for a file not downloaded.
    quantization_from: Literal["gguf", "file name"] | None
    fit: Fit
    fit_detail: str
    plan: OffloadPlan | None
    problem: str | None


class GpuSummary(BaseModel):
    nvml_available: bool
    reason: str | None
    gpus: list[str]
    gpu_offload_supported: bool


class ModelsReport(BaseModel):
    defaults: Defaults
    sources: list[str]
    gpu: GpuSummary
    models: list[ModelRow]


def source_label(entry: ModelEntry) -> str:
    if entry.source_kind == "remote":
        return f"remote:{entry.base_url} ({entry.remote_model or entry.name})"
    if entry.source_kind == "hub":
        return f"hf:{entry.repo}/{entry.file or entry.quant}"
    if entry.source_kind == "package":
        return f"package:{entry.package}/{entry.file}"
    return f"path:{entry.path}"


def describe_model(
    entry: ModelEntry, defaults: Defaults, gpus: NvmlStatus, gpu_supported: bool
) -> ModelRow:
    if entry.source_kind == "remote":
        return _remote_row(entry, defaults)
    local = inspect_local(entry)
    default_for: list[Role] = [
        role for role, name in (("completion", defaults.completion), ("chat", defaults.chat))
        if name == entry.name
    ]  # fmt: skip
    row = ModelRow(
        name=entry.name,
        roles=entry.roles,
        default_for=default_for,
        context=entry.context,
        source=source_label(entry),
        present=not local.missing,
        path=local.path,
        size_bytes=local.size_bytes,
        quantization=None,
        quantization_from=None,
        fit="unknown",
        fit_detail="",
        plan=None,
        problem=local.problem,
    )
    if local.info is not None:
        row.quantization, row.quantization_from = local.info.file_type, "gguf"
        row.plan = plan_entry(entry, local.info, gpus, gpu_supported)
        row.fit, row.fit_detail = row.plan.fit, row.plan.summary()
        return row
    guess = _quant_from_name(entry)
    if guess:
        row.quantization, row.quantization_from = guess, "file name"
    if local.missing:
        row.fit_detail = "not downloaded" if entry.source_kind == "hub" else "file missing"
    else:
        row.fit_detail = "unreadable GGUF"
    return row


def _remote_row(entry: ModelEntry, defaults: Defaults) -> ModelRow:
    """A remote model has no file to inspect; `models` never contacts the engine
    (`codehearth doctor` does)."""
    default_for: list[Role] = [
        role for role, name in (("completion", defaults.completion), ("chat", defaults.chat))
        if name == entry.name
    ]  # fmt: skip
    return ModelRow(
        name=entry.name, roles=entry.roles, default_for=default_for, context=entry.context,
        source=source_label(entry), present=True, path=None, size_bytes=None,
        quantization=None, quantization_from=None, fit="remote",
        fit_detail=f"runs on {entry.base_url}", plan=None, problem=None,
    )  # fmt: skip


def models_report(
    manifest: Manifest, gpus: NvmlStatus | None = None, gpu_supported: bool | None = None
) -> ModelsReport:
    """Describe every manifest entry; probes NVML and llama.cpp unless told the answers."""
    gpus = probe_gpus() if gpus is None else gpus
    gpu_supported = gpu_offload_supported() if gpu_supported is None else gpu_supported
    return ModelsReport(
        defaults=manifest.defaults,
        sources=manifest.sources,
        gpu=GpuSummary(
            nvml_available=gpus.available,
            reason=gpus.reason,
            gpus=[f"GPU {g.index}: {g.name}" for g in gpus.gpus],
            gpu_offload_supported=gpu_supported,
        ),
        models=[
            describe_model(entry, manifest.defaults, gpus, gpu_supported)
            for entry in manifest.models.values()
        ],
    )


def print_models(manifest_path: str | None, as_json: bool = False) -> int:
    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        print(f"codehearth: {exc}", file=sys.stderr)
        return 2
    report = models_report(manifest)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print(format_models(report))
    return 0


def format_models(report: ModelsReport) -> str:
    header = ("  NAME", "ROLES", "STATE", "SIZE", "QUANT", "FIT", "SOURCE")
    table = [header] + [_cells(row) for row in report.models]
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in table
    ]
    lines.append("")
    legend = "* = default"
    if any(row.quantization_from == "file name" for row in report.models):
        legend += ", ? = quantisation guessed from the file name"
    lines.append(f"{legend}.")
    lines.append(_machine_line(report.gpu))
    for row in report.models:
        # A missing Hub model is normal (pull on demand); anything else needs attention.
        if row.problem and row.fit_detail != "not downloaded":
            lines.append(f"! {row.problem}")
    if any(row.fit_detail == "not downloaded" for row in report.models):
        lines.append("Download a Hub model with `codehearth pull NAME`.")
    lines.append("Manifests: " + ", ".join(report.sources))
    return "\n".join(lines)


def _cells(row: ModelRow) -> tuple[str, ...]:
    size = _size(row.size_bytes) if row.size_bytes is not None else "-"
    quant = row.quantization or "-"
    if row.quantization_from == "file name":
        quant += "?"
    if row.fit == "unknown":
        fit = f"unknown ({row.fit_detail})"
    elif row.plan is not None and row.fit == "partial":
        fit = f"partial {row.plan.n_gpu_layers}/{row.plan.n_layers + 1}"
    else:
        fit = row.fit
    if row.plan is not None and not row.plan.likely_fits:
        fit += " (likely does NOT fit)"
    state = "present" if row.present else "missing"
    name = ("* " if row.default_for else "  ") + row.name
    return (name, ",".join(row.roles), state, size, quant, fit, row.source)


def _machine_line(gpu: GpuSummary) -> str:
    if gpu.gpus:
        where = "GPUs: " + "; ".join(gpu.gpus)
    else:
        where = f"No NVIDIA GPU: {gpu.reason or 'none found'}"
    if gpu.gpu_offload_supported:
        build = "llama.cpp can offload to a GPU"
    else:
        build = "llama.cpp is a CPU-only build"
    return f"{where}; {build}."


def _quant_from_name(entry: ModelEntry) -> str | None:
    if entry.quant:
        return entry.quant.upper()
    name = entry.file or entry.path or ""
    stem = name.rsplit("/", 1)[-1].removesuffix(".gguf")
    found = _QUANT_IN_NAME.findall(stem)
    return found[-1].upper() if found else None


def _size(n: int) -> str:
    return f"{n / MIB:.0f} MiB" if n < 10 * 1024 * MIB else f"{n / (1024 * MIB):.1f} GiB"
