"""`codehearth doctor`: machine facts, default-model plans, and problems with their fixes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import llama_cpp
import pynvml
import pytest

from codehearth import doctor
from codehearth.doctor import (
    CUDA_REINSTALL,
    DoctorReport,
    doctor_report,
    prediction_error,
    print_doctor,
    vram_check,
)
from codehearth.engine.build import summarize_system_info
from codehearth.gpu.nvml import NvmlStatus
from codehearth.gpu.planner import GIB, MIB, OffloadPlan

from .test_models_choose import (
    BIG_GPU,
    NO_GPU,
    TINY_MODEL,
    isolated_env,
    smollm2_partial_gpu,
    write_manifest,
)

__all__ = ["isolated_env"]  # the autouse fixture: empty HF cache, no CODEHEARTH_MANIFEST

DRIVER_MISMATCH = NvmlStatus(
    available=False, reason="NVIDIA driver/library version mismatch (reboot after a driver update?)"
)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """Set what NVML (in doctor's namespace) and the llama.cpp build report."""

    def set_machine(gpus: NvmlStatus, gpu_offload: bool) -> None:
        monkeypatch.setattr(doctor, "probe_gpus", lambda: gpus)
        monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: gpu_offload)

    return set_machine


def problems(report: DoctorReport) -> list[tuple[str, str, str]]:
    return [(p.severity, p.message, p.fix) for p in report.problems]


@pytest.mark.parametrize(
    ("gpus", "offload", "fit", "severities", "says"),
    [
        pytest.param(NO_GPU, False, "cpu", ["note"], "runs on the CPU. That is fine", id="no-gpu"),
        pytest.param(BIG_GPU, True, "full", [], "", id="big-gpu"),
        pytest.param("partial", True, "partial", ["note"], "more slowly", id="small-gpu"),
        pytest.param(BIG_GPU, False, "cpu", ["warning"], CUDA_REINSTALL, id="cpu-only-build"),
        pytest.param(DRIVER_MISMATCH, False, "cpu", ["warning"], "Reboot", id="driver-mismatch"),
        pytest.param(NO_GPU, True, "cpu", ["note"], "NVML sees no NVIDIA GPU", id="metal-like"),
    ],
)
def test_machines(machine, gpus, offload: bool, fit: str, severities, says: str) -> None:
    machine(smollm2_partial_gpu() if gpus == "partial" else gpus, offload)
    report = doctor_report(None)
    assert report.usable
    [check] = report.models
    assert (check.name, check.roles, check.present) == (
        "smollm2-135m",
        ["completion", "chat"],
        True,
    )
    assert check.plan is not None and check.plan.fit == fit
    assert check.summary == check.plan.summary()
    assert [p.severity for p in report.problems] == severities
    assert all(says in f"{p.message} {p.fix}" for p in report.problems)
    assert report.llama.importable and report.llama.version == llama_cpp.__version__
    assert report.manifest_sources == ["<default models.toml>"]


def test_big_gpu_auto_choice_and_status(machine, capsys: pytest.CaptureFixture) -> None:
    machine(BIG_GPU, True)
    assert print_doctor(None) == 0
    out = capsys.readouterr().out
    assert "GPU 0: RTX 4090: 24.0 GiB total, 23.6 free, 0.4 used" in out
    assert "driver: 550.54.15" in out
    assert "GPU offload: yes" in out
    assert 'model = "auto": chose gemma3-270m (full GPU offload' in out
    assert "Problems" not in out
    assert out.rstrip().endswith("Result: usable")


class FakePynvml:
    """libnvidia-ml behind pynvml's functions: one 8 GiB GPU."""

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in dir(self):
            if name.startswith("nvml"):
                monkeypatch.setattr(pynvml, name, getattr(self, name))

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlSystemGetDriverVersion(self) -> str:
        return "535.183.01"

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return 12020

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(total=8 * GIB, free=7 * GIB, used=1 * GIB)

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA GeForce RTX 3070"

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return "GPU-1234"


def test_gpu_at_the_pynvml_boundary_with_cpu_only_build(monkeypatch, capsys) -> None:
    FakePynvml().install(monkeypatch)
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: False)
    assert print_doctor(None) == 0  # CPU-only still works, just slower
    out = capsys.readouterr().out
    assert "driver: 535.183.01, CUDA 12.2" in out
    assert "GPU 0: NVIDIA GeForce RTX 3070: 8.0 GiB total, 7.0 free, 1.0 used" in out
    assert "warning: NVIDIA GPU found (NVIDIA GeForce RTX 3070) but the installed" in out
    assert f"fix: Reinstall it with CUDA (needs the CUDA toolkit's nvcc): {CUDA_REINSTALL}" in out


def test_no_driver_at_the_pynvml_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_library() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    report = doctor_report(None)
    assert report.usable and not report.nvml.available and report.nvml.gpus == []
    [problem] = report.problems
    assert problem.severity == "note" and "That is fine" in problem.message
    assert problem.fix.startswith("Nothing to do.")


