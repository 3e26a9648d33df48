"""`codehearth models`: presence, size, quantisation and GPU fit of every manifest entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codehearth import cli
from codehearth.models import listing
from codehearth.models.listing import ModelsReport, models_report, print_models
from codehearth.models.manifest import load_manifest

from .conftest import SMOLLM2
from .fixtures.tiny_gguf import write_tiny_gguf
from .test_models_choose import (
    BIG_GPU,
    NO_GPU,
    TINY_MODEL,
    isolated_env,
    smollm2_partial_gpu,
    write_manifest,
)

__all__ = ["isolated_env"]  # the autouse fixture: empty HF cache, no CODEHEARTH_MANIFEST

HUB_REPO = "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF"
HUB_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def cache_hub_file(cache: Path, repo: str, filename: str) -> Path:
    """Lay out a file in the HF cache the way hf_hub_download leaves it."""
    storage = cache / ("models--" + repo.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(commit)
    target = storage / "snapshots" / commit / filename
    target.parent.mkdir(parents=True)
    return write_tiny_gguf(target, "qwen2.5-coder")


def rows(report: ModelsReport) -> dict[str, listing.ModelRow]:
    return {row.name: row for row in report.models}


@pytest.mark.parametrize(
    ("gpus", "supported", "fit", "detail"),
    [
        pytest.param(NO_GPU, False, "cpu", "CPU (this llama.cpp build has no GPU", id="no-gpu"),
        pytest.param(NO_GPU, True, "cpu", "CPU (no NVIDIA GPU found: NVML library", id="no-nvml"),
        pytest.param(BIG_GPU, True, "full", "31/31 layers on GPU 0", id="big-gpu"),
        pytest.param("partial", True, "partial", "/31 layers on GPU 0", id="small-gpu"),
        pytest.param(BIG_GPU, False, "cpu", "CPU-only build", id="cpu-only-build"),
    ],
)
def test_fit_of_the_present_default(gpus, supported: bool, fit: str, detail: str) -> None:
    status = smollm2_partial_gpu() if gpus == "partial" else gpus
    report = models_report(load_manifest(), status, supported)
    smol = rows(report)["smollm2-135m"]
    assert (smol.present, smol.fit, smol.quantization, smol.quantization_from) == (
        True,
        fit,
        "Q4_1",
        "gguf",
    )
    assert detail in smol.fit_detail
    assert smol.size_bytes == SMOLLM2.stat().st_size
    assert smol.default_for == ["completion", "chat"]
    assert smol.plan is not None and smol.plan.fit == fit


def test_missing_hub_models_are_unknown_not_errors() -> None:
    report = models_report(load_manifest(), BIG_GPU, True)
    qwen = rows(report)["qwen2.5-coder-7b"]
    assert not qwen.present and qwen.size_bytes is None and qwen.plan is None
    assert (qwen.fit, qwen.fit_detail) == ("unknown", "not downloaded")
    assert (qwen.quantization, qwen.quantization_from) == ("Q4_K_M", "file name")
    assert (
        qwen.source
        == "hf:Qwen/Qwen2.5-Coder-7B-Instruct-GGUF/qwen2.5-coder-7b-instruct-q4_k_m.gguf"
    )
    text = listing.format_models(report)
    assert "unknown (not downloaded)" in text
    assert "Download a Hub model with `codehearth pull NAME`." in text
    assert "! " not in text  # a not-yet-downloaded Hub model is not a problem


def test_downloaded_hub_model_is_found_in_the_cache(tmp_path: Path) -> None:
    cached = cache_hub_file(tmp_path / "hf-cache", HUB_REPO, HUB_FILE)
    qwen = rows(models_report(load_manifest(), BIG_GPU, True))["qwen2.5-coder-1.5b"]
    assert qwen.present and qwen.path == str(cached)
    assert (qwen.quantization, qwen.quantization_from, qwen.fit) == ("F32", "gguf", "full")


def test_user_manifest_path_models(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    write_tiny_gguf(tmp_path / "models" / "tiny-coder.gguf", "qwen2.5-coder")
    (tmp_path / "junk.gguf").write_bytes(b"<html>404</html>")
    manifest_path = write_manifest(
        tmp_path,
        TINY_MODEL
        + '\n[models.gone]\npath = "nowhere/gone-Q8_0.gguf"\n'
        + '\n[models.junk]\npath = "junk.gguf"\n',
    )
    report = models_report(load_manifest(manifest_path), NO_GPU, False)
    by_name = rows(report)
    tiny = by_name["tiny-coder"]
    assert tiny.present and tiny.fit == "cpu" and tiny.quantization == "F32"
    assert tiny.source == "path:models/tiny-coder.gguf" and tiny.default_for == []
    gone, junk = by_name["gone"], by_name["junk"]
    assert (gone.present, gone.fit_detail, gone.quantization) == (False, "file missing", "Q8_0")
    assert (junk.present, junk.fit, junk.fit_detail) == (True, "unknown", "unreadable GGUF")
    text = listing.format_models(report)
    assert f"! model 'gone': file {str(tmp_path / 'nowhere' / 'gone-Q8_0.gguf')!r}" in text
    assert "! " + str(tmp_path / "junk.gguf") + ": not a GGUF file" in text
    assert str(manifest_path) in text


@pytest.fixture
def fake_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """print_models probes for itself: answer for NVML and llama.cpp in listing's namespace."""
    monkeypatch.setattr(listing, "probe_gpus", lambda: BIG_GPU)
    monkeypatch.setattr(listing, "gpu_offload_supported", lambda: True)


