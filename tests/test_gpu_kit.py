"""The GPU verification kit without a GPU: its CPU dry run end to end (NVML faked, as in the
planner tests), and the pieces a GPU run relies on: the sdist trim rules, the carried
requirements, and the test models' shapes and quantisation as llama.cpp and the planner
read them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import llama_cpp
import pytest
from benchmarks.gpu.ggufgen import SHAPES, ModelShape, tensor_type, write_model
from benchmarks.gpu.prepare import (
    DATA_WHEEL_BYTES,
    NOT_CARRIED,
    carried_requirements,
    drop_wheels,
    keep_in_sdist,
)

from codehearth.models.gguf_info import read_gguf_info

ROOT = Path(__file__).resolve().parent.parent
STEPS = ["machine", "models", "vram", "status", "fallback", "tokens", "replay"]


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("gpukit") / "out"
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("CODEHEARTH_GPUKIT_FAKE_GPU", None)
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks/gpu/run.sh"), "--cpu-dry-run", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return json.loads((out / "report.json").read_text()), (out / "report.txt").read_text()


def test_dry_run_runs_every_step(dry_run: tuple[dict, str]) -> None:
    report, text = dry_run
    assert report["dry_run"] is True
    assert [s["name"] for s in report["steps"]] == STEPS
    assert all(s["ok"] for s in report["steps"]), report["steps"]
    assert report["machine"]["gpu_offload"] is True  # the fake says so
    assert "CPU DRY RUN" in text and "VRAM: planner prediction" in text
    assert "Load fallback" in text and "FAILED" not in text


def test_dry_run_vram_rows_compare_prediction_with_nvml(dry_run: tuple[dict, str]) -> None:
    report, _ = dry_run
    rows = report["vram"]
    assert {(r["model"], r["mode"]) for r in rows} == {
        (m, mode) for m in ("1.5b-dry", "7b-dry") for mode in ("full", "partial")
    }
    for row in rows:
        assert row["error"] is None
        assert row["predicted_mib"] > 0
        assert row["error_mib"] == pytest.approx(
            row["measured_mib"] - row["predicted_mib"], abs=0.2
        )
        assert row["process_mib"] == 1024.0  # what the fake attributes to the process
        if row["mode"] == "full":
            assert row["loaded_gpu_layers"] == row["total_layers"]
        else:
            assert 0 < row["loaded_gpu_layers"] < row["total_layers"]


def test_dry_run_status_push_is_paired_with_nvml(dry_run: tuple[dict, str]) -> None:
    status = dry_run[0]["status"]
    assert status["gpu_samples"] >= 3
    assert status["vram_missing_on_gpu"] == 0
    pushes = [s for s in status["samples"] if s["source"] == "push"]
    assert pushes, "no codehearth/status push arrived"
    with_vram = [s for s in status["samples"] if s["status_gpu_used_mib"] is not None]
    assert all(s["nvml_gpu_used_mib"] is not None for s in with_vram)
    assert status["max_process_diff_mib"] == 0.0  # one fake card, read by both sides


def test_dry_run_speed_and_fallback(dry_run: tuple[dict, str]) -> None:
    report, _ = dry_run
    replay = report["replay"]
    # Six characters from line 10 of tests/data/inventory.py, on to the end of that line.
    assert replay["gpu"]["keystrokes"] == replay["cpu"]["keystrokes"] == len("    name: str")
    assert replay["gpu"]["p50_ms"]["median"] > 0 and replay["cpu"]["p50_ms"]["median"] > 0
    assert replay["gpu"]["model"] == "gpukit-gpu" and replay["cpu"]["model"] == "gpukit-cpu"
    tokens = report["tokens"]
    assert tokens["gpu"]["n_gpu_layers"] == -1 and tokens["cpu"]["n_gpu_layers"] == 0
    assert tokens["cpu"]["generated_tokens"] == 8 and tokens["cpu"]["generate_tok_s_median"] > 0
    auto = report["fallback"]["auto"]
    assert auto["fewer_layers"] is True
    assert 0 < auto["plan_layers"] < auto["total_layers"]
    assert auto["free_mib"] == report["fallback"]["held_free_mib"]


def test_trimmed_sdist_keeps_the_cuda_build_and_drops_the_rest() -> None:
    kept = [
        "CMakeLists.txt", "pyproject.toml", "llama_cpp/llama.py",
        "vendor/llama.cpp/ggml/src/ggml-cuda/mmq.cuh",
        "vendor/llama.cpp/ggml/src/ggml-cuda/template-instances/mmq-instance-q4_k.cu",
        "vendor/llama.cpp/ggml/src/ggml-cpu/ggml-cpu.c", "vendor/llama.cpp/src/llama.cpp",
        "vendor/llama.cpp/tools/mtmd/clip.cpp", "vendor/llama.cpp/vendor/nlohmann/json.hpp",
    ]  # fmt: skip
    dropped = [
        "vendor/llama.cpp/models/ggml-vocab-llama-bpe.gguf", "vendor/llama.cpp/docs/build.md",
        "vendor/llama.cpp/tests/test-backend-ops.cpp", "vendor/llama.cpp/tools/server/server.cpp",
        "vendor/llama.cpp/ggml/src/ggml-vulkan/ggml-vulkan.cpp",
        "vendor/llama.cpp/ggml/src/ggml-hip/CMakeLists.txt", "tests/test_llama.py",
        "docs/index.md", "examples/high_level_api/fastapi_server.py",
    ]  # fmt: skip
    assert [p for p in kept if not keep_in_sdist(p)] == []
    assert [p for p in dropped if keep_in_sdist(p)] == []


def test_carried_requirements_leave_out_only_what_is_built_or_unused() -> None:
    reqs = carried_requirements({"project": {"dependencies": ["numpy>=1.20.0", "diskcache"]}})
    names = {r.split(">")[0].split("<")[0].split("=")[0].strip().lower() for r in reqs}
    assert not names & set(NOT_CARRIED)
    assert {"pydantic", "pygls", "gguf", "nvidia-ml-py", "numpy", "scikit-build-core"} <= names


def test_model_packages_and_named_wheels_are_left_out(tmp_path: Path) -> None:
    sizes = {
        "some_weights_part1-1.0.0-py3-none-any.whl": DATA_WHEEL_BYTES + 1,
        "numpy-2.5.5-cp312-cp312-manylinux_2_28_x86_64.whl": DATA_WHEEL_BYTES + 1,
        "hf_xet-1.8.0-cp38-abi3-manylinux2014_x86_64.whl": 1000,
        "pydantic-2.14.4-py3-none-any.whl": 1000,
    }
    for name, size in sizes.items():
        with (tmp_path / name).open("wb") as f:
            f.truncate(size)
    not_carried: dict[str, str] = {}
    drop_wheels(tmp_path, ["hf-xet"], not_carried)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "numpy-2.5.5-cp312-cp312-manylinux_2_28_x86_64.whl",  # big, but code
        "pydantic-2.14.4-py3-none-any.whl",
    ]
    assert set(not_carried) == {"some-weights-part1", "hf-xet"}


def test_q4_k_m_recipe_matches_llama_cpp() -> None:
    shape = SHAPES["7b"]
    assert tensor_type("output.weight", None, shape, "Q4_K_M").name == "Q6_K"
    assert tensor_type("token_embd.weight", None, shape, "Q4_K_M").name == "Q4_K"
    tied = SHAPES["1.5b"]
    assert tensor_type("token_embd.weight", None, tied, "Q4_K_M").name == "Q6_K"
    # llama.cpp's use_more_bits for 28 layers: 0-2, 24-27 and every third from 5.
    more = [
        i for i in range(28)
        if tensor_type(f"blk.{i}.ffn_down.weight", i, shape, "Q4_K_M").name == "Q6_K"
    ]  # fmt: skip
    assert more == [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27]
    assert tensor_type("blk.3.ffn_up.weight", 3, shape, "Q4_K_M").name == "Q4_K"
    assert tensor_type("blk.3.ffn_up.weight", 3, shape, "Q8_0").name == "Q8_0"


@pytest.mark.parametrize("quant", ["Q4_K_M", "Q8_0", "F16"])
def test_written_model_loads_and_reads_back_with_its_shape(tmp_path: Path, quant: str) -> None:
    shape = ModelShape(
        name="probe", n_layer=3, n_embd=256, n_head=4, n_head_kv=2, n_ff=512, n_vocab=700,
        context=4096, tied=quant == "Q4_K_M",
    )  # fmt: skip
    path = write_model(tmp_path / f"m-{quant}.gguf", shape, quant)  # type: ignore[arg-type]
    info = read_gguf_info(path)
    assert (info.architecture, info.n_layers, info.n_embd) == ("qwen2", 3, 256)
    assert (info.n_head, info.n_head_kv, info.vocab_size) == (4, 2, 700)
    assert info.file_type == quant and info.tied_embeddings is (quant == "Q4_K_M")
    assert set(info.fim_tokens) >= {"prefix", "suffix", "middle"}
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, verbose=False)
    try:
        tokens = llm.tokenize(b"def f(a, b):\n    return a + b\n", add_bos=False)
        out = []
        for token in llm.generate(tokens, temp=0.0):
            out.append(token)
            if len(out) == 4:
                break
        assert len(out) == 4 and all(0 <= t < 700 for t in out)
    finally:
        llm.close()