def test_missing_hub_default_is_unusable(machine, tmp_path: Path, capsys) -> None:
    machine(NO_GPU, False)
    manifest = write_manifest(tmp_path, '[defaults]\ncompletion = "qwen2.5-coder-7b"\n')
    assert print_doctor(str(manifest)) == 1
    out = capsys.readouterr().out
    assert "completion: qwen2.5-coder-7b [MISSING]" in out
    assert "fix: Run `codehearth pull qwen2.5-coder-7b`" in out
    assert out.rstrip().endswith("NOT usable: the default completion model cannot run")
    report = doctor_report(str(manifest))
    assert [p.severity for p in report.problems] == ["error", "note"]  # errors first
    assert report.auto_completion is None


def test_missing_chat_default_is_only_a_warning(machine, tmp_path: Path) -> None:
    machine(NO_GPU, False)
    manifest = write_manifest(tmp_path, '[defaults]\nchat = "qwen2.5-coder-7b"\n')
    report = doctor_report(str(manifest))
    assert report.usable
    assert [(c.name, c.roles) for c in report.models] == [
        ("smollm2-135m", ["completion"]),
        ("qwen2.5-coder-7b", ["chat"]),
    ]
    assert report.problems[0].severity == "warning"
    assert "codehearth pull qwen2.5-coder-7b" in report.problems[0].fix


def test_path_models_missing_or_corrupt(machine, tmp_path: Path) -> None:
    machine(NO_GPU, False)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny-coder.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\0" * 8)
    manifest = write_manifest(tmp_path, '[defaults]\ncompletion = "tiny-coder"\n' + TINY_MODEL)
    report = doctor_report(str(manifest))
    assert not report.usable
    assert report.models[0].present and report.models[0].plan is None
    assert "truncated" in report.problems[0].message
    assert report.problems[0].fix.startswith("Replace the file with a complete GGUF")

    (tmp_path / "models" / "tiny-coder.gguf").unlink()
    report = doctor_report(str(manifest))
    assert not report.usable and not report.models[0].present
    assert "Put the GGUF file at 'models/tiny-coder.gguf'" in report.problems[0].fix


def test_manifest_error(machine, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    machine(NO_GPU, False)
    bad = write_manifest(tmp_path, "[models.x]\npath = 'a.gguf'\nroles = ['typing']\n")
    assert print_doctor(str(bad)) == 1
    report = doctor_report(str(bad))
    assert report.manifest_error and str(bad) in report.manifest_error
    assert report.problems[0].severity == "error"
    assert "models.x.roles.0" in report.problems[0].message


def test_llama_cpp_not_loadable(machine, monkeypatch: pytest.MonkeyPatch) -> None:
    machine(NO_GPU, False)
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    report = doctor_report(None)
    assert not report.usable and not report.llama.importable
    assert report.problems[0].severity == "error"
    assert "pip install --force-reinstall" in report.problems[0].fix


def test_json_output_parses(machine, capsys: pytest.CaptureFixture) -> None:
    machine(BIG_GPU, True)
    assert print_doctor(None, as_json=True) == 0
    out = capsys.readouterr().out
    payload = json.loads(out)
    assert payload["usable"] is True
    assert payload["nvml"]["gpus"][0]["name"] == "RTX 4090"
    assert payload["models"][0]["plan"]["fit"] == "full"
    assert DoctorReport.model_validate_json(out).models[0].name == "smollm2-135m"


def _plan(predicted: int) -> OffloadPlan:
    return OffloadPlan(
        model="m", file_type=None, n_layers=2, n_gpu_layers=3, gpu_index=0, gpu_name="g",
        fit="full", reason="r", predicted_vram_bytes=predicted, free_vram_bytes=GIB,
        total_vram_bytes=GIB, kv_bytes=0, n_ctx=512,
    )  # fmt: skip


def test_prediction_error() -> None:
    plan = _plan(1000 * MIB)
    assert prediction_error(plan, 800 * MIB) == pytest.approx(0.25)
    assert prediction_error(plan, 1250 * MIB) == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="positive"):
        prediction_error(plan, 0)
    check = vram_check(plan, {0: 600 * MIB, 1: 400 * MIB})
    assert check is not None and check.measured_bytes == 1000 * MIB and check.error == 0
    assert vram_check(plan, {}) is None  # NVML cannot see the process (container)


def test_measured_vram_in_report(machine, capsys: pytest.CaptureFixture) -> None:
    machine(BIG_GPU, True)
    report = doctor_report(None, measured_vram={0: 700 * MIB})
    vram = report.models[0].vram
    plan = report.models[0].plan
    assert vram is not None and plan is not None
    assert vram.error == pytest.approx(plan.predicted_vram_bytes / (700 * MIB) - 1)
    text = doctor.format_doctor(report)
    assert f"measured 0.7 GiB ({vram.error:+.0%})" in text


def test_summarize_system_info() -> None:
    raw = (
        b"CUDA : ARCHS = 890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | "
        b"CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 0 | LLAMAFILE = 1 | "
    )
    assert summarize_system_info(raw) == (
        "CUDA: ARCHS=890 USE_GRAPHS PEER_MAX_BATCH_SIZE=128; CPU: SSE3 AVX2 LLAMAFILE"
    )
    assert summarize_system_info(llama_cpp.llama_print_system_info()).startswith("CPU: ")