def test_print_models_json_parses(fake_machine: None, capsys: pytest.CaptureFixture) -> None:
    assert print_models(None, as_json=True) == 0
    out = capsys.readouterr().out
    payload = json.loads(out)
    assert payload["gpu"] == {
        "nvml_available": True,
        "reason": None,
        "gpus": ["GPU 0: RTX 4090"],
        "gpu_offload_supported": True,
    }
    report = ModelsReport.model_validate_json(out)
    assert rows(report)["smollm2-135m"].fit == "full"


def test_print_models_table(fake_machine: None, capsys: pytest.CaptureFixture) -> None:
    assert print_models(None) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "ROLES", "STATE", "SIZE", "QUANT", "FIT", "SOURCE"]
    smol = next(line for line in lines if "smollm2-135m" in line)
    assert smol.startswith("* smollm2-135m")
    assert smol.split()[3:7] == ["present", "94", "MiB", "Q4_1"]
    assert " full " in smol
    assert "GPUs: GPU 0: RTX 4090; llama.cpp can offload to a GPU." in lines


def test_manifest_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = write_manifest(tmp_path, "[models.x]\nrepo = 1\n")
    assert print_models(str(bad)) == 2
    assert str(bad) in capsys.readouterr().err


def test_cli_entry_in_process(fake_machine: None, tmp_path: Path, capsys) -> None:
    (tmp_path / "models").mkdir()
    write_tiny_gguf(tmp_path / "models" / "tiny-coder.gguf", "qwen2.5-coder")
    manifest_path = write_manifest(tmp_path, TINY_MODEL)
    assert cli.main(["models", "--json", "--manifest", str(manifest_path)]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)["models"]]
    assert names[0] == "smollm2-135m" and names[-1] == "tiny-coder"


def test_installed_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("codehearth")
    if not script.exists():
        pytest.skip("codehearth console script is not installed next to this Python")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env.pop("CODEHEARTH_MANIFEST", None)
    done = subprocess.run(
        [str(script), "models", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = ModelsReport.model_validate_json(done.stdout)
    assert rows(report)["smollm2-135m"].present


@pytest.mark.parametrize(
    ("file", "quant"),
    [
        ("qwen2.5-coder-7b-instruct-q4_k_m.gguf", "Q4_K_M"),
        ("deepseek-coder-1.3b-base.Q4_K_M.gguf", "Q4_K_M"),
        ("model-IQ4_XS.gguf", "IQ4_XS"),
        ("codegemma-2b-f16.gguf", "F16"),
        ("starcoder2-3b.gguf", None),
    ],
)
def test_quantisation_guessed_from_file_name(file: str, quant: str | None) -> None:
    entry = load_manifest().models["starcoder2-3b"].model_copy(update={"file": file})
    assert listing._quant_from_name(entry) == quant
